"""Delivering hotline feedback from the transactional outbox.

Each message is POSTed to its integration's callback URL, signed like the webhook
(``X-Timestamp``, ``X-Signature``) with an ``Idempotency-Key`` the receiver can deduplicate
on. A 2xx answer marks it delivered; anything else retries with exponential backoff (1 s,
2 s, 4 s ... capped), and after the last attempt the message goes to the dead-letter view.
Messages of one event leave strictly in order: a later one waits while an earlier one is
pending or dead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
import httpx

from gridsvc.outbox import queries
from gridsvc.settings import Settings
from gridsvc.webhooks.signing import signed_headers

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
    body = json.dumps(row["payload"], ensure_ascii=False).encode()
    headers = signed_headers(row["secret"], body, integration=row["integration"])
    headers["Idempotency-Key"] = row["idempotency_key"]
    try:
        response = await client.post(row["callback_url"], content=body, headers=headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


class OutboxSender:
    """Background sender inside an app process: wakes on NOTIFY, else polls every second."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(CHANNEL, self._on_notify)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._listener is not None:
            await self._listener.remove_listener(CHANNEL, self._on_notify)
            await self._pool.release(self._listener)
            self._listener = None

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                try:
                    async with self._pool.acquire() as connection:
                        tried = await deliver_due(connection, client=client,
                                                  settings=self._settings)
                except (OSError, asyncpg.PostgresError) as error:
                    log.error("outbox sender: %s", error)
                    tried = 0
                if tried == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                    except TimeoutError:
                        pass


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
