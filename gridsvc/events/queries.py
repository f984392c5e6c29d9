"""SQL of the events domain. Values always travel as parameters (``$n``, or one typed jsonb
object expanded in SQL where a statement takes many)."""

EVENT_BY_WORK_ORDER = "SELECT id FROM events WHERE integration_id = $1 AND external_id = $2"

EVENT_COLUMNS = """
e.id, e.source, e.integration_id, e.external_id, e.title, e.description, e.matter_code,
e.matter_text, e.condition_position, e.address, ST_X(e.geom) AS lng, ST_Y(e.geom) AS lat,
e.source_crs, e.source_lng, e.source_lat, e.reporter, e.reported_at, e.received_at, e.state,
e.suspended_from, e.responsible_kind, e.responsible_code, e.responsible_name, e.co_handlers,
e.grids, e.routing, e.squad_id, e.duplicate_of, e.stage, e.stage_started_at, e.due_at,
e.dispatched_at, e.handle_due_at, e.overdue_since, e.closed_at, e.updated_at,
e.satisfaction, e.satisfaction_comment, e.revisited_at, e.redo_count, e.reported_by,
m.name AS matter_name, m.auto_dispatch
"""

# A new event, already routed (and dispatched when configured), with its audit-trail rows, in
# one statement. $1 is one jsonb object (gridsvc.events.models.EventRecord) whose ``trail``
# holds the audit-trail rows. Answers the stored row (EVENT_COLUMNS); on a known work-order
# number nothing is written and no row comes back.
INSERT_EVENT = f"""
WITH r AS (
    SELECT * FROM jsonb_to_record($1::jsonb) AS r(
        source text, integration_id bigint, external_id text, title text, description text,
        matter_code text, matter_text text, condition_position smallint, address text,
        lng float8, lat float8, source_crs text, source_lng float8, source_lat float8,
        reporter jsonb, reported_at timestamptz, received_at timestamptz, state text,
        stage text, due_at timestamptz, responsible_kind text, responsible_code text,
        responsible_name text, co_handlers jsonb, grids jsonb, routing jsonb, squad_id bigint,
        duplicate_of bigint, dispatched_at timestamptz, handle_due_at timestamptz,
        reported_by bigint)
), new_event AS (
    INSERT INTO events (source, integration_id, external_id, title, description, matter_code,
                        matter_text, condition_position, address, geom, source_crs,
                        source_lng, source_lat, reporter, reported_at, received_at, state,
                        stage, stage_started_at, due_at, responsible_kind, responsible_code,
                        responsible_name, co_handlers, grids, routing, squad_id, duplicate_of,
                        dispatched_at, handle_due_at, reported_by)
    SELECT source, integration_id, external_id, title, description, matter_code, matter_text,
           condition_position, address,
           CASE WHEN lng IS NULL OR lat IS NULL THEN NULL
                ELSE ST_SetSRID(ST_MakePoint(lng, lat), 4326) END,
           source_crs, source_lng, source_lat, reporter, reported_at, received_at, state,
           stage, received_at, due_at, responsible_kind, responsible_code, responsible_name,
           co_handlers, grids, routing, squad_id, duplicate_of, dispatched_at, handle_due_at,
           reported_by
    FROM r
    ON CONFLICT (integration_id, external_id) DO NOTHING
    RETURNING *
), trail AS (
    INSERT INTO event_transitions (event_id, at, actor, action, from_state, to_state, note, data)
    SELECT e.id, e.received_at, t.item ->> 'actor', t.item ->> 'action',
           t.item ->> 'from_state', t.item ->> 'to_state', t.item ->> 'note', t.item -> 'data'
    FROM new_event e, jsonb_array_elements($1::jsonb -> 'trail') WITH ORDINALITY AS t(item, n)
    ORDER BY t.n
)
SELECT {EVENT_COLUMNS} FROM new_event e LEFT JOIN matters m ON m.code = e.matter_code
"""  # noqa: S608 - a constant column list, no values

