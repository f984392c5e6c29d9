"""Hotline feedback: the transactional outbox of 12345 callbacks.

A state the hotline cares about is committed together with its outbox row and the job that
delivers it (:func:`enqueue_feedback`, on the caller's connection and transaction). The job
(entrypoint ``callbacks.deliver``, run by :mod:`gridsvc.background`) POSTs the row to the
integration's callback URL, signed like the webhook (``X-Timestamp``, ``X-Signature``) with
the row's ``Idempotency-Key`` on every try. Order is kept per event; each integration has at
most one callback in flight, so a slow receiver holds back only its own callbacks
(:mod:`gridsvc.jobs.delivery`). Failed tries back off (1 s, 2 s, 4 s ... capped) and after the
last attempt the message is dead: ``GET /outbox?status=dead`` and ``POST /outbox/{id}/retry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from gridsvc.jobs import delivery
from gridsvc.outbox import queries

OUTBOX = delivery.Outbox(
    table="outbox",
    destination="integration_id",
    lane="event_id",
    entrypoint="callbacks.deliver",
    lock_class=0x6F7574,
)


async def enqueue_feedback(
    connection: asyncpg.Connection,
    *,
    event_id: int,
    integration_id: int,
    kind: str,
    payload: dict[str, Any],
    idempotency_key: str,
) -> int | None:
    """Write one callback and queue its delivery, in the caller's transaction. Returns the
    message id (None when a message with this idempotency key exists already)."""
    message_id = await connection.fetchval(
        queries.INSERT, event_id, integration_id, kind, payload, idempotency_key
    )
    if message_id is not None:
        await delivery.enqueue_message(connection, OUTBOX, message_id)
    return message_id


async def load(connection: asyncpg.Connection, message_id: int) -> Mapping[str, Any]:
    """The message as a try sends it (with its integration's URL and secret)."""
    return dict(await connection.fetchrow(queries.LOAD, message_id))


async def list_messages(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    status: str | None,
    event_id: int | None,
    limit: int,
    integration_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``integration_id``: only that integration's messages."""
    return [dict(r) for r in await connection.fetch(queries.LIST, status, event_id, limit, integration_id)]


async def retry(pool: asyncpg.Pool, *, message_id: int) -> bool:
    """Send a dead message again (pending, attempts reset, its job queued)."""
    async with pool.acquire() as connection:
        return await delivery.retry_dead(connection, OUTBOX, message_id)


async def stats(
    connection: asyncpg.Connection | asyncpg.Pool, *, integration_id: int | None = None
) -> dict[str, Any]:
    return dict(await connection.fetchrow(queries.STATS, integration_id))
