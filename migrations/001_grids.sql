-- Grid overlay: jurisdictions, versioned grid layers, and their H3 cell cover.
CREATE EXTENSION IF NOT EXISTS postgis;

-- City -> county -> township hierarchy. A city centre dispatches for several counties.
CREATE TABLE jurisdictions (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,            -- official division code (adcode) or a local code
    name        text NOT NULL,
    name_zh     text,
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township')),
    parent_id   bigint REFERENCES jurisdictions (id) ON DELETE RESTRICT,
    boundary    geometry(MultiPolygon, 4326),    -- WGS84, converted on import (GCJ-02 sources!)
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jurisdictions_boundary_gist ON jurisdictions USING gist (boundary);
CREATE INDEX jurisdictions_parent ON jurisdictions (parent_id);

-- A layer is one grid system of one jurisdiction: community, enforcement, zone (片区),
-- or specialist:<department>.
CREATE TABLE layers (
    id              bigserial PRIMARY KEY,
    jurisdiction_id bigint NOT NULL REFERENCES jurisdictions (id) ON DELETE CASCADE,
    name            text NOT NULL
                    CHECK (name ~ '^(community|enforcement|zone|specialist:[a-z0-9_-]+)$'),
    kind            text NOT NULL CHECK (kind IN ('community', 'enforcement', 'zone', 'specialist')),
    department      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (jurisdiction_id, name)
);

-- Grids get redrawn: every import is a new version; the old one keeps its validity period
-- so that old events can still explain where they were routed.
CREATE TABLE layer_versions (
    id            bigserial PRIMARY KEY,
    layer_id      bigint NOT NULL REFERENCES layers (id) ON DELETE CASCADE,
    version       integer NOT NULL,
    valid_from    timestamptz NOT NULL DEFAULT now(),
    valid_to      timestamptz,
    h3_resolution smallint NOT NULL CHECK (h3_resolution BETWEEN 0 AND 15),
    source_file   text,
    source_crs    text,
    report        jsonb NOT NULL DEFAULT '{}'::jsonb,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (layer_id, version),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX layer_versions_one_current ON layer_versions (layer_id) WHERE valid_to IS NULL;

CREATE TABLE grids (
    id                    bigserial PRIMARY KEY,
    layer_version_id      bigint NOT NULL REFERENCES layer_versions (id) ON DELETE CASCADE,
    code                  text NOT NULL,
    name                  text NOT NULL,
    name_zh               text,
    geom                  geometry(MultiPolygon, 4326) NOT NULL,
    area_m2               double precision NOT NULL,
    -- community grids: the grid head (网格长)
    head_name             text,
    head_phone            text,
    -- enforcement grids and zones: the squad (执法中队) that serves it
    squad_name            text,
    -- specialist grids: the department and its station
    department            text,
    station_name          text,
    -- community grids: the enforcement grid they belong to, by code, and how we know
    enforcement_code      text,
    enforcement_link      text CHECK (enforcement_link IN ('given', 'derived', 'ambiguous', 'missing')),
    properties            jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (layer_version_id, code)
);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);

-- The H3 cover of one layer version. Every cell of the jurisdiction (and of every grid) has a
-- row: grid_id set when the whole cell lies in exactly one grid; straddles when it crosses a
-- grid border (decided by an exact point-in-polygon test on candidate_grid_ids); neither when
-- no grid of the layer is there (explicitly nothing).
CREATE TABLE grid_cells (
    layer_version_id   bigint NOT NULL REFERENCES layer_versions (id) ON DELETE CASCADE,
    cell               bigint NOT NULL,
    grid_id            bigint REFERENCES grids (id) ON DELETE CASCADE,
    straddles          boolean NOT NULL,
    candidate_grid_ids bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (layer_version_id, cell),
    CHECK (NOT (straddles AND grid_id IS NOT NULL)),
    CHECK (straddles = (cardinality(candidate_grid_ids) > 0))
);
CREATE INDEX grid_cells_cell ON grid_cells (cell);

CREATE VIEW current_grids AS
SELECT g.*, l.name AS layer, l.kind, l.jurisdiction_id, v.version, v.valid_from, v.valid_to
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id;

-- Tells every app process to reload its in-memory overlay after an import commits.
CREATE FUNCTION notify_overlay_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridsvc_overlay', NEW.id::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER layer_versions_notify AFTER INSERT OR UPDATE ON layer_versions
    FOR EACH ROW EXECUTE FUNCTION notify_overlay_changed();
