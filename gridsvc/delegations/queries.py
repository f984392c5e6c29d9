"""SQL of the delegation lists (赋权事项清单). Values always travel as ``$n`` parameters."""

# The jurisdiction named like the enforcement code (a township), else the jurisdiction whose
# enforcement layer has a grid with that code (the county); NULL when neither exists.
TIMEZONE_FOR = """
SELECT coalesce(
    (SELECT timezone FROM jurisdictions WHERE code = $1),
    (SELECT j.timezone
     FROM grids g
     JOIN layer_versions v ON v.id = g.layer_version_id
     JOIN layers l ON l.id = v.layer_id AND l.kind = 'enforcement'
     JOIN jurisdictions j ON j.id = l.jurisdiction_id
     WHERE g.code = $1
     ORDER BY (v.valid_to IS NULL) DESC, v.valid_from DESC
     LIMIT 1))
"""

# One writer per township at a time: versions and effective dates are decided under it.
LOCK_TOWNSHIP = "SELECT pg_advisory_xact_lock(hashtextextended('gridsvc.delegations:' || $1, 0))"

LATEST = """
SELECT id, version, name, effective_from, effective_to
FROM delegation_lists WHERE enforcement_code = $1
ORDER BY version DESC LIMIT 1
"""

UNKNOWN_MATTERS = """
SELECT c.code FROM unnest($1::text[]) AS c (code)
WHERE NOT EXISTS (SELECT 1 FROM matters m WHERE m.code = c.code)
"""

CLOSE_LIST = "UPDATE delegation_lists SET effective_to = $2 WHERE id = $1"

INSERT_LIST = """
INSERT INTO delegation_lists (enforcement_code, version, name, effective_from, source)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""

INSERT_ITEMS = """
INSERT INTO delegation_items (list_id, matter_code)
SELECT $1, code FROM unnest($2::text[]) AS c (code)
"""

ITEM_CODES = "SELECT matter_code FROM delegation_items WHERE list_id = $1 ORDER BY matter_code"

IN_FORCE = """
SELECT l.id AS list_id, l.version, l.name, l.effective_from, l.effective_to,
       EXISTS (SELECT 1 FROM delegation_items i
               WHERE i.list_id = l.id AND i.matter_code = $2) AS delegated
FROM delegation_lists l
WHERE l.enforcement_code = $1 AND l.effective_from <= $3
  AND (l.effective_to IS NULL OR $3 < l.effective_to)
ORDER BY l.effective_from DESC
LIMIT 1
"""

VERSIONS = """
SELECT l.id, l.enforcement_code, l.version, l.name, l.effective_from, l.effective_to, l.source,
       l.created_at, (SELECT count(*) FROM delegation_items i WHERE i.list_id = l.id) AS items
FROM delegation_lists l
WHERE ($1::text IS NULL OR l.enforcement_code = $1)
ORDER BY l.enforcement_code, l.version
"""

LIST = """
SELECT l.id, l.enforcement_code, l.version, l.name, l.effective_from, l.effective_to, l.source,
       l.created_at, (SELECT count(*) FROM delegation_items i WHERE i.list_id = l.id) AS items
FROM delegation_lists l WHERE l.id = $1
"""

ITEMS = """
SELECT i.matter_code, m.kind, m.name, m.major_name, m.owner_department
FROM delegation_items i JOIN matters m ON m.code = i.matter_code
WHERE i.list_id = $1
ORDER BY i.matter_code
"""
