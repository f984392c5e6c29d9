"""SQL of the whistles (吹哨报到). Values always travel as ``$n`` parameters."""

TOWNSHIP = """
SELECT code, coalesce(name_zh, name) AS name FROM current_grids
WHERE layer = 'enforcement' AND code = $1
ORDER BY valid_from DESC LIMIT 1
"""

MATTER_EXISTS = "SELECT EXISTS (SELECT 1 FROM matters WHERE code = $1)"

KNOWN_DEPARTMENTS = "SELECT code FROM departments WHERE code = ANY($1::text[])"

# the names the audit line says (in the order summoned)
DEPARTMENT_NAMES = """
SELECT coalesce(d.name_zh, d.name, c.code) AS name
FROM unnest($1::text[]) WITH ORDINALITY AS c(code, n) LEFT JOIN departments d ON d.code = c.code
ORDER BY c.n
"""

DEPARTMENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM departments WHERE code = $1)"

INSERT_WHISTLE = """
INSERT INTO whistles (event_id, township_code, summoned_by, ack_minutes, arrive_minutes)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, summoned_at
"""

# Due times are clock minutes from the summons (not working time: a whistle is urgent).
INSERT_ATTENDANCE = """
INSERT INTO whistle_attendance (whistle_id, department, ack_due_at, arrive_due_at)
SELECT w.id, d.code, w.summoned_at + make_interval(mins => w.ack_minutes),
       w.summoned_at + make_interval(mins => w.arrive_minutes)
FROM whistles w, unnest($2::text[]) AS d (code)
WHERE w.id = $1
RETURNING department, ack_due_at, arrive_due_at
"""


WHISTLE_EXISTS = "SELECT EXISTS (SELECT 1 FROM whistles WHERE id = $1)"

SUMMONED_DEPARTMENTS = "SELECT department FROM whistle_attendance WHERE whistle_id = $1 ORDER BY 1"

# One department's attendance, locked: concurrent 报到 of the same department queue here.
LOCK_ATTENDANCE = """
SELECT a.whistle_id, a.department, a.ack_due_at, a.arrive_due_at, a.acknowledged_at,
       a.acknowledged_by, a.arrived_at, a.arrived_by, w.event_id, w.summoned_at, e.state
FROM whistle_attendance a
JOIN whistles w ON w.id = a.whistle_id
JOIN events e ON e.id = w.event_id
WHERE a.whistle_id = $1 AND a.department = $2
FOR UPDATE OF a
"""

ACKNOWLEDGE = """
UPDATE whistle_attendance SET acknowledged_at = now(), acknowledged_by = $3, ack_note = $4
WHERE whistle_id = $1 AND department = $2 AND acknowledged_at IS NULL
RETURNING acknowledged_at
"""

ARRIVE = """
UPDATE whistle_attendance SET arrived_at = now(), arrived_by = $3, arrive_note = $4,
    arrive_position = CASE WHEN $5::float8 IS NULL THEN NULL
                           ELSE ST_SetSRID(ST_MakePoint($5::float8, $6::float8), 4326) END,
    arrive_crs = $7
WHERE whistle_id = $1 AND department = $2 AND arrived_at IS NULL
  AND acknowledged_at IS NOT NULL
RETURNING arrived_at
"""

WHISTLE_COLUMNS = """
w.id, w.event_id, w.township_code,
(SELECT coalesce(g.name_zh, g.name) FROM current_grids g WHERE g.layer = 'enforcement'
   AND g.code = w.township_code ORDER BY g.valid_from DESC LIMIT 1) AS township_name,
w.summoned_by, w.summoned_at, w.ack_minutes,
w.arrive_minutes, e.state, e.title, e.description, e.matter_code, m.name AS matter_name,
e.address, ST_X(e.geom) AS lng, ST_Y(e.geom) AS lat, e.responsible_kind, e.responsible_code,
e.responsible_name, e.closed_at
"""

