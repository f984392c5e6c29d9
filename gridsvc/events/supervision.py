"""Supervision of running events: 延期 (extensions with approval) and the counter strip of
the dispatch desk. 督办 (escalation of overdue stages, level by level) is gridsvc.duban."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from gridsvc.events import queries
from gridsvc.events.service import EventConflict, EventNotFound, lock_event, record_transition


async def request_extension(
    connection: asyncpg.Connection, *, event_id: int, actor: str, minutes: int, reason: str
) -> int:
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        if event["state"] in {"closed", "suspended"}:
            raise EventConflict(f"event {event_id} is {event['state']}: no deadline to extend")
        row = await connection.fetchrow(queries.INSERT_EXTENSION, event_id, actor, minutes, reason)
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="request_extension",
            from_state=event["state"],
            to_state=event["state"],
            note=reason,
            data={"extension_id": row["id"], "minutes": minutes},
        )
        return int(row["id"])


async def decide_extension(
    connection: asyncpg.Connection,
    *,
    event_id: int,
    extension_id: int,
    actor: str,
    approved: bool,
    note: str | None,
) -> None:
    """Approve (the running deadline moves) or refuse a 延期 request."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        extension = await connection.fetchrow(queries.LOCK_EXTENSION, extension_id, event_id)
        if extension is None:
            raise EventNotFound(f"extension {extension_id} of event {event_id} does not exist")
        if extension["decided_at"] is not None:
            raise EventConflict(f"extension {extension_id} was already decided")
        await connection.execute(queries.DECIDE_EXTENSION, extension_id, actor, approved)
        if approved:
            extra = timedelta(minutes=extension["extra_minutes"])
            due = event["due_at"] + extra if event["due_at"] else None
            handle_due = event["handle_due_at"] + extra if event["handle_due_at"] else None
            await connection.execute(queries.SET_DUE, event_id, due, handle_due)
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="approve_extension" if approved else "refuse_extension",
            from_state=event["state"],
            to_state=event["state"],
            note=note,
            data={"extension_id": extension_id, "minutes": extension["extra_minutes"]},
        )


async def mark_overdue(connection: asyncpg.Connection, *, event_id: int, since: datetime) -> None:
    """The event has been overdue since ``since`` (kept from its first 督办 until the next
    deadline starts: a state change or an approved 延期 clears it)."""
    await connection.execute(queries.MARK_OVERDUE, event_id, since)


async def announce(connection: asyncpg.Connection, *, event_id: int) -> None:
    """Tell the live pages that the event changed (sent when the caller's transaction commits):
    they reload it and the desk's counters."""
    await connection.execute(queries.ANNOUNCE, event_id)


async def counters(
    connection: asyncpg.Connection | asyncpg.Pool, *, timezone: str | None = None
) -> dict[str, int]:
    """The counter strip: open, overdue, triage queue, closed since local midnight.

    "Today" is the county's: ``timezone``, else that of the jurisdiction holding the most
    grid layers (the centre's own county), else China Standard Time.
    """
    zone = timezone or await connection.fetchval(queries.HOME_TIMEZONE) or "Asia/Shanghai"
    midnight = datetime.now(ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
    row = await connection.fetchrow(queries.COUNTERS, midnight)
    return dict(row)
