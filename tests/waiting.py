"""Waiting on a condition instead of sleeping a fixed time.

A test that needs something to have happened (a server started, a NOTIFY heard, a row
written by a background worker) polls for it with :func:`wait_until` (threads, sync tests)
or :func:`await_until` (async tests): it goes on as soon as the condition holds and fails
with a clear message when it does not hold in time. The short poll interval is
the only sleep; nothing waits "long enough" for an ordering to settle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    *,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """The first truthy value of ``predicate()``, polled every ``interval`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], T | None | Awaitable[T | None]],
    within: float = 10.0,
    *,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """Like :func:`wait_until` without blocking the event loop; ``predicate`` may be async."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {within} s")
        await asyncio.sleep(interval)
