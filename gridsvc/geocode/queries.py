"""SQL of the geocoder's index tables (migrations/015_geocode.sql)."""

ENTRY_COLUMNS = (
    "build_id",
    "id",
    "kind",
    "name",
    "street",
    "housenumber",
    "postcode",
    "towns",
    "osm_id",
    "geom",
)

INSERT_BUILD = """
INSERT INTO geocode_builds (source, entries, report) VALUES ($1, $2, $3) RETURNING id
"""

# Serialises builds: the second waits, then replaces the first's result.
LOCK_BUILDS = "LOCK TABLE geocode_builds IN SHARE ROW EXCLUSIVE MODE"

RETIRE_CURRENT = """
UPDATE geocode_builds SET is_current = false WHERE is_current RETURNING id
"""

DELETE_BUILD_ENTRIES = "DELETE FROM geocode_entries WHERE build_id = ANY($1::bigint[])"

MAKE_CURRENT = "UPDATE geocode_builds SET is_current = true WHERE id = $1"

CURRENT_BUILD = """
SELECT id, source, built_at, entries, report FROM geocode_builds WHERE is_current
"""

BUILD_ENTRIES = """
SELECT kind, name, street, housenumber, postcode, towns, osm_id,
       ST_X(geom) AS lng, ST_Y(geom) AS lat
FROM geocode_entries WHERE build_id = $1 ORDER BY id
"""
