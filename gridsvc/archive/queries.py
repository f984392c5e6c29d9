# ruff: noqa: S608 - SQL is composed of this module's constant fragments; every value is a $n
"""SQL of the archive. Every statement of a run takes the same first three parameters: $1 the
end of the period (received before it), $2 its start or NULL, $3 the enforcement grid ids of
the jurisdiction asked for or NULL (every event)."""

from __future__ import annotations

# What may leave the live tables: closed, received in the period, in the jurisdiction, with
# no hotline callback or recipient notice still waiting to be sent (the senders read the live
# tables; a message is archived once delivered or dead).
ELIGIBLE = """e.state = 'closed' AND e.received_at < $1
  AND ($2::timestamptz IS NULL OR e.received_at >= $2::timestamptz)
  AND ($3::bigint[] IS NULL OR (e.grids -> 'enforcement' ->> 'id')::bigint = ANY ($3::bigint[]))
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id AND o.status = 'pending')
  AND NOT EXISTS (SELECT 1 FROM recipient_notices n WHERE n.event_id = e.id AND n.status = 'pending')"""

IN_PERIOD = """e.state = 'closed' AND e.received_at < $1
  AND ($2::timestamptz IS NULL OR e.received_at >= $2::timestamptz)
  AND ($3::bigint[] IS NULL OR (e.grids -> 'enforcement' ->> 'id')::bigint = ANY ($3::bigint[]))"""

COUNT_ELIGIBLE = f"SELECT count(*) FROM events e WHERE {ELIGIBLE}"
COUNT_IN_PERIOD = f"SELECT count(*) FROM events e WHERE {IN_PERIOD}"

# The next batch, by id after $4, locked: a concurrent 重办 or 并单 link waits for the batch.
CANDIDATES = f"""
SELECT e.id FROM events e WHERE {ELIGIBLE} AND e.id > $4
ORDER BY e.id LIMIT $5 FOR UPDATE OF e SKIP LOCKED
"""
# Eligible duplicates of the batch's events (they go with their original: a live duplicate
# would keep it from being deleted).
DUPLICATES_TO_ADD = f"""
SELECT e.id FROM events e
WHERE e.duplicate_of = ANY ($4::bigint[]) AND e.id <> ALL ($4::bigint[]) AND {ELIGIBLE}
FOR UPDATE OF e
"""
# Events of the batch that an event staying live names as its 并单 original: they stay too.
LINKED_FROM_OUTSIDE = """
SELECT DISTINCT duplicate_of FROM events
WHERE duplicate_of = ANY ($1::bigint[]) AND id <> ALL ($1::bigint[])
"""

JURISDICTION_EXISTS = "SELECT EXISTS (SELECT 1 FROM jurisdictions WHERE code = $1)"
# The enforcement grids (every version) of the jurisdiction and those below it: an event's
# jurisdiction is its enforcement grid's (as in the leaders' figures).
JURISDICTION_GRIDS = """
WITH RECURSIVE tree AS (
    SELECT id FROM jurisdictions WHERE code = $1
    UNION ALL SELECT j.id FROM jurisdictions j JOIN tree t ON j.parent_id = t.id
)
SELECT coalesce(array_agg(g.id), '{}') FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id JOIN layers l ON l.id = v.layer_id
WHERE l.kind = 'enforcement' AND l.jurisdiction_id IN (SELECT id FROM tree)
"""

# The rows of each table that belong to the events $1 (bigint[]).
_ROWS_OF = {
    "events": "FROM events WHERE id = ANY ($1::bigint[])",
    "duban_recipients": "FROM duban_recipients WHERE escalation_id IN "
    "(SELECT id FROM escalations WHERE event_id = ANY ($1::bigint[]))",
    "whistle_attendance": "FROM whistle_attendance WHERE whistle_id IN "
    "(SELECT id FROM whistles WHERE event_id = ANY ($1::bigint[]))",
}


def rows_of(table: str) -> str:
    return _ROWS_OF.get(table, f"FROM {table} WHERE event_id = ANY ($1::bigint[])")


def copy(table: str) -> str:
    return f"INSERT INTO archive.{table} SELECT * {rows_of(table)}"


def delete(table: str) -> str:
    return f"DELETE {rows_of(table)}"


# 督办 leaving `escalations` keep counting in /metrics' counters (migration 026).
COUNT_ESCALATIONS = """
INSERT INTO archive.tallies (kind, label, n)
SELECT 'escalation_level', level::text, count(*) FROM escalations
WHERE event_id = ANY ($1::bigint[]) GROUP BY level
UNION ALL
SELECT 'escalation_replied_level', level::text, count(*) FROM escalations
WHERE event_id = ANY ($1::bigint[]) AND replied_at IS NOT NULL GROUP BY level
ON CONFLICT (kind, label) DO UPDATE SET n = archive.tallies.n + EXCLUDED.n
"""
