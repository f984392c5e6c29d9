"""The one source of "now" (core: imports no domain).

Code that decides something by time (deadlines, SLA status, staleness of a position, the
webhook's timestamp window, "closed today") asks a :class:`Clock` instead of calling
``datetime.now`` or ``time.time``, so that tests can freeze and advance time instead of
sleeping. The app keeps its clock in ``app.state.clock`` (``create_app(settings, clock=...)``);
services take it as a keyword argument, defaulting to :data:`SYSTEM`.

Timestamps written by PostgreSQL's ``now()`` (audit rows, ``updated_at``) stay on the
database's clock: they record when something happened, they decide nothing.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and cache ages)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def timestamp(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to (tests): ``clock.advance(seconds=90)``."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._mono = 1_000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(
        self, *, seconds: float = 0.0, minutes: float = 0.0, hours: float = 0.0, days: float = 0.0
    ) -> datetime:
        step = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if step < timedelta(0):
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += step
            self._mono += step.total_seconds()
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("set() needs a timezone-aware time")
        with self._lock:
            step = (when.astimezone(UTC) - self._now).total_seconds()
            if step < 0:
                raise ValueError("a clock does not go back")
            self._now = when.astimezone(UTC)
            self._mono += step


SYSTEM = SystemClock()


def timestamp_of(clock: Clock) -> float:
    """Unix seconds of ``clock``'s now."""
    return clock.now().timestamp()
