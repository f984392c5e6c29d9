"""Ordered, at-least-once delivery of outbox rows through jobs, one message in flight per
destination.

An outbox table (``outbox`` for 12345 callbacks, ``recipient_notices``) keeps the durable
record: status ``pending | delivered | dead``, attempts, next try, last error and a lease
``sending_until``. A job only says "deliver row N". Its handler, :func:`deliver`:

1. in a short transaction holding the destination's advisory lock, checks that row N is the
   destination's next message (oldest due one whose earlier messages of the same *lane* are
   delivered) and that nothing else of that destination is in flight, then takes the lease;
2. sends outside any transaction (no connection is held while a receiver thinks);
3. in a second short transaction records the answer and queues the job of the destination's
   next message, so a backlog drains in order, one message at a time per destination.

A failed try leaves the row pending with ``next_attempt_at`` pushed back (1 s, 2 s, 4 s ...
capped) and asks pgqueuer to run the same job again then (``RetryRequested``); the row's
idempotency key is sent on every try. After the last attempt the row is dead (the operator's
dead-letter view) and its lane waits until an operator retries it.

Several jobs may name the same row (the one queued with it, one queued by the message before
it, one from the sweep); the lock and the lease (which names the job holding it) make all but
one of them no-ops, so a message is never sent twice at once nor out of turn. A job that died
mid-try is run again by pgqueuer (its heartbeat stopped) and takes its own lease back.
Because every step re-reads the rows under the lock, no wake-up is lost: whichever of "row N
committed" and "the message before it finished" comes last sees the other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import RetryRequested

from gridsvc.jobs.queue import enqueue

log = logging.getLogger("gridsvc.jobs.delivery")

Load = Callable[[asyncpg.Connection, int], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[str | None]]


def backoff_seconds(attempts: int, cap: float) -> float:
    """Wait before the next try after ``attempts`` failures (seconds)."""
    return float(min(2 ** max(attempts - 1, 0), cap))


@dataclass(frozen=True)
class Outbox:
    """An outbox table and how its rows are delivered. ``destination``: the column whose value
    gets one message at a time (an integration, a recipient); ``lane``: the column whose
    messages leave strictly in order (an event, a recipient)."""

    table: str
    destination: str
    lane: str
    entrypoint: str
    lock_class: int  # first key of pg_advisory_xact_lock(int, int): one per table

    def _sql(self, text: str) -> str:
        return text.format(t=self.table, dest=self.destination, lane=self.lane)

    @property
    def next_sql(self) -> str:
        """$1 destination -> id of its next message, due and free to go now (or none); $2: a
        job whose own lease does not count (it died mid-try and runs again)."""
        return self._sql("""
SELECT m.id FROM {t} m
WHERE m.{dest} = $1 AND m.status = 'pending' AND m.next_attempt_at <= now()
  AND (m.sending_until IS NULL OR m.sending_until <= now() OR m.sending_job = $2)
  AND NOT EXISTS (SELECT 1 FROM {t} p
                  WHERE p.{lane} = m.{lane} AND p.id < m.id AND p.status <> 'delivered')
ORDER BY m.id LIMIT 1""")

    @property
    def state_sql(self) -> str:
        """$1 id -> the row's state as the handler needs it."""
        return self._sql("""
SELECT m.status, m.{dest} AS destination,
       m.next_attempt_at > now() AS waiting,
       greatest(extract(epoch FROM m.next_attempt_at - now()), 0)::float8 AS wait_s,
       coalesce(m.sending_until > now(), false) AS leased, m.sending_job,
       greatest(extract(epoch FROM m.sending_until - now()), 0)::float8 AS lease_left_s,
       EXISTS (SELECT 1 FROM {t} f WHERE f.{dest} = m.{dest} AND f.id <> m.id
               AND f.status = 'pending' AND f.sending_until > now()) AS busy
FROM {t} m WHERE m.id = $1""")

    @property
    def destination_sql(self) -> str:
        return self._sql("SELECT {dest} FROM {t} WHERE id = $1")

    @property
    def claim_sql(self) -> str:
        return self._sql(
            "UPDATE {t} SET sending_until = now() + make_interval(secs => $2), sending_job = $3 WHERE id = $1"
        )

    @property
    def delivered_sql(self) -> str:
        return self._sql("""
UPDATE {t} SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
    last_error = NULL, sending_until = NULL, sending_job = NULL
WHERE id = $1""")

    @property
    def failed_sql(self) -> str:
        return self._sql("""
UPDATE {t} SET attempts = attempts + 1, last_error = $2,
    status = CASE WHEN attempts + 1 >= $3 THEN 'dead' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $4), sending_until = NULL, sending_job = NULL
WHERE id = $1 RETURNING status, attempts""")

    @property
    def retry_sql(self) -> str:
        return self._sql("""
UPDATE {t} SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
    sending_until = NULL, sending_job = NULL
WHERE id = $1 AND status = 'dead' RETURNING id""")

    @property
    def attempts_sql(self) -> str:
        return self._sql("SELECT attempts FROM {t} WHERE id = $1")

    @property
    def counts_sql(self) -> str:
        return self._sql("""
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'delivered') AS delivered,
       count(*) FILTER (WHERE status = 'dead') AS dead
FROM {t}""")

    @property
    def idle_sql(self) -> str:
        """Destinations with a due message and nothing in flight (for the sweep)."""
        return self._sql("""
SELECT DISTINCT m.{dest} AS destination FROM {t} m
WHERE m.status = 'pending' AND m.next_attempt_at <= now()
  AND NOT EXISTS (SELECT 1 FROM {t} f WHERE f.{dest} = m.{dest}
                  AND f.status = 'pending' AND f.sending_until > now())""")


