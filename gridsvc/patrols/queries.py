"""SQL of the patrols domain (plans, visits, frequencies, findings)."""

from __future__ import annotations

JURISDICTION = "SELECT id, code, name, timezone FROM jurisdictions WHERE code = $1"

# tree: the jurisdiction and every one below it (a county plans its townships' squads)
SQUADS_IN = """
WITH RECURSIVE tree AS (
    SELECT id FROM jurisdictions WHERE code = $1
    UNION ALL
    SELECT j.id FROM jurisdictions j JOIN tree t ON j.parent_id = t.id
)
SELECT s.id, s.code, s.name, s.name_zh, s.grid_codes,
       ST_X(s.station) AS lng, ST_Y(s.station) AS lat
FROM squads s
WHERE s.jurisdiction_id IN (SELECT id FROM tree) AND cardinality(s.grid_codes) > 0
ORDER BY s.code
"""

# Current community grids of the jurisdiction's tree that belong to the given enforcement
# grids, with a point on their surface (the visit point starts from there).
COMMUNITY_GRIDS = """
WITH RECURSIVE tree AS (
    SELECT id FROM jurisdictions WHERE code = $1
    UNION ALL
    SELECT j.id FROM jurisdictions j JOIN tree t ON j.parent_id = t.id
)
SELECT g.id, g.code, g.name, g.name_zh, g.enforcement_code, ST_AsBinary(g.geom) AS wkb,
       ST_X(ST_PointOnSurface(g.geom)) AS lng, ST_Y(ST_PointOnSurface(g.geom)) AS lat
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id AND l.name = 'community'
WHERE l.jurisdiction_id IN (SELECT id FROM tree) AND g.enforcement_code = ANY($2::text[])
ORDER BY g.code
"""

GRID_BY_ID = (
    "SELECT id, code, name, name_zh, enforcement_code, ST_AsBinary(geom) AS wkb FROM grids WHERE id = $1"
)

FREQUENCIES = "SELECT grid_code, visits_per_week FROM patrol_frequencies WHERE grid_code = ANY($1::text[])"

SET_FREQUENCY = """
INSERT INTO patrol_frequencies (grid_code, visits_per_week, updated_by) VALUES ($1, $2, $3)
ON CONFLICT (grid_code) DO UPDATE
SET visits_per_week = EXCLUDED.visits_per_week, updated_by = EXCLUDED.updated_by, updated_at = now()
"""

COMMUNITY_GRID_EXISTS = """
SELECT 1 FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id AND l.name = 'community'
WHERE g.code = $1
"""

DELETE_PLAN = "DELETE FROM patrol_plans WHERE squad_id = $1 AND week = $2"

INSERT_PLAN = """
INSERT INTO patrol_plans (jurisdiction_code, week, squad_id, solver, shift_start, shift_end, dwell_s, report)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
RETURNING id
"""

UPSERT_DAY = """
INSERT INTO patrol_days (plan_id, day, distance_m, duration_s, nn_distance_m) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (plan_id, day) DO UPDATE
SET distance_m = EXCLUDED.distance_m, duration_s = EXCLUDED.duration_s, nn_distance_m = EXCLUDED.nn_distance_m
"""

INSERT_VISIT = """
INSERT INTO patrol_visits (plan_id, grid_id, grid_code, day, seq, planned_at, point, carried_from, added_by)
VALUES ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_MakePoint($7, $8), 4326), $9, $10)
RETURNING id
"""

PLANS = """
SELECT p.id, p.jurisdiction_code, p.week, p.squad_id, s.code AS squad_code, s.name AS squad_name,
       s.name_zh AS squad_name_zh, ST_X(s.station) AS station_lng, ST_Y(s.station) AS station_lat,
       p.solver, p.shift_start, p.shift_end, p.dwell_s, p.report, p.planned_at
FROM patrol_plans p JOIN squads s ON s.id = p.squad_id
WHERE ($1::text IS NULL OR p.jurisdiction_code = $1) AND ($2::text IS NULL OR p.week = $2)
  AND ($3::bigint IS NULL OR p.squad_id = $3) AND ($4::bigint IS NULL OR p.id = $4)
ORDER BY p.week, s.code
"""

DAYS = """
SELECT plan_id, day, distance_m, duration_s, nn_distance_m FROM patrol_days
WHERE plan_id = ANY($1::bigint[]) ORDER BY plan_id, day
"""

