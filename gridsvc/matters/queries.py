"""SQL of the matters domain. Values always travel as ``$n`` parameters."""

UPSERT_DEPARTMENT = """
INSERT INTO departments (code, name, name_zh) VALUES ($1, $2, $3)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_zh = EXCLUDED.name_zh
"""

DEPARTMENTS = "SELECT code, name, name_zh FROM departments ORDER BY code"

DEPARTMENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM departments WHERE code = $1)"

# The owner department derived by the keyword rules replaces the stored one unless a person
# set it (owner_department_manual). handling_level and auto_dispatch are never touched here.
UPSERT_MATTER = """
INSERT INTO matters (code, kind, major_code, major_name, minor_code, name, handling_unit,
                     supervising_department, owner_department, source, imported_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
ON CONFLICT (code) DO UPDATE SET
    kind = EXCLUDED.kind, major_code = EXCLUDED.major_code, major_name = EXCLUDED.major_name,
    minor_code = EXCLUDED.minor_code, name = EXCLUDED.name,
    handling_unit = EXCLUDED.handling_unit,
    supervising_department = EXCLUDED.supervising_department,
    owner_department = CASE WHEN matters.owner_department_manual THEN matters.owner_department
                            ELSE EXCLUDED.owner_department END,
    source = EXCLUDED.source, imported_at = now(), updated_at = now()
RETURNING (xmax = 0) AS inserted
"""

DELETE_CONDITIONS = "DELETE FROM matter_conditions WHERE matter_code = ANY($1::text[])"

INSERT_CONDITION = """
INSERT INTO matter_conditions (matter_code, position, filing_condition, closing_condition,
                               time_limit_text, limit_amount, limit_unit)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

MATTER = "SELECT m.* FROM matters m WHERE m.code = $1"

# q: a plain substring (no LIKE wildcards), case-insensitive.
MATTERS = """
SELECT m.* FROM matters m
WHERE ($1::text IS NULL OR m.kind = $1)
  AND ($2::text IS NULL
       OR strpos(lower(m.code || ' ' || m.name || ' ' || m.major_name), lower($2)) > 0
       OR EXISTS (SELECT 1 FROM matter_conditions c WHERE c.matter_code = m.code
                  AND strpos(lower(coalesce(c.filing_condition, '')), lower($2)) > 0))
ORDER BY m.kind, m.code
"""

CONDITIONS = """
SELECT matter_code, position, filing_condition, closing_condition, time_limit_text,
       limit_amount, limit_unit
FROM matter_conditions WHERE matter_code = ANY($1::text[])
ORDER BY matter_code, position
"""

UPDATE_MATTER = """
UPDATE matters SET
    auto_dispatch = coalesce($2, auto_dispatch),
    handling_level = coalesce($3, handling_level),
    owner_department = CASE WHEN $4 THEN $5 ELSE owner_department END,
    owner_department_manual = owner_department_manual OR $4,
    auto_merge = coalesce($6, auto_merge),
    related_matters = coalesce($7, related_matters),
    updated_at = now()
WHERE code = $1
RETURNING code
"""

COUNTS = """
SELECT m.kind, count(DISTINCT m.code) AS matters, count(c.position) AS conditions
FROM matters m LEFT JOIN matter_conditions c ON c.matter_code = m.code
GROUP BY m.kind ORDER BY m.kind
"""

MISSING_MATTERS = (
    "SELECT c FROM unnest($1::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM matters WHERE code = c)"
)
