"""One LISTEN connection per app process, kept alive across database restarts (core).

Every part of a process that reacts to PostgreSQL ``NOTIFY`` (the in-memory grid overlay,
the ETA holder's roads and squads, the live hub's SSE fan-out) registers here instead of
pinning a pool connection of its own:

- ``listener.on(channel, handler)``: ``handler(payload)`` is called (synchronously, on the
  event loop: it should only note the change and wake its own worker) for each NOTIFY;
- ``listener.on_resync(resync)``: ``await resync(gap)`` after the connection was lost and
  is back, once the channels are listened to again: whatever was notified in between is
  gone, so each subscriber re-reads what it may have missed (``gap.alive_at`` is the
  database's clock when the old connection was last known to work).

The connection is a dedicated asyncpg connection, not one of the pool's: the pool hands its
connections to requests and replaces them freely, which a long-lived LISTEN cannot survive.
A loss is noticed at once when the server closes the socket (terminated backend, restart:
asyncpg's termination listener), and within ``health_interval_s`` + ``health_timeout_s``
when the network silently drops it (a periodic ``SELECT``). Reconnects back off
exponentially (``backoff_initial_s`` doubling up to ``backoff_max_s``), so a database that
is back is heard again within ``backoff_max_s`` plus one connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

log = logging.getLogger("gridsvc.listener")

Handler = Callable[[str], None]
APPLICATION_NAME = "gridsvc-listener"  # how operators (and tests) find the LISTEN backends
RESYNC_ATTEMPTS = 5


@dataclass(frozen=True)
class Gap:
    """What a resync is told about the interruption it follows."""

    alive_at: datetime | None  # database clock: the old connection last answered then
    lost_for_s: float  # seconds between noticing the loss and listening again
    reconnects: int  # how many times this listener has reconnected so far


Resync = Callable[[Gap], Awaitable[None]]


class Listener:
    """The process's one LISTEN connection: dispatch, loss detection, reconnect, resync."""

    def __init__(
        self,
        url: str,
        *,
        health_interval_s: float = 5.0,
        health_timeout_s: float = 3.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 1.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._health_interval_s = health_interval_s
        self._health_timeout_s = health_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._connect_timeout_s = connect_timeout_s
        self._handlers: dict[str, list[Handler]] = {}
        self._resyncs: list[Resync] = []
        self._connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.alive_at: datetime | None = None
        self.reconnects = 0  # for /health, tests and the faults benchmark
        self.notifications = 0
        self.backend_pid: int | None = None

    # -- registration -----------------------------------------------------------------

    def on(self, channel: str, handler: Handler) -> None:
        """Call ``handler(payload)`` for every NOTIFY on ``channel`` (from now on)."""
        first = channel not in self._handlers
        self._handlers.setdefault(channel, []).append(handler)
        connection = self._connection
        if first and connection is not None and not connection.is_closed():
            # Registered after start: LISTEN on the live connection too (a loss meanwhile
            # is handled by the reconnect, which listens on every registered channel).
            self._spawn(self._listen(connection, channel))

    def on_resync(self, resync: Resync) -> None:
        """Call ``await resync(gap)`` each time the connection is back after a loss."""
        self._resyncs.append(resync)

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed() and not self._lost.is_set()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and LISTEN (a failure here is raised: the app cannot start without a
        database anyway), then keep the connection alive in the background."""
        self._closing = False
        self._lost.clear()
        self._connection = await self._connect()
        self._supervisor = asyncio.create_task(self._supervise(), name="gridsvc-listener")

    async def stop(self) -> None:
        self._closing = True
        tasks = [t for t in (self._supervisor, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._supervisor = None
        await self._close()

    # -- internals --------------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._url, timeout=self._connect_timeout_s, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            connection.add_termination_listener(self._on_terminated)
            for channel in self._handlers:
                await connection.add_listener(channel, self._dispatch)
            self.alive_at = await connection.fetchval("SELECT clock_timestamp()")
            self.backend_pid = connection.get_server_pid()
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _listen(self, connection: asyncpg.Connection, channel: str) -> None:
        try:
            await connection.add_listener(channel, self._dispatch)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("listener: LISTEN %s failed (%s); reconnecting", channel, error)
            self._lost.set()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        connection.remove_termination_listener(self._on_terminated)
        if connection.is_closed():
            return
        try:
            await asyncio.wait_for(connection.close(), timeout=2)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            connection.terminate()

    def _on_terminated(self, _connection: Any) -> None:
        if not self._closing:
            self._lost.set()

    def _dispatch(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        for handler in self._handlers.get(channel, ()):
            try:
                handler(payload)
            except Exception:  # one subscriber's bug must not starve the others
                log.exception("listener: handler for %s failed", channel)

    async def _supervise(self) -> None:
        while True:
            await self._until_lost()
            lost_at = asyncio.get_running_loop().time()
            alive_at = self.alive_at
            log.warning("listener: LISTEN connection lost; reconnecting")
            await self._close()
            await self._reconnect()
            self.reconnects += 1
            gap = Gap(
                alive_at=alive_at,
                reconnects=self.reconnects,
                lost_for_s=asyncio.get_running_loop().time() - lost_at,
            )
            log.warning("listener: listening again after %.1f s; resyncing", gap.lost_for_s)
            # Resyncs run beside the supervisor so that a drop during one is noticed too.
            for resync in list(self._resyncs):
                self._spawn(self._resync(resync, gap))

    async def _until_lost(self) -> None:
        """Return once the connection is known to be gone (closed or not answering)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self._health_interval_s)
            connection = self._connection
            if self._lost.is_set() or connection is None or connection.is_closed():
                return
            try:
                self.alive_at = await asyncio.wait_for(
                    connection.fetchval("SELECT clock_timestamp()"), timeout=self._health_timeout_s
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    async def _reconnect(self) -> None:
        delay = self._backoff_initial_s
        while True:
            self._lost.clear()
            try:
                self._connection = await self._connect()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.info("listener: database not reachable yet (%s); retry in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max_s)
                continue
            if not self._lost.is_set():
                return
            await self._close()  # lost again while listening: start over

    async def _resync(self, resync: Resync, gap: Gap) -> None:
        delay = self._backoff_initial_s
        for attempt in range(1, RESYNC_ATTEMPTS + 1):
            try:
                await resync(gap)
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # The pool's connections died with the old server; they come back on use.
                log.warning(
                    "listener: resync %s failed (attempt %d): %s",
                    getattr(resync, "__qualname__", resync),
                    attempt,
                    error,
                )
            except Exception:  # a bug in one subscriber: log it, the others still resync
                log.exception("listener: resync %r failed", resync)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_s)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
