"""SQL of the inspections domain ($n parameters only)."""

LIST_TARGETS = """
SELECT t.id, t.name, t.credit_code, t.address, t.type, t.grid_code,
       ST_X(t.point) AS lng, ST_Y(t.point) AS lat
FROM inspection_targets t
WHERE ($1::text IS NULL OR t.type = $1) AND ($2::text IS NULL OR t.grid_code = $2)
ORDER BY t.id LIMIT $3 OFFSET $4
"""

TARGET = """
SELECT t.id, t.name, t.credit_code, t.address, t.type, t.grid_code,
       ST_X(t.point) AS lng, ST_Y(t.point) AS lat
FROM inspection_targets t WHERE t.id = $1
"""

TARGET_BY_CODE = "SELECT id FROM inspection_targets WHERE credit_code = $1"

# Import and POST: one target per credit code (a re-import updates the record).
UPSERT_TARGET = """
INSERT INTO inspection_targets (credit_code, name, address, type, point, grid_code, updated_by)
VALUES ($1, $2, $3, $4, ST_SetSRID(ST_MakePoint($5, $6), 4326), $7, $8)
ON CONFLICT (credit_code) DO UPDATE SET
    name = EXCLUDED.name, address = EXCLUDED.address, type = EXCLUDED.type,
    point = EXCLUDED.point, grid_code = EXCLUDED.grid_code, updated_by = EXCLUDED.updated_by,
    updated_at = now()
RETURNING id, (xmax = 0) AS created
"""

UPDATE_TARGET = """
UPDATE inspection_targets SET credit_code = $2, name = $3, address = $4, type = $5,
    point = ST_SetSRID(ST_MakePoint($6, $7), 4326), grid_code = $8, updated_by = $9, updated_at = now()
WHERE id = $1
"""

# The target's community grid's jurisdiction: whose holiday calendar schedules its visits.
TARGET_PLACE = """
SELECT j.code, j.timezone
FROM inspection_targets t
JOIN grids g ON g.code = t.grid_code
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id AND l.name = 'community'
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE t.id = $1
LIMIT 1
"""

DEPARTMENT_EXISTS = "SELECT 1 FROM departments WHERE code = $1"

SET_MATTERS_DELETE = "DELETE FROM inspection_matters WHERE department = $1 AND target_type = $2"
SET_MATTERS_INSERT = """
INSERT INTO inspection_matters (department, target_type, matter_code)
SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING
"""
MATTERS = """
SELECT department, target_type, array_agg(matter_code ORDER BY matter_code) AS matter_codes
FROM inspection_matters
WHERE ($1::text IS NULL OR department = $1)
GROUP BY department, target_type ORDER BY department, target_type
"""
MATTERS_OF = """
SELECT matter_code FROM inspection_matters WHERE department = $1 AND target_type = $2
"""

# The joint visit of a target that the day can join: within the window of every inspection
# already in it (so a visit never spans more than the window, and weekly inspections do not
# chain into one visit). Callers hold the target's row lock (LOCK_TARGET).
JOINT_FOR = """
SELECT v.id
FROM joint_visits v JOIN inspections i ON i.joint_visit_id = v.id
WHERE v.target_id = $1
GROUP BY v.id
HAVING $2::date BETWEEN max(i.planned_on) - $3::int AND min(i.planned_on) + $3::int
ORDER BY abs($2::date - min(i.planned_on)), v.id
LIMIT 1
"""
NEW_JOINT = """
INSERT INTO joint_visits (target_id, lead_department, window_start, day)
VALUES ($1, $2, $3, $3) RETURNING id
"""
JOINT_MEMBERS = """
SELECT id, department, matter_codes, planned_on FROM inspections WHERE joint_visit_id = $1 ORDER BY id
"""
UPDATE_JOINT = "UPDATE joint_visits SET lead_department = $2, window_start = $3, day = $4 WHERE id = $1"
SET_SEQ = "UPDATE joint_visits SET seq = $2 WHERE id = $1"

NEW_INSPECTION = """
INSERT INTO inspections (target_id, department, matter_codes, planned_on, joint_visit_id, created_by)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""
INSPECTION = """
SELECT id, target_id, department, matter_codes, planned_on, joint_visit_id, result
FROM inspections WHERE id = $1
"""
LIST_INSPECTIONS = """
SELECT id, target_id, department, matter_codes, planned_on, joint_visit_id, result
FROM inspections
WHERE ($1::text IS NULL OR department = $1) AND planned_on BETWEEN $2 AND $3
ORDER BY planned_on, id
"""
SET_RESULT = "UPDATE inspections SET result = $2, done_at = $3 WHERE id = $1"

JOINT_VISITS = """
SELECT v.id, v.target_id, t.name AS target_name, t.credit_code, v.lead_department, v.day, v.seq,
       ST_X(t.point) AS lng, ST_Y(t.point) AS lat, t.grid_code,
       json_agg(json_build_object('inspection_id', i.id, 'department', i.department,
                                  'matter_codes', i.matter_codes, 'planned_on', i.planned_on)
                ORDER BY i.department, i.id) AS inspections