WHISTLE_BY_ID = f"""
SELECT {WHISTLE_COLUMNS}
FROM whistles w JOIN events e ON e.id = w.event_id LEFT JOIN matters m ON m.code = e.matter_code
WHERE w.id = $1
"""  # noqa: S608 - a constant column list, no values

LIST_WHISTLES = f"""
SELECT {WHISTLE_COLUMNS}
FROM whistles w JOIN events e ON e.id = w.event_id LEFT JOIN matters m ON m.code = e.matter_code
WHERE ($1::boolean IS NULL OR ($1 AND e.state <> 'closed') OR (NOT $1 AND e.state = 'closed'))
  AND ($2::text IS NULL OR w.township_code = $2)
  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM whistle_attendance x
                                   WHERE x.whistle_id = w.id AND x.department = $3))
  AND ($4::bigint IS NULL OR w.id < $4)
ORDER BY w.id DESC
LIMIT $5
"""  # noqa: S608

ATTENDANCE = """
SELECT a.whistle_id, a.department, d.name, d.name_zh, a.ack_due_at, a.arrive_due_at,
       a.acknowledged_at, a.acknowledged_by, a.ack_note, a.arrived_at, a.arrived_by,
       a.arrive_note, ST_X(a.arrive_position) AS arrive_lng, ST_Y(a.arrive_position) AS arrive_lat,
       a.arrive_crs,
       ST_Distance(a.arrive_position::geography, e.geom::geography) AS arrive_distance_m
FROM whistle_attendance a
JOIN departments d ON d.code = a.department
JOIN whistles w ON w.id = a.whistle_id
JOIN events e ON e.id = w.event_id
WHERE a.whistle_id = ANY($1::bigint[])
ORDER BY a.whistle_id, a.department
"""

# Departments still to 报到 on whistles whose event is not closed.
AWAITING_ACK = """
SELECT count(*) FROM whistle_attendance a
JOIN whistles w ON w.id = a.whistle_id
JOIN events e ON e.id = w.event_id
WHERE a.acknowledged_at IS NULL AND e.state <> 'closed'
"""

# Per department over the whistles summoned in [$1, $2) (either bound optional) of township
# $3 (optional). A step is "pending" (not scored yet) while it is neither done nor past its
# due time; a whistle's clock stops when its event is closed (a step due after the closure
# and not done is stood down, not missed).
SCORES = """
SELECT a.department, d.name, d.name_zh,
       count(*) AS summoned,
       count(a.acknowledged_at) AS acknowledged,
       count(*) FILTER (WHERE a.acknowledged_at <= a.ack_due_at) AS acknowledged_on_time,
       count(a.arrived_at) AS arrived,
       count(*) FILTER (WHERE a.arrived_at <= a.arrive_due_at) AS arrived_on_time,
       count(*) FILTER (WHERE a.acknowledged_at IS NULL
                          AND a.ack_due_at >= coalesce(e.closed_at, now())) AS ack_pending,
       count(*) FILTER (WHERE a.arrived_at IS NULL
                          AND a.arrive_due_at >= coalesce(e.closed_at, now())) AS arrive_pending,
       avg(extract(epoch FROM a.acknowledged_at - w.summoned_at)) / 60 AS mean_minutes_to_ack,
       avg(extract(epoch FROM a.arrived_at - w.summoned_at)) / 60 AS mean_minutes_to_arrive
FROM whistle_attendance a
JOIN whistles w ON w.id = a.whistle_id
JOIN events e ON e.id = w.event_id
JOIN departments d ON d.code = a.department
WHERE ($1::timestamptz IS NULL OR w.summoned_at >= $1)
  AND ($2::timestamptz IS NULL OR w.summoned_at < $2)
  AND ($3::text IS NULL OR w.township_code = $3)
GROUP BY a.department, d.name, d.name_zh
ORDER BY a.department
"""