EVENT_BY_ID = f"""
SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN matters m ON m.code = e.matter_code
WHERE e.id = $1
"""  # noqa: S608 - a constant column list, no values

LOCK_EVENT = f"""
SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN matters m ON m.code = e.matter_code
WHERE e.id = $1 FOR UPDATE OF e
"""  # noqa: S608

UPDATE_ROUTING = """
UPDATE events SET responsible_kind = $2, responsible_code = $3, responsible_name = $4,
    co_handlers = $5, grids = $6, routing = $7, updated_at = now()
WHERE id = $1
"""

UPDATE_STATE = """
UPDATE events SET state = $2, suspended_from = $3, stage = $4, stage_started_at = $5,
    due_at = $6, overdue_since = NULL, updated_at = now(),
    closed_at = CASE WHEN $2 = 'closed' THEN now() ELSE closed_at END
WHERE id = $1
"""

SET_DISPATCH = """
UPDATE events SET squad_id = $2, dispatched_at = $3, handle_due_at = $4,
    responsible_kind = coalesce($5, responsible_kind), responsible_code = coalesce($6, responsible_code),
    responsible_name = coalesce($7, responsible_name), updated_at = now()
WHERE id = $1
"""

SET_DUE = """
UPDATE events SET due_at = $2, handle_due_at = $3, overdue_since = NULL, updated_at = now()
WHERE id = $1
"""

INSERT_TRANSITION = """
INSERT INTO event_transitions (event_id, actor, action, from_state, to_state, note, data)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, at
"""

TRANSITIONS = """
SELECT id, at, actor, action, from_state, to_state, note, data
FROM event_transitions WHERE event_id = $1 ORDER BY id
"""

# 并单 candidates of an event (or of the one intake is about to store: $1 = 0): open events
# that are no one's duplicate, of the same matter or of a related one (either matter lists the
# other in matters.related_matters; never merely the same major class), within $8 metres and
# $7 seconds of $6, with their distance, minutes apart and pg_trgm similarity of the texts.
# The same matter first, then the most similar, the nearest.
DUPLICATE_CANDIDATES = """
WITH here AS (SELECT ST_SetSRID(ST_MakePoint($3, $4), 4326) AS p)
SELECT e.id AS event_id, e.matter_code, e.title,
       round(ST_Distance(e.geom::geography, here.p::geography)::numeric, 1)::float8 AS distance_m,
       round((abs(extract(epoch FROM e.received_at - $6::timestamptz)) / 60)::numeric, 1)::float8
           AS minutes_apart,
       round(similarity(e.title || ' ' || coalesce(e.description, ''), $5)::numeric, 3)::float8
           AS similarity
FROM events e, here
WHERE e.id <> $1 AND e.state <> 'closed' AND e.duplicate_of IS NULL AND e.geom IS NOT NULL
  AND (e.matter_code = $2
       OR e.matter_code = ANY(coalesce((SELECT related_matters FROM matters WHERE code = $2), '{}'))
       OR EXISTS (SELECT 1 FROM matters r WHERE r.code = e.matter_code AND $2 = ANY(r.related_matters)))
  AND e.received_at BETWEEN $6::timestamptz - make_interval(secs => $7)
                        AND $6::timestamptz + make_interval(secs => $7)
  -- the box test uses the GiST index; $9 is the radius in degrees of latitude, widened for
  -- longitude by 1/cos(latitude), so it never cuts the exact geodesic test short
  AND e.geom && ST_Expand(here.p, $9 / cos(radians($4)))
  AND ST_DWithin(e.geom::geography, here.p::geography, $8)
ORDER BY (e.matter_code = $2) DESC, similarity DESC, distance_m, e.id
LIMIT $10
"""

SET_DUPLICATE_OF = "UPDATE events SET duplicate_of = $2, updated_at = now() WHERE id = $1"

LINKED_DUPLICATES = "SELECT id FROM events WHERE duplicate_of = $1 AND state <> 'closed' ORDER BY id"

HAS_DUPLICATES = "SELECT EXISTS (SELECT 1 FROM events WHERE duplicate_of = $1)"