_VISIT_COLUMNS = """
v.id, v.plan_id, v.grid_id, v.grid_code, g.name AS grid_name, g.name_zh AS grid_name_zh,
g.enforcement_code AS township, v.day, v.seq, v.planned_at, ST_X(v.point) AS lng, ST_Y(v.point) AS lat,
v.status, v.arrived_at, v.checked_in_at, v.done_at, v.done_by, v.carried_from, v.added_by,
CASE WHEN v.carried_from IS NOT NULL THEN (
    -- the day the first visit of the chain was planned for (a carried visit missed again is
    -- carried again)
    WITH RECURSIVE up AS (
        SELECT o.id, o.carried_from, o.day FROM patrol_visits o WHERE o.id = v.carried_from
        UNION ALL
        SELECT o.id, o.carried_from, o.day FROM patrol_visits o JOIN up ON o.id = up.carried_from
    )
    SELECT up.day FROM up WHERE up.carried_from IS NULL
) END AS original_day,
COALESCE((SELECT array_agg(f.event_id ORDER BY f.event_id) FROM patrol_findings f WHERE f.visit_id = v.id),
         '{}') AS findings
"""

VISITS = f"""
SELECT {_VISIT_COLUMNS}
FROM patrol_visits v JOIN grids g ON g.id = v.grid_id
WHERE v.plan_id = ANY($1::bigint[])
ORDER BY v.plan_id, v.day, v.seq, v.id
"""  # noqa: S608 - a constant column list, no values

VISIT = f"""
SELECT {_VISIT_COLUMNS}, p.squad_id, p.week, p.jurisdiction_code
FROM patrol_visits v JOIN grids g ON g.id = v.grid_id JOIN patrol_plans p ON p.id = v.plan_id
WHERE v.id = $1
"""  # noqa: S608

# Visits carried into the week ($2 = its Monday) from an earlier week's plan of these squads
# (a Friday miss carried to Monday stays in the plan it was planned in).
CARRIED_INTO = f"""
SELECT {_VISIT_COLUMNS}, p.squad_id, p.week AS from_week
FROM patrol_visits v JOIN grids g ON g.id = v.grid_id JOIN patrol_plans p ON p.id = v.plan_id
WHERE p.squad_id = ANY($1::bigint[]) AND p.week <> $3 AND v.carried_from IS NOT NULL
  AND v.day >= $2 AND v.day < $2 + 7
ORDER BY v.day, v.planned_at, v.seq, v.id
"""  # noqa: S608

LOCK_PLAN = "SELECT id FROM patrol_plans WHERE id = $1 FOR UPDATE"

DAY_VISITS = """
SELECT id, grid_code, ST_X(point) AS lng, ST_Y(point) AS lat, seq, planned_at, status
FROM patrol_visits WHERE plan_id = $1 AND day = $2 AND status <> 'missed'
ORDER BY seq, id
"""

SET_SCHEDULE = "UPDATE patrol_visits SET seq = $2, planned_at = $3 WHERE id = $1"

MOVE_VISIT = "UPDATE patrol_visits SET day = $2, seq = $3, planned_at = $4 WHERE id = $1"

DELETE_EMPTY_DAY = """
DELETE FROM patrol_days d WHERE d.plan_id = $1 AND d.day = $2
  AND NOT EXISTS (SELECT 1 FROM patrol_visits v WHERE v.plan_id = $1 AND v.day = $2 AND v.status <> 'missed')
"""

# Open visits whose day is over (local date before today): missed, and not yet carried.
OVERDUE = """
SELECT v.id, v.plan_id, v.grid_id, v.grid_code, v.day, ST_X(v.point) AS lng, ST_Y(v.point) AS lat
FROM patrol_visits v
WHERE v.plan_id = ANY($1::bigint[]) AND v.status IN ('planned', 'arrived') AND v.day < $2
ORDER BY v.plan_id, v.day, v.seq
FOR UPDATE OF v SKIP LOCKED
"""

MARK_MISSED = "UPDATE patrol_visits SET status = 'missed' WHERE id = $1 AND status IN ('planned', 'arrived')"

OPEN_UP_TO = """
SELECT id FROM patrol_visits WHERE plan_id = $1 AND status IN ('planned', 'arrived') AND day <= $2
"""

MAX_SEQ = "SELECT COALESCE(max(seq), 0) FROM patrol_visits WHERE plan_id = $1 AND day = $2"

