"""Moving closed events out of the live tables into schema ``archive``, and reading them back.

A run works in batches of ``batch_size`` events, each in a transaction of its own: the live
desk waits at most for one batch (a few seconds at 5,000 events), never for the whole run,
and a run that stops half-way (an error, Ctrl-C) leaves whole batches moved and the rest
live; running it again carries on where it stopped (a moved event is no longer a candidate).

What stays live although closed and old enough: the 并单 original of an event that stays (an
open duplicate, or one outside the period), and events with a hotline callback or notice
still waiting to be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg

from gridsvc.archive import queries
from gridsvc.archive.models import TABLES, ArchiveInvalid, ArchiveRequest, ArchiveResult
from gridsvc.clock import SYSTEM, Clock

# Copied rows of target_violations stay live too (unlinked by their foreign key's SET NULL):
# a target's violations count toward the negative list whatever the age of the event.
KEPT_LIVE = frozenset({"target_violations"})


def day_start(day: date) -> datetime:
    """An archive day starts at 00:00 UTC (the period is for housekeeping; a few hours of a
    time zone either way do not matter, one fixed rule does)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def parse_day(field: str, text: str) -> datetime:
    try:
        return day_start(date.fromisoformat(text))
    except ValueError:
        raise ArchiveInvalid(field, f"{text!r} is not a date like 2021-01-01") from None


async def check(
    connection: asyncpg.Connection, *, request: ArchiveRequest, clock: Clock = SYSTEM
) -> list[int] | None:
    """Refuse a request that makes no sense before anything moves; answer the enforcement
    grid ids of its jurisdiction (None: every event)."""
    now = clock.now()
    if request.before > now:
        raise ArchiveInvalid(
            "before",
            f"{request.before.date()} is in the future (today is {now.date()}): only the past is archived",
        )
    if request.since is not None and request.since >= request.before:
        raise ArchiveInvalid(
            "since", f"{request.since.date()} is not before --before ({request.before.date()})"
        )
    if request.batch_size < 1:
        raise ArchiveInvalid("batch_size", "must be at least 1")
    if request.jurisdiction is None:
        return None
    if not await connection.fetchval(queries.JURISDICTION_EXISTS, request.jurisdiction):
        raise ArchiveInvalid("jurisdiction", f"no jurisdiction {request.jurisdiction!r}")
    grids = await connection.fetchval(queries.JURISDICTION_GRIDS, request.jurisdiction)
    return list(grids)


async def count_candidates(
    connection: asyncpg.Connection, *, request: ArchiveRequest, clock: Clock = SYSTEM
) -> int:
    """How many events a run would consider (its progress bar's total)."""
    grids = await check(connection, request=request, clock=clock)
    return int(await connection.fetchval(queries.COUNT_ELIGIBLE, request.before, request.since, grids))


async def archive(
    connection: asyncpg.Connection,
    *,
    request: ArchiveRequest,
    clock: Clock = SYSTEM,
    progress: Callable[[int], None] | None = None,
) -> ArchiveResult:
    """Move the request's events and their rows; ``progress(n)`` after each batch of n events."""
    grids = await check(connection, request=request, clock=clock)
    params = (request.before, request.since, grids)
    result = ArchiveResult(request=request)
    in_period = int(await connection.fetchval(queries.COUNT_IN_PERIOD, *params))
    eligible = int(await connection.fetchval(queries.COUNT_ELIGIBLE, *params))
    result.kept_pending = in_period - eligible
    after = 0
    # ids moved ahead of the cursor (duplicates taken with their original): a dry run, which
    # moves nothing for good, must not count them again when the cursor reaches them
    ahead: set[int] = set()
    while True:
        transaction = connection.transaction()
        await transaction.start()
        try:
            ids, after, kept = await _batch_ids(connection, params, after, request.batch_size, ahead)
            if not ids and after == 0:
                await transaction.rollback()
                break
            moved = await _move(connection, ids) if ids else {}
        except BaseException:
            await transaction.rollback()
            raise
        if request.dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
        ahead = {i for i in ahead | set(ids) if i > after}
        result.kept_linked += kept
        for table, n in moved.items():
            result.moved[table] += n
        if ids:
            result.batches += 1
        if progress is not None:
            progress(len(ids) + kept)
    return result


async def _batch_ids(
    connection: asyncpg.Connection, params: tuple[Any, ...], after: int, size: int, ahead: set[int]
) -> tuple[list[int], int, int]:
    """(the batch's event ids, the cursor for the next batch (0: none left), how many were
    kept live as 并单 originals of events that stay)."""
    first = [r["id"] for r in await connection.fetch(queries.CANDIDATES, *params, after, size)]
    if not first:
        return [], 0, 0
    members = set(first) - ahead
    kept: set[int] = set()
    # A fixed point: add the eligible duplicates of members, drop members that an event
    # staying live names as its original (which may make their own originals stay, ...).
    while True:
        ids = sorted(members)
        added = {r["id"] for r in await connection.fetch(queries.DUPLICATES_TO_ADD, *params, ids)}
        members |= added
        blocked = {
            r["duplicate_of"] for r in await connection.fetch(queries.LINKED_FROM_OUTSIDE, sorted(members))
        }
        members -= blocked
        kept |= blocked
        if not added and not blocked:
            break
    return sorted(members), max(first), len(kept - members)


async def _move(connection: asyncpg.Connection, ids: list[int]) -> dict[str, int]:
    """Copy every row of the events ``ids`` into the archive, then delete them children first;
    a table whose deleted count differs from its copied count fails the batch (rolled back)."""
    copied = {table: _count(await connection.execute(queries.copy(table), ids)) for table in TABLES}
    await connection.execute(queries.COUNT_ESCALATIONS, ids)
    for table in reversed(TABLES):
        if table in KEPT_LIVE:
            continue
        deleted = _count(await connection.execute(queries.delete(table), ids))
        if deleted != copied[table]:
            raise RuntimeError(
                f"{table}: copied {copied[table]} rows but deleted {deleted}; batch rolled back"
            )
    return copied


def _count(status: str) -> int:
    """The row count of a command tag: 'INSERT 0 12', 'DELETE 12'."""
    return int(status.rsplit(" ", 1)[1])