# The reply (处置 note) the master gave last: what its duplicates' 办结 carry.
LAST_REPLY = """
SELECT note FROM event_transitions WHERE event_id = $1 AND action = 'handle' ORDER BY id DESC LIMIT 1
"""

DUPLICATES_OF = "SELECT id, external_id, state FROM events WHERE duplicate_of = $1 ORDER BY id"

JURISDICTION_TIMEZONE = "SELECT timezone FROM jurisdictions WHERE code = $1"

INSERT_EXTENSION = """
INSERT INTO event_extensions (event_id, requested_by, extra_minutes, reason)
VALUES ($1, $2, $3, $4) RETURNING id, requested_at
"""

LOCK_EXTENSION = """
SELECT id, event_id, extra_minutes, reason, decided_at FROM event_extensions
WHERE id = $1 AND event_id = $2 FOR UPDATE
"""

DECIDE_EXTENSION = """
UPDATE event_extensions SET decided_by = $2, decided_at = now(), approved = $3 WHERE id = $1
"""

EXTENSIONS = """
SELECT id, requested_by, requested_at, extra_minutes, reason, decided_by, decided_at, approved
FROM event_extensions WHERE event_id = $1 ORDER BY id
"""

# The message of the events_notify trigger (migrations/003_events.sql), for a change of an
# event that touches none of the columns the trigger watches (a 督办 raised or answered).
ANNOUNCE = """
SELECT pg_notify('gridsvc_events', json_build_object('id', id, 'state', state, 'op', 'UPDATE')::text)
FROM events WHERE id = $1
"""

MARK_OVERDUE = "UPDATE events SET overdue_since = $2 WHERE id = $1 AND overdue_since IS NULL"

# One scalar subquery per figure so that each reads only open (or today's closed) rows
# through its partial index: a FILTERed count over the whole table scanned every closed
# event of past years on each refresh of the counter strip.
COUNTERS = """
SELECT
  (SELECT count(*) FROM events WHERE state <> 'closed') AS open,
  (SELECT count(*) FROM events WHERE state <> 'closed' AND due_at < now()) AS overdue,
  (SELECT count(*) FROM events WHERE state <> 'closed' AND state IN ('received', 'returned')
     AND responsible_kind = 'triage') AS triage,
  (SELECT count(*) FROM events WHERE state = 'closed' AND closed_at >= $1) AS closed_today,
  -- 督办 still waiting for their written reply
  (SELECT count(*) FROM escalations WHERE replied_at IS NULL) AS duban_unreplied
"""

LAST_SUSPENDED_AT = """
SELECT max(at) FROM event_transitions WHERE event_id = $1 AND action = 'suspend'
"""

HOME_TIMEZONE = """
SELECT j.timezone FROM jurisdictions j JOIN layers l ON l.jurisdiction_id = j.id
GROUP BY j.id, j.timezone ORDER BY count(*) DESC, j.id LIMIT 1
"""

SET_LOCATION = """
UPDATE events SET geom = ST_SetSRID(ST_MakePoint($2, $3), 4326), source_crs = $4,
    updated_at = now()
WHERE id = $1
"""


# The read-only view of an archived event: the live read model's columns and answers.
ARCHIVED_EVENT = f"""
SELECT {EVENT_COLUMNS} FROM archive.events e LEFT JOIN matters m ON m.code = e.matter_code
WHERE e.id = $1
"""  # noqa: S608 - a constant column list, no values
ARCHIVED_TRANSITIONS = """
SELECT id, at, actor, action, from_state, to_state, note, data
FROM archive.event_transitions WHERE event_id = $1 ORDER BY id
"""
ARCHIVED_DUPLICATES = "SELECT id, external_id, state FROM archive.events WHERE duplicate_of = $1 ORDER BY id"
ARCHIVED_EXTENSIONS = """
SELECT id, requested_by, requested_at, extra_minutes, reason, decided_by, decided_at, approved
FROM archive.event_extensions WHERE event_id = $1 ORDER BY id
"""
