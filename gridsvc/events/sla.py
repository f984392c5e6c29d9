"""SLA clocks: the deadline of each stage, on the county's holiday calendar.

Stage limits come from settings (route, dispatch, sign-for, arrive: clock minutes — Maoba's
squad promises to be on scene within 30 minutes) and from the matter's own condition for
handling (hours or working days, counted from dispatch, as the city standards count them).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.calendar.service import load_calendar
from gridsvc.calendar.worktime import WorkCalendar, deadline
from gridsvc.events import queries
from gridsvc.settings import Settings

DEFAULT_TIMEZONE = "Asia/Shanghai"
_CACHE_SECONDS = 30.0
_calendars: dict[str, tuple[float, WorkCalendar]] = {}


async def calendar_for(connection: asyncpg.Connection, *, jurisdiction_code: str | None) -> WorkCalendar:
    """The working calendar of a jurisdiction (kept 30 s; the county edits it rarely)."""
    code = jurisdiction_code or "*"
    cached = _calendars.get(code)
    if cached and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    timezone = DEFAULT_TIMEZONE
    if jurisdiction_code:
        timezone = (
            await connection.fetchval(queries.JURISDICTION_TIMEZONE, jurisdiction_code) or DEFAULT_TIMEZONE
        )
    calendar = await load_calendar(connection, jurisdiction_code=code, timezone=timezone)
    _calendars[code] = (time.monotonic(), calendar)
    return calendar


def forget_calendars() -> None:
    """Drop cached calendars (after the county edits its holidays)."""
    _calendars.clear()


def handling_limit(matter_condition: dict[str, Any] | None, settings: Settings) -> tuple[float, str]:
    """(amount, unit) of the handling stage: the matter condition's, else the default."""
    if matter_condition and matter_condition.get("limit_unit"):
        return float(matter_condition["limit_amount"]), str(matter_condition["limit_unit"])
    return settings.sla_handle_default_working_days, "working_days"


def stage_limit(stage: str, settings: Settings) -> tuple[float, str] | None:
    """(amount, unit) of a stage other than handling; None when no clock runs."""
    return {
        "route": (settings.sla_route_minutes / 60, "clock_hours"),
        "dispatch": (settings.sla_dispatch_minutes / 60, "clock_hours"),
        "sign_for": (settings.sla_sign_for_minutes / 60, "clock_hours"),
        "arrive": (settings.sla_arrive_minutes / 60, "clock_hours"),
        "verify": (settings.sla_verify_working_hours, "working_hours"),
        "close": (settings.sla_close_working_hours, "working_hours"),
    }.get(stage)


def stage_due(
    *,
    stage: str | None,
    start: datetime,
    calendar: WorkCalendar,
    settings: Settings,
    handle_due_at: datetime | None,
) -> datetime | None:
    """Deadline of ``stage`` begun at ``start`` (aware datetimes)."""
    if stage is None:
        return None
    if stage == "handle":
        return handle_due_at
    limit = stage_limit(stage, settings)
    if limit is None:
        return None
    return deadline(start, limit[0], limit[1], calendar)
