"""One console line a minute of what happened (``gridsvc up`` / ``serve`` at a terminal).

Instead of one JSON line per request on stdout, a person watching the console sees::

    10:42:00 last minute: 3 work orders in, 2 dispatched, 0 overdue, 0 errors

Work orders in and dispatched are counted in the database (every process's work), overdue
counts open events whose deadline passed in the minute, errors are the ERROR log lines of
this process. The minute is the app's clock (``app.state.clock``): tests freeze it and
advance it instead of waiting a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from gridsvc.clock import Clock
from gridsvc.observability.logs import CONSOLE_LOGGER, error_counter
from gridsvc.settings import Settings

log = logging.getLogger(CONSOLE_LOGGER)

# $1, $2: the window [since, until) on the app's clock.
WINDOW_COUNTS = """
SELECT
  (SELECT count(*) FROM events WHERE received_at >= $1 AND received_at < $2) AS received,
  (SELECT count(*) FROM events WHERE dispatched_at >= $1 AND dispatched_at < $2) AS dispatched,
  (SELECT count(*) FROM events WHERE due_at >= $1 AND due_at < $2
     AND state NOT IN ('closed', 'suspended')) AS overdue
"""


def resolve_log_format(choice: str, *, isatty: bool) -> str:
    """``auto``: the calm console for a person at a terminal, JSON lines for a collector
    (systemd, docker, a pipe) — what production gets when stdout is not a terminal."""
    if choice == "auto":
        return "console" if isatty else "json"
    return choice


def summary_line(*, received: int, dispatched: int, overdue: int, errors: int, minutes: float) -> str:
    span = "last minute" if round(minutes) <= 1 else f"last {round(minutes)} minutes"
    return (
        f"{span}: {received} work orders in, {dispatched} dispatched, {overdue} overdue, "
        f"{errors} error{'' if errors == 1 else 's'}"
    )


class ConsoleSummary:
    """Writes a summary line (logger ``gridsvc.console``) each time ``every_s`` has passed on
    ``clock``; looks at the clock every ``poll_s`` seconds of real time."""

    def __init__(
        self, pool: asyncpg.Pool, *, clock: Clock, every_s: float = 60.0, poll_s: float = 1.0
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._every = timedelta(seconds=every_s)
        self._poll_s = poll_s
        self._since: datetime = clock.now()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # how often the clock was looked at (tests wait on it)
        self.lines = 0

    async def start(self) -> None:
        self._since = self._clock.now()
        error_counter().take()  # errors before the start are not this minute's
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError) as error:
                # The database is away: say so once per minute, keep counting errors.
                log.warning("summary unavailable: %s", error)
                self._since = self._clock.now()
            self.polls += 1

    async def tick(self) -> str | None:
        """The line written if a period has passed, else None."""
        now = self._clock.now()
        if now - self._since < self._every:
            return None
        row = await self._pool.fetchrow(WINDOW_COUNTS, self._since, now)
        line = summary_line(
            received=row["received"],
            dispatched=row["dispatched"],
            overdue=row["overdue"],
            errors=error_counter().take(),
            minutes=(now - self._since).total_seconds() / 60,
        )
        self._since = now
        log.info(line)
        self.lines += 1
        return line


Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def with_console_summary(lifespan: Lifespan, *, settings: Settings, clock: Clock) -> Lifespan:
    """``lifespan`` plus, in console mode, the summary (kept in ``app.state.console``)."""

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[None]:
        async with lifespan(app):
            if not (settings.log_console and settings.console_summary):
                yield
                return
            summary = ConsoleSummary(
                app.state.pool,
                clock=clock,
                every_s=settings.console_summary_s,
                poll_s=settings.console_poll_s,
            )
            app.state.console = summary
            await summary.start()
            try:
                yield
            finally:
                await summary.stop()

    return wrapped
