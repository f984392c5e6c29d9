-- The offline geocoder's index (issue 9 item 2): addresses, named streets, POIs, place and
-- division names of an OSM extract, with the towns each lies in. A build is written whole
-- and made current in one transaction; the previous build's entries are deleted then, so a
-- failed build leaves the current index in place. App processes keep the current build in
-- memory (rapidfuzz) and reload when the current build id changes.
CREATE TABLE geocode_builds (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,                     -- the extract (path) the build read
    built_at    timestamptz NOT NULL DEFAULT now(),
    entries     integer NOT NULL DEFAULT 0,
    report      jsonb NOT NULL DEFAULT '{}'::jsonb,  -- counts per kind, towns, skipped
    is_current  boolean NOT NULL DEFAULT false
);
-- At most one current build.
CREATE UNIQUE INDEX geocode_builds_one_current ON geocode_builds (is_current) WHERE is_current;

CREATE TABLE geocode_entries (
    build_id     bigint NOT NULL REFERENCES geocode_builds (id) ON DELETE CASCADE,
    id           integer NOT NULL,                  -- position within the build
    kind         text NOT NULL CHECK (kind IN ('address', 'street', 'poi', 'place', 'division')),
    name         text NOT NULL,                     -- as written in the data (shown to operators)
    street       text,                              -- address: addr:street
    housenumber  text,                              -- address: addr:housenumber
    postcode     text,
    towns        text[] NOT NULL DEFAULT '{}',      -- names of the towns/divisions it lies in
    osm_id       text,                              -- n123 / w456 / r789 (none for divisions)
    geom         geometry(Point, 4326) NOT NULL,    -- WGS84; a way or area: a point on it
    PRIMARY KEY (build_id, id)
);
