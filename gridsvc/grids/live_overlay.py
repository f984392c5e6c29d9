"""Keeps every app process's in-memory overlay current: reloads on NOTIFY after imports."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from gridsvc.grids.lookup import Overlay
from gridsvc.grids.service import load_overlay

log = logging.getLogger("gridsvc.overlay")
CHANNEL = "gridsvc_overlay"


class OverlayHolder:
    """The current :class:`Overlay`, swapped whole when a layer version is committed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        self._pending: asyncio.Task[None] | None = None
        self.current = Overlay(layers={})

    async def start(self) -> None:
        await self.reload()
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._listener is not None:
            await self._listener.remove_listener(CHANNEL, self._on_notify)
            await self._pool.release(self._listener)
            self._listener = None

    async def reload(self) -> Overlay:
        async with self._lock:
            self.current = await load_overlay(self._pool)
            log.info("overlay loaded: generation %s, layers %s", self.current.generation,
                     sorted(self.current.layers))
            return self.current

    def _on_notify(self, *_: Any) -> None:
        # One import sends several notifications; coalesce them into one reload.
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._debounced_reload())

    async def _debounced_reload(self) -> None:
        await asyncio.sleep(0.2)
        try:
            await self.reload()
        except Exception:  # keep serving the previous overlay rather than none
            log.exception("overlay reload failed; still serving generation %s",
                          self.current.generation)
