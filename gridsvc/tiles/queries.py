"""SQL of the base map. Values always travel as ``$n`` parameters.

One statement builds a whole tile: each layer is ``ST_AsMVT`` over its features clipped and
quantised by ``ST_AsMVTGeom`` to the ``ST_TileEnvelope`` of (z, x, y), with a buffer so that
lines and area edges join seamlessly across tiles; place labels have a wider buffer, so a
label near a tile edge is drawn by both neighbours and is not cut. Rows are filtered by
their import-time ``min_zoom`` and by the GiST index (``&&`` against the buffered envelope).
Geometries are stored in EPSG:3857, so nothing is transformed per request.
"""

EXTENT = 4096
BUFFER = 64  # in tile units (1/64 of a tile): wide enough for a road casing
LABEL_BUFFER = 512  # 1/8 of a tile: a place label up to ~32 px from the edge

# The current imports (one per jurisdiction with its own base map), as one version string.
CURRENT = "SELECT string_agg(id::text, '.' ORDER BY id) FROM basemap_imports WHERE is_current"

_LAYER = """
(SELECT coalesce(ST_AsMVT(t, '{name}', {extent}, 'geom'), ''::bytea) FROM (
    SELECT ST_AsMVTGeom(f.geom, e.box, {extent}, {buffer}, true) AS geom, {columns}
    FROM {table} f, e
    WHERE f.geom && {envelope} AND f.min_zoom <= $1
    ORDER BY {order}
) t WHERE t.geom IS NOT NULL)"""


def _layer(name: str, table: str, columns: str, order: str, *, buffer: int = BUFFER) -> str:
    envelope = "e.wide" if buffer == BUFFER else "e.label"
    return _LAYER.format(
        name=name,
        table=table,
        columns=columns,
        order=order,
        extent=EXTENT,
        buffer=buffer,
        envelope=envelope,
    )


_PLACE_COLUMNS = "f.class, f.name, f.name_zh, f.rank"
# Layers in drawing order: what is listed later is drawn on top.
TILE = f"""
WITH e AS (
    SELECT ST_TileEnvelope($1, $2, $3) AS box,
           ST_TileEnvelope($1, $2, $3, margin => {BUFFER / EXTENT}) AS wide,
           ST_TileEnvelope($1, $2, $3, margin => {LABEL_BUFFER / EXTENT}) AS label
)
SELECT {_layer("landuse", "basemap_landuse", "f.class", "f.id")}
    || {_layer("water", "basemap_water", "f.class, f.name", "f.id")}
    || {_layer("buildings", "basemap_buildings", "f.osm_id", "f.id")}
    || {_layer("roads", "basemap_roads", "f.class, f.name, f.name_zh", "f.min_zoom DESC, f.id")}
    || {_layer("places", "basemap_places", _PLACE_COLUMNS, "f.rank, f.id", buffer=LABEL_BUFFER)}
"""

# Serialise two imports of one jurisdiction's base map (its first has no row to lock).
LOCK_JURISDICTION = "SELECT pg_advisory_xact_lock(hashtext('gridsvc_basemap'), coalesce($1::bigint, 0)::int)"
INSERT_IMPORT = """
INSERT INTO basemap_imports (source_file, counts, jurisdiction_id) VALUES ($1, $2, $3) RETURNING id
"""
RETIRE_CURRENT = """
UPDATE basemap_imports SET is_current = false
WHERE is_current AND jurisdiction_id IS NOT DISTINCT FROM $1::bigint
RETURNING id
"""
MAKE_CURRENT = "UPDATE basemap_imports SET is_current = true WHERE id = $1"
JURISDICTION_ID = "SELECT id FROM jurisdictions WHERE code = $1"
# DELETE, not TRUNCATE: tile requests keep reading the old rows until the import commits;
# only the replaced import's rows go (other jurisdictions' stay).
CLEAR = [
    f"DELETE FROM {table} WHERE import_id = ANY ($1::bigint[])"  # noqa: S608 - constant names
    for table in ("basemap_roads", "basemap_buildings", "basemap_water", "basemap_landuse", "basemap_places")
]

COLUMNS = {
    "roads": ("basemap_roads", ["osm_id", "class", "name", "name_zh", "min_zoom", "geom"]),
    "buildings": ("basemap_buildings", ["osm_id", "min_zoom", "geom"]),
    "water": ("basemap_water", ["osm_id", "class", "name", "min_zoom", "geom"]),
    "landuse": ("basemap_landuse", ["osm_id", "class", "min_zoom", "geom"]),
    "places": ("basemap_places", ["osm_id", "class", "name", "name_zh", "rank", "min_zoom", "geom"]),
}

ANALYZE = "ANALYZE basemap_roads, basemap_buildings, basemap_water, basemap_landuse, basemap_places"

INFO = """
SELECT i.id, i.source_file, i.counts, i.imported_at,
       ST_Transform(ST_SetSRID((SELECT ST_Extent(geom) FROM basemap_roads), 3857), 4326) AS extent
FROM basemap_imports i WHERE i.is_current
ORDER BY i.id DESC
LIMIT 1
"""
