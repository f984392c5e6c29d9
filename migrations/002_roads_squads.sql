-- Roads, squads (执法中队), their live positions (AVL) and H3 coverage by arrival time.
-- pgRouting is used only by benchmarks/eta.py (as a baseline); gridsvc routes in memory.
CREATE EXTENSION IF NOT EXISTS pgrouting;

-- One row per road import. Exactly one network is current; older rows keep their report
-- (their nodes and edges are deleted when replaced). cache_key names the compact CSR file
-- the ETA engine loads, fresh for every import.
CREATE TABLE road_networks (
    id                   bigserial PRIMARY KEY,
    cache_key            text NOT NULL UNIQUE,
    source_file          text NOT NULL,
    clip_jurisdiction_id bigint REFERENCES jurisdictions (id) ON DELETE SET NULL,
    node_count           integer NOT NULL,
    edge_count           integer NOT NULL,
    report               jsonb NOT NULL DEFAULT '{}'::jsonb,
    imported_at          timestamptz NOT NULL DEFAULT now(),
    is_current           boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX road_networks_one_current ON road_networks (is_current) WHERE is_current;

-- node: position 0..N-1 in the compact graph (what source/target refer to).
CREATE TABLE road_nodes (
    network_id bigint NOT NULL REFERENCES road_networks (id) ON DELETE CASCADE,
    node       integer NOT NULL,
    osm_id     bigint NOT NULL,
    geom       geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (network_id, node)
);

-- Directed edges: a two-way road is two rows. source/target/time_s are named and typed so
-- pgRouting can read the table as it is (cost = time_s, reverse_cost = -1).
CREATE TABLE road_edges (
    network_id   bigint NOT NULL REFERENCES road_networks (id) ON DELETE CASCADE,
    edge         integer NOT NULL,
    source       integer NOT NULL,
    target       integer NOT NULL,
    osm_way_id   bigint NOT NULL,
    highway      text NOT NULL,
    name         text,
    oneway       boolean NOT NULL,
    maxspeed_kmh real,                      -- the tagged limit, when usable
    speed_kmh    real NOT NULL,             -- effective average speed
    speed_source text NOT NULL CHECK (speed_source IN ('maxspeed', 'class', 'mixed')),
    urban        boolean NOT NULL,          -- urban slowdown applied
    length_m     double precision NOT NULL CHECK (length_m >= 0),
    time_s       double precision NOT NULL CHECK (time_s > 0),
    geom         geometry(LineString, 4326) NOT NULL,
    PRIMARY KEY (network_id, edge)
);
CREATE INDEX road_edges_geom_gist ON road_edges USING gist (geom);

-- Enforcement squads. station_rule records how the home station was placed:
-- 'given' (from an import file or the API), 'osm:fire_station' / 'osm:townhall' /
-- 'osm:police' (a real tagged building, osm id in station_source), or 'centroid_snapped'
-- (the municipality's centroid moved onto the nearest road).
CREATE TABLE squads (
    id              bigserial PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    name            text NOT NULL,
    name_zh         text,
    jurisdiction_id bigint REFERENCES jurisdictions (id) ON DELETE SET NULL,
    station         geometry(Point, 4326) NOT NULL,
    station_name    text,
    station_rule    text NOT NULL DEFAULT 'given'
                    CHECK (station_rule IN ('given', 'osm:fire_station', 'osm:townhall',
                                            'osm:police', 'centroid_snapped')),
    station_source  text,
    grid_codes      text[] NOT NULL DEFAULT '{}',   -- enforcement grids served
    size            integer CHECK (size IS NULL OR size >= 0),
    status          text NOT NULL DEFAULT 'available'
                    CHECK (status IN ('available', 'busy', 'off_duty')),
    phone           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX squads_station_gist ON squads USING gist (station);

-- AVL pings. observed_at is the device's time (clamped to received_at when it is ahead by
-- less than the allowed clock skew); applied is false for pings older than the squad's
-- latest one, which are kept for the track but never move the squad back.
CREATE TABLE squad_positions (
    id          bigserial PRIMARY KEY,
    squad_id    bigint NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    observed_at timestamptz NOT NULL,
    device_time timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    geom        geometry(Point, 4326) NOT NULL,
    source_crs  text NOT NULL,
    accuracy_m  real CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
    applied     boolean NOT NULL
);
CREATE INDEX squad_positions_latest ON squad_positions (squad_id, observed_at DESC)
    WHERE applied;

-- Arrival-time coverage: per H3 cell of a jurisdiction, the fastest squad from its home
-- station. One current run per jurisdiction; a run records what it was computed from so
-- that a refresh is skipped when nothing changed.
CREATE TABLE coverage_runs (
    id              bigserial PRIMARY KEY,
    jurisdiction_id bigint NOT NULL REFERENCES jurisdictions (id) ON DELETE CASCADE,
    network_id      bigint NOT NULL REFERENCES road_networks (id) ON DELETE CASCADE,
    signature       text NOT NULL,
    h3_resolution   smallint NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    is_current      boolean NOT NULL DEFAULT true,
    report          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX coverage_runs_one_current ON coverage_runs (jurisdiction_id)
    WHERE is_current;

CREATE TABLE coverage_cells (
    run_id     bigint NOT NULL REFERENCES coverage_runs (id) ON DELETE CASCADE,
    cell       bigint NOT NULL,
    squad_id   bigint REFERENCES squads (id) ON DELETE SET NULL,
    time_s     real NOT NULL,
    distance_m real NOT NULL,
    offroad_m  real NOT NULL,
    area_m2    real NOT NULL,
    centre     geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (run_id, cell)
);

-- Every app process reloads its road graph / squads when these change.
CREATE FUNCTION notify_roads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridsvc_roads', NEW.id::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER road_networks_notify AFTER INSERT OR UPDATE ON road_networks
    FOR EACH ROW EXECUTE FUNCTION notify_roads_changed();

CREATE FUNCTION notify_squads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'squad_positions' THEN
        PERFORM pg_notify('gridsvc_squads', 'position:' || NEW.squad_id::text);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('gridsvc_squads', 'squad:' || OLD.id::text);
    ELSE
        PERFORM pg_notify('gridsvc_squads', 'squad:' || NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER squads_notify AFTER INSERT OR UPDATE OR DELETE ON squads
    FOR EACH ROW EXECUTE FUNCTION notify_squads_changed();
CREATE TRIGGER squad_positions_notify AFTER INSERT ON squad_positions
    FOR EACH ROW EXECUTE FUNCTION notify_squads_changed();