@dataclass(frozen=True)
class Policy:
    """Attempts before a message is dead, the longest backoff, and the lease of one try
    (longer than the HTTP timeout: a sender that died mid-try frees its message after it)."""

    max_attempts: int
    backoff_max_s: float
    lease_s: float


async def _lock(connection: asyncpg.Connection, box: Outbox, destination: int) -> None:
    # Everything that decides who sends next for a destination runs under this lock.
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1::int4, ($2::bigint % 2147483647)::int4)", box.lock_class, destination
    )


async def queue_next(connection: asyncpg.Connection, box: Outbox, destination: int) -> int | None:
    """Queue the job of the destination's next message, if one may go now (caller holds the
    lock, or is the sweep: an extra job is harmless)."""
    message_id = await connection.fetchval(box.next_sql, destination, None)
    if message_id is not None:
        await enqueue(connection, box.entrypoint, {"id": message_id})
    return message_id


async def enqueue_message(connection: asyncpg.Connection, box: Outbox, message_id: int) -> None:
    """The job of a message just written (in the writer's transaction)."""
    await enqueue(connection, box.entrypoint, {"id": message_id})


async def retry_dead(connection: asyncpg.Connection, box: Outbox, message_id: int) -> bool:
    """Make a dead message pending again and queue its job (one transaction)."""
    async with connection.transaction():
        if await connection.fetchval(box.retry_sql, message_id) is None:
            return False
        await enqueue_message(connection, box, message_id)
    return True


async def deliver(
    pool: asyncpg.Pool,
    box: Outbox,
    message_id: int,
    *,
    job_id: int,
    load: Load,
    send: Send,
    policy: Policy,
) -> None:
    """Run the job ``job_id``: "deliver row ``message_id``" (see the module docstring)."""
    retry_in: float | None = None
    async with pool.acquire() as connection, connection.transaction():
        destination = await connection.fetchval(box.destination_sql, message_id)
        if destination is None:
            return
        await _lock(connection, box, destination)
        state = await connection.fetchrow(box.state_sql, message_id)
        if state["status"] != "pending":
            return  # delivered or dead meanwhile: this job is a spare
        if state["leased"] and state["sending_job"] != job_id:
            return  # another job is trying it; when it is done it queues what comes next
        if state["waiting"]:
            retry_in = state["wait_s"]  # backoff: this job is the one that tries again
        elif state["busy"]:
            return  # the message in flight queues the next one when it is done
        elif await connection.fetchval(box.next_sql, destination, job_id) != message_id:
            await queue_next(connection, box, destination)  # not its turn: start whose it is
            return
        else:
            # (a lease of this very job: it died mid-try and runs again; the receiver gets
            # the same idempotency key again)
            await connection.execute(box.claim_sql, message_id, policy.lease_s, job_id)
            message = await load(connection, message_id)
    if retry_in is not None:
        raise RetryRequested(delay=timedelta(seconds=retry_in), reason="not due yet")

    try:
        error = await send(message)  # no transaction, no connection held
    except Exception as failure:  # a bad URL, say: recorded like any failed try
        error = f"{type(failure).__name__}: {failure}"

    async with pool.acquire() as connection, connection.transaction():
        await _lock(connection, box, destination)
        if error is None:
            await connection.execute(box.delivered_sql, message_id)
            status = "delivered"
        else:
            attempts = await connection.fetchval(box.attempts_sql, message_id)
            wait = backoff_seconds(attempts + 1, policy.backoff_max_s)
            row = await connection.fetchrow(
                box.failed_sql, message_id, error[:500], policy.max_attempts, wait
            )
            status = row["status"]
            log.warning(
                "%s %s (to %s) failed: %s; %s",
                box.table,
                message_id,
                destination,
                error,
                "dead" if status == "dead" else f"next try in {wait:.0f} s",
            )
        await queue_next(connection, box, destination)
    if status == "pending":
        raise RetryRequested(delay=timedelta(seconds=wait), reason=error)


async def sweep(connection: asyncpg.Connection, box: Outbox) -> int:
    """Queue the next message of every idle destination that has one due: a safety net for
    messages whose job was lost (a handler that crashed, rows older than the job queue)."""
    queued = 0
    for row in await connection.fetch(box.idle_sql):
        async with connection.transaction():
            await _lock(connection, box, row["destination"])
            queued += await queue_next(connection, box, row["destination"]) is not None
    return queued
