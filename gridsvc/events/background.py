"""The SLA checker: finds stages that ran over their deadline and raises 督办 escalations."""

from __future__ import annotations

import logging

import asyncpg

from gridsvc.background import NotifiedWorker
from gridsvc.events.supervision import escalate_overdue

log = logging.getLogger("gridsvc.sla")


class SlaChecker(NotifiedWorker):
    """Looks for overdue stages every ``interval_s`` seconds (deadlines pass without any
    database change to be notified of)."""

    name = "SLA checker"

    def __init__(self, pool: asyncpg.Pool, interval_s: float) -> None:
        super().__init__(pool, channel=None, idle_s=interval_s)

    async def work(self, connection: asyncpg.Connection) -> int:
        raised = await escalate_overdue(connection)
        if raised:
            log.info("督办: %d overdue stages escalated", raised)
        return 0  # one pass per interval, whatever was found
