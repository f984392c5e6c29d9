"""SQL of the jurisdictions domain."""

UPSERT = """
INSERT INTO jurisdictions (code, name, name_zh, level, parent_id, boundary, timezone, source)
VALUES ($1, $2, $3, $4, (SELECT id FROM jurisdictions WHERE code = $5),
        ST_SetSRID($6::geometry, 4326), $7, $8)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, name_zh = EXCLUDED.name_zh, level = EXCLUDED.level,
    parent_id = EXCLUDED.parent_id, boundary = EXCLUDED.boundary,
    timezone = EXCLUDED.timezone, source = EXCLUDED.source
RETURNING id
"""

BY_CODE = """
SELECT j.id, j.code, j.name, j.name_zh, j.level, p.code AS parent_code, j.boundary, j.timezone,
       j.source
FROM jurisdictions j LEFT JOIN jurisdictions p ON p.id = j.parent_id
WHERE j.code = $1
"""

LIST = """
SELECT j.code, j.name, j.name_zh, j.level, p.code AS parent_code, j.timezone, j.source,
       ST_Area(j.boundary::geography) AS area_m2,
       (SELECT count(*) FROM layers l WHERE l.jurisdiction_id = j.id) AS layer_count
FROM jurisdictions j LEFT JOIN jurisdictions p ON p.id = j.parent_id
WHERE ($1::text IS NULL OR j.level = $1)
ORDER BY j.code
"""

# The jurisdictions that own grid layers (those events are routed in and figures kept for),
# counties first, for pickers.
WITH_LAYERS = """
SELECT j.code, coalesce(j.name_zh, j.name) AS name, j.level
FROM jurisdictions j
WHERE EXISTS (SELECT 1 FROM layers l WHERE l.jurisdiction_id = j.id)
ORDER BY (j.level = 'county') DESC, j.code
"""

# For finding the jurisdiction of a point in memory (the ETA state, per process).
BOUNDARIES = """
SELECT id, code, level, boundary FROM jurisdictions WHERE boundary IS NOT NULL ORDER BY id
"""
