"""Delivering hotline feedback from the transactional outbox.

Each message is POSTed to its integration's callback URL, signed like the webhook
(``X-Timestamp``, ``X-Signature``) with an ``Idempotency-Key`` the receiver can deduplicate
on. A 2xx answer marks it delivered; anything else retries with exponential backoff (1 s,
2 s, 4 s ... capped), and after the last attempt the message goes to the dead-letter view.
Messages of one event leave strictly in order: a later one waits while an earlier one is
pending or dead.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx

from gridsvc.background import HttpWorker
from gridsvc.outbox import queries
from gridsvc.settings import Settings
from gridsvc.webhooks.signing import post_signed

log = logging.getLogger("gridsvc.outbox")
CHANNEL = "gridsvc_outbox"


def backoff_seconds(attempts: int, cap: float) -> float:
    """Wait before the next try after ``attempts`` failures (seconds)."""
    return float(min(2 ** max(attempts - 1, 0), cap))


async def deliver_due(connection: asyncpg.Connection, *, client: httpx.AsyncClient,
                      settings: Settings, batch: int = 20) -> int:
    """Deliver the messages due now; returns how many were tried."""
    async with connection.transaction():
        rows = await connection.fetch(queries.CLAIM, batch)
        for row in rows:
            error = await _post(client, row)
            if error is None:
                await connection.execute(queries.DELIVERED, row["id"])
            else:
                wait = backoff_seconds(row["attempts"] + 1, settings.outbox_backoff_max_s)
                await connection.execute(queries.FAILED, row["id"], error[:500],
                                         settings.outbox_max_attempts, wait)
                log.warning("outbox %s (event %s, %s) failed: %s; next try in %.0f s",
                            row["id"], row["event_id"], row["kind"], error, wait)
    return len(rows)


async def _post(client: httpx.AsyncClient, row: asyncpg.Record) -> str | None:
    if not row["callback_url"]:
        return f"integration {row['integration']} has no callback URL"
    return await post_signed(client, row["callback_url"], secret=row["secret"],
                             payload=row["payload"], idempotency_key=row["idempotency_key"],
                             headers={"X-Integration": row["integration"]})


class OutboxSender(HttpWorker):
    """Delivers the outbox from inside an app process."""

    name = "outbox sender"

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        super().__init__(pool, channel=CHANNEL, idle_s=1.0)
        self._settings = settings

    async def work(self, connection: asyncpg.Connection) -> int:
        return await deliver_due(connection, client=self.client, settings=self._settings)


async def list_messages(connection: asyncpg.Connection | asyncpg.Pool, *, status: str | None,
                        event_id: int | None, limit: int,
                        integration_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; ``integration_id``: only that integration's messages."""
    return [dict(r) for r in await connection.fetch(queries.LIST, status, event_id, limit,
                                                    integration_id)]


async def retry(connection: asyncpg.Connection | asyncpg.Pool, *, message_id: int) -> bool:
    return await connection.fetchval(queries.RETRY, message_id) is not None


async def stats(connection: asyncpg.Connection | asyncpg.Pool, *,
                integration_id: int | None = None) -> dict[str, Any]:
    return dict(await connection.fetchrow(queries.STATS, integration_id))
