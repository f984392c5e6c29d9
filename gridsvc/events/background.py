"""The SLA checker: finds stages that ran over their deadline and raises 督办 escalations."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gridsvc.events.supervision import escalate_overdue

log = logging.getLogger("gridsvc.sla")


class SlaChecker:
    def __init__(self, pool: asyncpg.Pool, interval_s: float) -> None:
        self._pool = pool
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as connection:
                    raised = await escalate_overdue(connection)
                if raised:
                    log.info("督办: %d overdue stages escalated", raised)
            except (OSError, asyncpg.PostgresError) as error:
                log.error("SLA checker: %s", error)
            await asyncio.sleep(self._interval)
