"""Foreign keys into the tables that grow with every case (events, their transitions, notices,
escalations) need an index led by the referencing column: deleting or archiving events
otherwise scans every referencing table once per deleted row (10,000 events took 15 s)."""

from __future__ import annotations

import asyncpg

# Tables whose rows are deleted in bulk (archive, test clean-up, cascades from events).
GROWING = ("events", "event_transitions", "recipient_notices", "escalations")

UNINDEXED_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text AS referencing, a.attname AS column_name,
       c.confrelid::regclass::text AS referenced
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f'
  AND c.confrelid::regclass::text = ANY($1::text[])
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
ORDER BY 1, 2
"""


async def test_every_foreign_key_into_a_growing_table_has_an_index(db: asyncpg.Connection) -> None:
    rows = await db.fetch(UNINDEXED_FOREIGN_KEYS, list(GROWING))
    missing = [f"{r['referencing']}.{r['column_name']} -> {r['referenced']}" for r in rows]
    assert missing == []


async def test_deleting_an_event_uses_the_indexes(db: asyncpg.Connection) -> None:
    """The check above trusts pg_index; here the planner must pick the new index for the
    lookups a cascade runs (a partial index with the wrong predicate would not be used)."""
    plans = []
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        for table, column in (
            ("event_extensions", "event_id"),
            ("recipient_notices", "event_id"),
            ("recipient_notices", "transition_id"),
            ("escalations", "transition_id"),
            ("duban_recipients", "notice_id"),
        ):
            rows = await db.fetch(
                f"EXPLAIN (FORMAT TEXT) SELECT 1 FROM {table} WHERE {column} = $1",  # noqa: S608 (fixed names)
                1,
            )
            plans.append((table, column, "\n".join(r[0] for r in rows)))
    for table, column, plan in plans:
        assert "Index" in plan and table in plan, (table, column, plan)
