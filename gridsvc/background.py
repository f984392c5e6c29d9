"""Background workers inside an app process: wake on a PostgreSQL NOTIFY, else on a timer.

Every app process runs its own copy; the work itself is claimed in the database
(``FOR UPDATE SKIP LOCKED``), so any number of processes share it safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import httpx

log = logging.getLogger("gridsvc.background")


class NotifiedWorker:
    """Calls :meth:`work` until it reports nothing done, then sleeps until a NOTIFY on
    ``channel`` or ``idle_s`` seconds, whichever comes first.

    Subclasses implement ``work(connection) -> int`` (how much was done) and may override
    :meth:`opened` / :meth:`closed` for resources that live as long as the worker.
    """

    name = "worker"

    def __init__(self, pool: asyncpg.Pool, *, channel: str | None, idle_s: float) -> None:
        self._pool = pool
        self._channel = channel
        self._idle_s = idle_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def work(self, connection: asyncpg.Connection) -> int:
        raise NotImplementedError

    async def opened(self) -> None:
        """Acquire what the worker keeps while it runs (an HTTP client, say)."""

    async def closed(self) -> None:
        """Release what :meth:`opened` acquired."""

    async def start(self) -> None:
        if self._channel is not None:
            self._listener = await self._pool.acquire()
            await self._listener.add_listener(self._channel, self._on_notify)
        await self.opened()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None and self._channel is not None:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self._listener.remove_listener(self._channel, self._on_notify)
            await self._pool.release(self._listener)
            self._listener = None
        await self.closed()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as connection:
                    done = await self.work(connection)
            except (OSError, asyncpg.PostgresError) as error:
                # A database restart or a lost connection: log it and try again later.
                log.error("%s: %s", self.name, error)
                done = 0
            if done == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)


class HttpWorker(NotifiedWorker):
    """A :class:`NotifiedWorker` that keeps one HTTP client (connection reuse) while it runs."""

    def __init__(self, pool: asyncpg.Pool, *, channel: str | None, idle_s: float,
                 timeout_s: float = 10.0) -> None:
        super().__init__(pool, channel=channel, idle_s=idle_s)
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "start() the worker first"
        return self._client

    async def opened(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s)

    async def closed(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