# Dwell from the squad's AVL track: per open visit, the runs of consecutive pings (of the
# visit's local day) inside its community grid; the first run lasting the dwell marks it.
# $1 visit ids, $2 dwell seconds, $3 the jurisdiction's time zone. Of two visits of a grid on
# one day, a stay goes to the checked-in one, else to the day's own planned visit before a
# carried one (the route the squad follows; a carried visit needs a tap or a second stay).
DWELL = """
WITH v AS (
    SELECT pv.id, pv.plan_id, pv.grid_code, pv.day, pv.seq, pv.checked_in_at, pv.carried_from,
           p.squad_id, g.geom,
           EXISTS (SELECT 1 FROM patrol_visits o JOIN patrol_plans op ON op.id = o.plan_id
                   WHERE op.squad_id = p.squad_id AND o.grid_code = pv.grid_code AND o.day = pv.day
                     AND o.id <> pv.id AND o.status IN ('arrived', 'done')) AS sibling_started,
           (pv.day::timestamp AT TIME ZONE $3) AS day_start,
           ((pv.day + 1)::timestamp AT TIME ZONE $3) AS day_end
    FROM patrol_visits pv
    JOIN patrol_plans p ON p.id = pv.plan_id
    JOIN grids g ON g.id = pv.grid_id
    WHERE pv.id = ANY($1::bigint[]) AND pv.status IN ('planned', 'arrived')
), pings AS (
    SELECT v.id AS visit_id, sp.observed_at, ST_Covers(v.geom, sp.geom) AS inside
    FROM v JOIN squad_positions sp
      ON sp.squad_id = v.squad_id AND sp.observed_at >= v.day_start AND sp.observed_at < v.day_end
), numbered AS (
    SELECT visit_id, observed_at, inside,
           row_number() OVER (PARTITION BY visit_id ORDER BY observed_at)
         - row_number() OVER (PARTITION BY visit_id, inside ORDER BY observed_at) AS run
    FROM pings
), runs AS (
    SELECT visit_id, min(observed_at) AS first_at, max(observed_at) AS last_at
    FROM numbered WHERE inside GROUP BY visit_id, run
)
SELECT v.id AS visit_id, v.squad_id, v.grid_code, v.day, v.sibling_started, r.arrived_at, r.done_at
FROM (
    SELECT visit_id, min(first_at) AS arrived_at,
           min(first_at + make_interval(secs => $2)) FILTER (
               WHERE last_at - first_at >= make_interval(secs => $2)) AS done_at
    FROM runs GROUP BY visit_id
) r JOIN v ON v.id = r.visit_id
ORDER BY v.checked_in_at IS NULL, v.carried_from IS NOT NULL, v.seq, v.id
"""

MARK_ARRIVED = """
UPDATE patrol_visits SET status = 'arrived', arrived_at = COALESCE(arrived_at, $2)
WHERE id = $1 AND status = 'planned'
"""

MARK_DONE = """
UPDATE patrol_visits
SET status = 'done', done_at = $2, arrived_at = COALESCE(arrived_at, $3),
    done_by = CASE WHEN checked_in_at IS NOT NULL THEN 'check_in' ELSE 'avl' END
WHERE id = $1 AND status IN ('planned', 'arrived')
"""

CHECK_IN = """
UPDATE patrol_visits
SET checked_in_at = COALESCE(checked_in_at, $2), arrived_at = COALESCE(arrived_at, $2),
    status = CASE WHEN status = 'planned' THEN 'arrived' ELSE status END
WHERE id = $1
"""

# Open visits of a squad on days up to today (what a ping may mark).
OPEN_VISITS_OF_SQUAD = """
SELECT v.id FROM patrol_visits v JOIN patrol_plans p ON p.id = v.plan_id
WHERE p.squad_id = $1 AND v.status IN ('planned', 'arrived') AND v.day BETWEEN $2 AND $3
"""

INSIDE_GRID = "SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)) FROM grids WHERE id = $1"

DISTANCE_TO_GRID = """
SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography)
FROM grids WHERE id = $1
"""

# The squad's visit of that day whose grid holds the point (a finding made there): the one
# it has arrived at most recently, else the first planned.
VISIT_AT = """
SELECT v.id FROM patrol_visits v
JOIN patrol_plans p ON p.id = v.plan_id
JOIN grids g ON g.id = v.grid_id
WHERE p.squad_id = $1 AND v.day = $2 AND v.status <> 'missed'
  AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint($3, $4), 4326))
ORDER BY v.checked_in_at IS NULL, v.arrived_at IS NULL, v.arrived_at DESC, v.seq, v.id
LIMIT 1  -- the visit under way first
"""

LINK_FINDING = """
INSERT INTO patrol_findings (event_id, visit_id, linked_by) VALUES ($1, $2, $3)
ON CONFLICT (event_id) DO NOTHING
"""

COVERAGE = """
SELECT p.squad_id, s.code AS squad_code, g.enforcement_code AS township,
       count(*) FILTER (WHERE v.carried_from IS NULL) AS planned,
       count(*) FILTER (WHERE v.status = 'done') AS visited,
       count(*) FILTER (WHERE v.status = 'missed') AS missed,
       count(*) FILTER (WHERE v.carried_from IS NOT NULL) AS carried,
       count(DISTINCT v.grid_code) AS grids_planned,
       count(DISTINCT v.grid_code) FILTER (WHERE v.status = 'done') AS grids_visited
FROM patrol_plans p
JOIN squads s ON s.id = p.squad_id
JOIN patrol_visits v ON v.plan_id = p.id
JOIN grids g ON g.id = v.grid_id
WHERE p.jurisdiction_code = $1 AND p.week = $2 AND ($3::bigint IS NULL OR p.squad_id = $3)
GROUP BY GROUPING SETS ((p.squad_id, s.code), (g.enforcement_code), ())
"""
