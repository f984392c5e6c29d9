"""SQL of 督办. Values always travel as ``$n`` parameters."""

# Configured level sets, most specific first: (matter, stage), (matter, *), (*, stage), (*, *).
LEVEL_SETS = """
SELECT matter_code, stage, level, factor::float8 AS factor, audience FROM duban_levels
WHERE matter_code IN ($1, '*') AND stage IN ($2, '*')
ORDER BY (matter_code <> '*') DESC, (stage <> '*') DESC, level
"""

ALL_LEVELS = """
SELECT matter_code, stage, level, factor::float8 AS factor, audience FROM duban_levels
ORDER BY matter_code, stage, level
"""

DELETE_LEVELS = "DELETE FROM duban_levels WHERE matter_code = $1 AND stage = $2"

INSERT_LEVEL = """
INSERT INTO duban_levels (matter_code, stage, level, factor, audience) VALUES ($1, $2, $3, $4, $5)
"""

MATTER_EXISTS = "SELECT EXISTS (SELECT 1 FROM matters WHERE code = $1)"

# Open events whose running stage is past its deadline at $1 (the caller's clock), all of them
# (a LIMIT would let events with every level raised crowd out newer ones), with what decides
# the levels: the stage's start (the handling limit counts from dispatch) and the
# levels raised so far for this very deadline. $2: one event only (NULL: all).
OVERDUE = """
SELECT e.id, e.stage, e.due_at, e.state, e.matter_code,
       CASE WHEN e.stage = 'handle' THEN coalesce(e.dispatched_at, e.stage_started_at)
            ELSE e.stage_started_at END AS started_at,
       coalesce((SELECT array_agg(x.level) FROM escalations x
                 WHERE x.event_id = e.id AND x.stage = e.stage AND x.due_at = e.due_at),
                '{}') AS raised
FROM events e
WHERE e.state NOT IN ('closed', 'suspended') AND e.due_at < $1 AND e.stage IS NOT NULL
  AND ($2::bigint IS NULL OR e.id = $2)
ORDER BY e.due_at
"""

INSERT_ESCALATION = """
INSERT INTO escalations (event_id, stage, due_at, level, audience, factor, raised_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING RETURNING id
"""

SET_TRANSITION = "UPDATE escalations SET transition_id = $2 WHERE id = $1"

EVENT_STATE = "SELECT state FROM events WHERE id = $1 FOR UPDATE"

# Every enabled account a 督办 may reach (the columns of users, whatever migrations added:
# a department account's department code is among them once departments have accounts),
# with a leader's reach.
RECIPIENT_CANDIDATES = """
SELECT u.*, l.reach AS leader_reach, l.township_codes AS leader_townships
FROM users u LEFT JOIN duban_leaders l ON l.user_id = u.id
WHERE NOT u.disabled AND u.role <> ALL('{admin,operator,integration}'::text[])
ORDER BY u.id
"""

INSERT_RECIPIENT = """
INSERT INTO duban_recipients (escalation_id, user_id, notice_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
"""

DUBAN_COLUMNS = """
x.id, x.event_id, x.level, x.audience, x.stage, x.factor::float8 AS factor, x.due_at,
x.raised_at, x.reply, x.replied_by, x.replied_at,
e.title, e.external_id, e.address, e.state, e.matter_code, m.name AS matter_name,
e.responsible_kind, e.responsible_code, e.responsible_name,
e.grids -> 'enforcement' ->> 'code' AS township_code
"""

# $1 unreplied only; $2 one event; $3 addressed to this user (NULL: the desk, all); $4 limit;
# $5 before this id (paging).
LIST = f"""
SELECT {DUBAN_COLUMNS}
FROM escalations x JOIN events e ON e.id = x.event_id LEFT JOIN matters m ON m.code = e.matter_code
WHERE ($1::boolean IS NULL OR ($1 AND x.replied_at IS NULL) OR (NOT $1 AND x.replied_at IS NOT NULL))
  AND ($2::bigint IS NULL OR x.event_id = $2)
  AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM duban_recipients r
                                     WHERE r.escalation_id = x.id AND r.user_id = $3))
  AND ($5::bigint IS NULL OR x.id < $5)
ORDER BY x.id DESC
LIMIT $4
"""  # noqa: S608 - a constant column list, no values

BY_ID = f"""
SELECT {DUBAN_COLUMNS}
FROM escalations x JOIN events e ON e.id = x.event_id LEFT JOIN matters m ON m.code = e.matter_code
WHERE x.id = $1
"""  # noqa: S608

RECIPIENTS = """
SELECT r.escalation_id, u.id AS user_id, u.name, u.display_name, u.role, r.notice_id,
       n.status AS notice_status
FROM duban_recipients r JOIN users u ON u.id = r.user_id
LEFT JOIN recipient_notices n ON n.id = r.notice_id
WHERE r.escalation_id = ANY($1::bigint[])
ORDER BY r.escalation_id, u.id
"""

IS_RECIPIENT = "SELECT EXISTS (SELECT 1 FROM duban_recipients WHERE escalation_id = $1 AND user_id = $2)"

LOCK = "SELECT id, event_id, level, replied_at, replied_by FROM escalations WHERE id = $1 FOR UPDATE"

REPLY = """
UPDATE escalations SET reply = $2, replied_by = $3, replied_at = $4 WHERE id = $1 AND replied_at IS NULL
RETURNING replied_at
"""

# Leaders (role leader) and their reach.
UPSERT_LEADER = """
INSERT INTO duban_leaders (user_id, reach, township_codes) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET reach = excluded.reach, township_codes = excluded.township_codes
"""

LEADERS = """
SELECT u.id, u.name, u.display_name, u.webhook_url, u.disabled, l.reach, l.township_codes
FROM users u JOIN duban_leaders l ON l.user_id = u.id
ORDER BY l.reach DESC, u.name
"""

UNKNOWN_TOWNSHIPS = """
SELECT c FROM unnest($1::text[]) AS c
WHERE NOT EXISTS (SELECT 1 FROM current_grids g WHERE g.layer = 'enforcement' AND g.code = c)
"""

USER_BY_NAME = "SELECT id, role FROM users WHERE name = $1"