FROM joint_visits v
JOIN inspection_targets t ON t.id = v.target_id
JOIN inspections i ON i.joint_visit_id = v.id
WHERE v.day BETWEEN $1 AND $2
  AND ($3::text IS NULL OR EXISTS (
      SELECT 1 FROM inspections m WHERE m.joint_visit_id = v.id AND m.department = $3))
GROUP BY v.id, t.id
ORDER BY v.day, v.seq NULLS LAST, v.id
"""
# A day's joint visits of one jurisdiction (one road network; null: targets outside grids).
DAY_VISITS = """
SELECT v.id, ST_X(t.point) AS lng, ST_Y(t.point) AS lat
FROM joint_visits v
JOIN inspection_targets t ON t.id = v.target_id
LEFT JOIN LATERAL (
    SELECT j.code FROM grids g
    JOIN layer_versions lv ON lv.id = g.layer_version_id AND lv.valid_to IS NULL
    JOIN layers l ON l.id = lv.layer_id AND l.name = 'community'
    JOIN jurisdictions j ON j.id = l.jurisdiction_id
    WHERE g.code = t.grid_code LIMIT 1
) p ON true
WHERE v.day = $1 AND p.code IS NOT DISTINCT FROM $2
ORDER BY v.id
"""

SAVINGS = """
SELECT count(DISTINCT i.id) AS planned_separately, count(DISTINCT v.id) AS joint_visits
FROM joint_visits v JOIN inspections i ON i.joint_visit_id = v.id
WHERE v.day BETWEEN $1 AND $2
"""

LENIENT = "SELECT matter_code, added_by, added_at FROM lenient_matters ORDER BY matter_code"
ADD_LENIENT = """
INSERT INTO lenient_matters (matter_code, added_by) VALUES ($1, $2)
ON CONFLICT (matter_code) DO NOTHING
"""
IS_LENIENT = "SELECT 1 FROM lenient_matters WHERE matter_code = $1"

# Serialise a target's violations: the "first" of a matter is decided under this lock.
LOCK_TARGET = "SELECT id FROM inspection_targets WHERE id = $1 FOR UPDATE"
EARLIER_OF_MATTER = "SELECT 1 FROM target_violations WHERE target_id = $1 AND matter_code = $2 LIMIT 1"
ADD_VIOLATION = """
INSERT INTO target_violations
    (target_id, source, event_id, inspection_id, matter_code, minor, lenient, note, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING id
"""
COUNTED = "SELECT count(*) FROM target_violations WHERE target_id = $1 AND NOT lenient"

# Closed events that name a target and found a violation, not yet recorded.
CLOSED_EVENT_VIOLATIONS = """
SELECT e.id, e.target_id, e.matter_code, coalesce(e.closed_at, e.updated_at) AS at
FROM events e
WHERE e.target_id IS NOT NULL AND e.violation_found AND e.state = 'closed'
  AND NOT EXISTS (SELECT 1 FROM target_violations v WHERE v.event_id = e.id)
ORDER BY at, e.id
"""
SET_EVENT_TARGET = "UPDATE events SET target_id = $2, violation_found = $3 WHERE id = $1 RETURNING id"

# The negative list: targets with at least the warning threshold of counted violations;
# listed_at is when the threshold-th violation was recorded, penalty_at the penalty one's.
NEGATIVE_LIST = """
WITH counted AS (
    SELECT target_id, recorded_at,
           row_number() OVER (PARTITION BY target_id ORDER BY recorded_at, id) AS n
    FROM target_violations WHERE NOT lenient
)
SELECT t.id AS target_id, t.name, t.credit_code, t.address, t.type, t.grid_code,
       max(c.n) AS violations,
       max(c.recorded_at) FILTER (WHERE c.n = $1) AS listed_at,
       max(c.recorded_at) FILTER (WHERE c.n = $2) AS penalty_at
FROM counted c JOIN inspection_targets t ON t.id = c.target_id
GROUP BY t.id
HAVING max(c.n) >= $1
ORDER BY max(c.n) DESC, t.id
"""

LENIENT_CASES = """
SELECT v.id, v.target_id, t.name, t.credit_code, v.source, v.event_id, v.inspection_id,
       v.matter_code, v.note, v.recorded_at
FROM target_violations v JOIN inspection_targets t ON t.id = v.target_id
WHERE v.lenient ORDER BY v.recorded_at, v.id
"""
