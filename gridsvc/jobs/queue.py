"""The job queue client: a thin layer over pgqueuer (schema in migrations/008_jobs.sql).

Jobs are enqueued on the caller's asyncpg connection, so a job commits or rolls back with the
state change that asked for it. Payloads are JSON objects. Entrypoint names belong to the
packages that enqueue them (``callbacks.deliver``, ``notices.deliver``, ...); the worker that
runs them is assembled in :mod:`gridsvc.background`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import Queries
from pgqueuer.models import Job

# pgqueuer's statuses of a job still in the queue table ('successful' and 'exception' rows
# only appear in its log once the job is finished).
STATUS = """
SELECT entrypoint, status::text AS status, count(*) AS jobs,
       count(*) FILTER (WHERE status = 'queued' AND execute_after > now()) AS waiting
FROM pgqueuer GROUP BY entrypoint, status
"""
# Finished jobs of the last hour, from pgqueuer's log (one row per status change).
FINISHED = """
SELECT entrypoint, status::text AS status, count(*) AS jobs
FROM pgqueuer_log
WHERE created > now() - interval '1 hour' AND status IN ('successful', 'exception', 'canceled')
GROUP BY entrypoint, status
"""


def queries(connection: asyncpg.Connection) -> Queries:
    """pgqueuer's queries on this very connection (inside its transaction, if one is open)."""
    return Queries.from_asyncpg_connection(connection)


async def enqueue(
    connection: asyncpg.Connection, entrypoint: str, payload: dict[str, Any], *, delay_s: float = 0.0
) -> int:
    """Queue one job on ``connection`` (in the caller's transaction); returns its id."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    ids = await queries(connection).enqueue(entrypoint, body, execute_after=timedelta(seconds=delay_s))
    return int(ids[0])


def payload_of(job: Job) -> dict[str, Any]:
    """The JSON object a job was enqueued with."""
    return dict(json.loads(job.payload or b"{}"))


async def status(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Jobs per entrypoint and state: queued (of which ``waiting`` for a retry or a time),
    picked (running), failed; successful / exception / canceled in the last hour."""
    counts: dict[str, dict[str, Any]] = {}
    for row in await connection.fetch(STATUS):
        entry = counts.setdefault(row["entrypoint"], {"entrypoint": row["entrypoint"]})
        entry[row["status"]] = row["jobs"]
        if row["status"] == "queued":
            entry["waiting"] = row["waiting"]
    for row in await connection.fetch(FINISHED):
        entry = counts.setdefault(row["entrypoint"], {"entrypoint": row["entrypoint"]})
        entry[f"{row['status']}_1h"] = row["jobs"]
    return [counts[name] for name in sorted(counts)]
