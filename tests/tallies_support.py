"""The trigger-kept tallies (migration 023) held to the real counts: used by the tallies tests
and by the archive tests (archiving moves rows out of the counted tables)."""

from __future__ import annotations

import asyncpg

REAL_COUNTS = """
SELECT 'events_state' AS kind, state AS label, count(*) AS n FROM events GROUP BY state
UNION ALL SELECT 'outbox_status', status, count(*) FROM outbox GROUP BY status
UNION ALL SELECT 'escalation_level', level::text, count(*) FROM escalations GROUP BY level
UNION ALL SELECT 'escalation_replied_level', level::text, count(*) FROM escalations
          WHERE replied_at IS NOT NULL GROUP BY level
UNION ALL SELECT 'notice_kind_status', kind || ':' || status, count(*) FROM recipient_notices
          GROUP BY kind, status
"""
TALLIED = "SELECT kind, label, sum(n) AS n FROM tallies GROUP BY kind, label HAVING sum(n) <> 0"


async def tallies_match(db: asyncpg.Connection) -> None:
    """The tallies equal what the tables hold, label by label."""
    real = {(r["kind"], r["label"]): int(r["n"]) for r in await db.fetch(REAL_COUNTS)}
    kept = {(r["kind"], r["label"]): int(r["n"]) for r in await db.fetch(TALLIED)}
    assert kept == real
