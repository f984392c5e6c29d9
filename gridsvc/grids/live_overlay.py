"""Keeps every app process's in-memory overlay current: reloads on NOTIFY after imports.

The process's one :class:`~gridsvc.listener.Listener` delivers ``gridsvc_overlay`` (sent
when a layer version is committed); after a lost connection it asks for a resync, and the
holder reloads if the generation moved meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gridsvc.grids import queries
from gridsvc.grids.lookup import Overlay
from gridsvc.grids.service import load_overlay
from gridsvc.listener import Gap, Listener

log = logging.getLogger("gridsvc.overlay")
CHANNEL = "gridsvc_overlay"
DEBOUNCE_S = 0.2  # one import sends several notifications; coalesce them into one reload


class OverlayHolder:
    """The current :class:`Overlay`, swapped whole when a layer version is committed."""

    def __init__(self, pool: asyncpg.Pool, listener: Listener) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        # Set by every NOTIFY; cleared when a reload starts. A NOTIFY that arrives while a
        # reload is reading may describe data that reload did not see: reload once more.
        self._dirty = False
        self.current = Overlay(layers={})
        listener.on(CHANNEL, self._on_notify)
        listener.on_resync(self._resync)

    async def start(self) -> None:
        await self.reload()

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()

    async def reload(self) -> Overlay:
        async with self._lock:
            async with (
                self._pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                # one snapshot: the generation and the layers it names agree
                self.current = await load_overlay(connection)
            log.info(
                "overlay loaded: generation %s, layers %s",
                self.current.generation,
                sorted(self.current.layers),
            )
            return self.current

    def _on_notify(self, _payload: str) -> None:
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._debounced_reload())

    async def _debounced_reload(self) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        while self._dirty:
            self._dirty = False
            try:
                await self.reload()
            except Exception:  # keep serving the previous overlay rather than none
                log.exception("overlay reload failed; still serving generation %s", self.current.generation)
                return

    async def _resync(self, _gap: Gap) -> None:
        """After a lost LISTEN: reload if an import was committed meanwhile."""
        generation = await self._pool.fetchval(queries.OVERLAY_GENERATION)
        if generation != self.current.generation:
            log.info("overlay generation moved to %s while not listening", generation)
            await self.reload()
