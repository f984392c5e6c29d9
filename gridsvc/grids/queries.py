"""SQL of the grids domain. Values always travel as ``$n`` parameters."""

LOCK_LAYER = """
INSERT INTO layers (jurisdiction_id, name, kind, department)
VALUES ($1, $2, $3, $4)
ON CONFLICT (jurisdiction_id, name) DO UPDATE SET department = EXCLUDED.department
RETURNING id
"""

LOCK_LAYER_ROW = "SELECT id FROM layers WHERE id = $1 FOR UPDATE"

NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM layer_versions WHERE layer_id = $1"

CLOSE_CURRENT_VERSION = """
UPDATE layer_versions SET valid_to = $2
WHERE layer_id = $1 AND valid_to IS NULL
RETURNING id
"""

INSERT_VERSION = """
INSERT INTO layer_versions (layer_id, version, valid_from, h3_resolution, source_file,
                            source_crs, report)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""

SET_VERSION_REPORT = "UPDATE layer_versions SET report = $2 WHERE id = $1"

INSERT_GRID = """
INSERT INTO grids (layer_version_id, code, name, name_zh, geom, area_m2, head_name, head_phone,
                   squad_name, department, station_name, enforcement_code, enforcement_link,
                   properties)
VALUES ($1, $2, $3, $4, ST_SetSRID($5::geometry, 4326), $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING id
"""

CURRENT_LAYER_GRIDS = """
SELECT g.id, g.code, g.geom, g.enforcement_code, g.enforcement_link, g.area_m2
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id
WHERE l.jurisdiction_id = $1 AND l.name = $2
ORDER BY g.code
"""

OTHER_RESOLUTION = """
SELECT j.code, v.h3_resolution
FROM layer_versions v JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.name = $1 AND v.valid_to IS NULL AND v.h3_resolution <> $2 AND l.jurisdiction_id <> $3
LIMIT 1
"""

CURRENT_VERSION_OF = """
SELECT v.id FROM layer_versions v JOIN layers l ON l.id = v.layer_id
WHERE l.jurisdiction_id = $1 AND l.name = $2 AND v.valid_to IS NULL
"""

UPDATE_ENFORCEMENT_LINK = """
UPDATE grids SET enforcement_code = $2, enforcement_link = $3 WHERE id = $1
"""

# -- loading the overlay -------------------------------------------------------------

OVERLAY_VERSIONS = """
SELECT v.id AS version_id, v.h3_resolution, l.name AS layer, l.kind, l.department,
       j.code AS jurisdiction_code
FROM layer_versions v
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE v.valid_to IS NULL
ORDER BY l.name, j.code
"""

OVERLAY_GRIDS = """
SELECT g.id, g.layer_version_id, g.code, g.name, g.name_zh, g.geom, g.head_name, g.head_phone,
       g.squad_name, g.department, g.station_name, g.enforcement_code
FROM grids g
WHERE g.layer_version_id = ANY($1::bigint[])
ORDER BY g.layer_version_id, g.code
"""

OVERLAY_CELLS = """
SELECT layer_version_id, cell, grid_id, candidate_grid_ids
FROM grid_cells
WHERE layer_version_id = ANY($1::bigint[])
"""

OVERLAY_GENERATION = "SELECT coalesce(max(id), 0) FROM layer_versions"

# -- API -----------------------------------------------------------------------------

LIST_LAYERS = """
SELECT l.name, l.kind, l.department, j.code AS jurisdiction_code, j.name AS jurisdiction_name,
       v.version, v.valid_from, v.h3_resolution, v.source_file, v.source_crs,
       (SELECT count(*) FROM grids g WHERE g.layer_version_id = v.id) AS grid_count,
       (SELECT count(*) FROM grid_cells c WHERE c.layer_version_id = v.id) AS cell_count,
       (SELECT count(*) FROM grid_cells c WHERE c.layer_version_id = v.id AND c.straddles)
           AS straddling_cell_count
FROM layers l
JOIN jurisdictions j ON j.id = l.jurisdiction_id
JOIN layer_versions v ON v.layer_id = l.id AND v.valid_to IS NULL
ORDER BY j.code, l.name
"""

LAYER_VERSIONS = """
SELECT v.id, v.version, v.valid_from, v.valid_to, v.h3_resolution, v.source_file, v.source_crs,
       v.report, j.code AS jurisdiction_code,
       (SELECT count(*) FROM grids g WHERE g.layer_version_id = v.id) AS grid_count
FROM layer_versions v
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.name = $1
ORDER BY j.code, v.version
"""

# The version valid at $2 (a timestamp): valid_from <= $2 < valid_to (open-ended when current).
LAYER_GRIDS_AT = """
SELECT g.id, g.code, g.name, g.name_zh, g.geom, g.area_m2, g.head_name, g.head_phone,
       g.squad_name, g.department, g.station_name, g.enforcement_code, g.enforcement_link,
       l.name AS layer, j.code AS jurisdiction_code, v.version, v.valid_from, v.valid_to
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.name = $1
  AND v.valid_from <= $2 AND (v.valid_to IS NULL OR v.valid_to > $2)
  AND ($3::text IS NULL OR j.code = $3)
ORDER BY j.code, g.code
"""

GRID_BY_ID = """
SELECT g.id, g.code, g.name, g.name_zh, g.geom, g.area_m2, g.head_name, g.head_phone,
       g.squad_name, g.department, g.station_name, g.enforcement_code, g.enforcement_link,
       g.properties, l.name AS layer, j.code AS jurisdiction_code, v.version, v.valid_from,
       v.valid_to
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE g.id = $1
"""

# The naive baseline the benchmark compares against: a GiST-indexed ST_Contains per point.
NAIVE_LOOKUP = """
SELECT p.ordinality - 1 AS point, l.name AS layer, g.id AS grid_id
FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lng, lat, ordinality)
JOIN grids g ON ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326))
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id
"""
