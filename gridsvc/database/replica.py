"""Read routing to a streaming replica (``GRIDSVC_DATABASE_REPLICA_URL``).

The app keeps a second pool, ``app.state.read_pool``, on the replica (the primary pool itself
when no replica is configured). Only reads that may be a second stale take it: grid layers,
the work queue list and export, tiles, coverage, geocode, reports. Anything written or read
back right after a write (intake, actions, the detail view an action follows, the live desk
whose counters must match the SSE stream) stays on ``app.state.pool``, the primary.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.requests import Request

# Lag as an operator means it: 0 when the replica has replayed everything it received (an idle
# primary writes nothing, so the age of the last replayed commit alone would grow forever),
# else the age of the last replayed commit (null, unknown, before the first one is replayed).
REPLICA_STATE = """
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
       END AS lag_s,
       pg_last_xact_replay_timestamp() AS last_replayed_commit
"""


def read_pool(request: Request) -> asyncpg.Pool:
    """The pool for reads that may be a second stale: the replica's, else the primary's."""
    state = request.app.state
    pool: asyncpg.Pool = getattr(state, "read_pool", None) or state.pool
    return pool


async def replica_state(pool: asyncpg.Pool) -> dict[str, Any]:
    """``/health``'s view of the replica: in recovery (a standby) and its replay lag."""
    row = await pool.fetchrow(REPLICA_STATE)
    assert row is not None
    last = row["last_replayed_commit"]
    return {
        "in_recovery": row["in_recovery"],
        "lag_s": None if row["lag_s"] is None else round(float(row["lag_s"]), 3),
        "last_replayed_commit": last.isoformat() if last is not None else None,
    }
