"""Working time: deadlines in clock hours, working hours, working days and calendar days.

Pure functions over a :class:`WorkCalendar`; no database. Datetimes in and out are aware
(a naive datetime is refused: a deadline without a time zone is a bug waiting to happen).
Results are in the calendar's time zone. Internally every sum runs in UTC, so daylight
saving time (e.g. Europe/Vaduz) never adds or loses an hour by accident.

Definitions
-----------
working day
    a local date that is a make-up working day (调休, listed in ``workdays``), or that is
    neither a holiday (``holidays``) nor a weekend day (Saturday and Sunday by default).
working windows
    the local clock intervals of a working day during which people work; by default
    08:30–12:00 and 14:00–17:30 (7 hours). A window is half-open: 12:00 is outside.
working instant
    an instant inside a working window of a working day.

Units
-----
``clock_hours``
    elapsed time, day and night: ``start + amount hours`` (real hours: across a DST change
    the local clock reading moves by one hour more or less).
``calendar_days``
    the same local clock time ``amount`` dates later, weekends and holidays included; a
    fractional part is added as elapsed time (0.5 day = 12 hours).
``working_days``
    N working days from ``start`` end at the same local clock time on the N-th following
    working day. If ``start`` is not a working instant (a non-working day, before or after
    the windows, or in the lunch break), counting starts at the beginning of the next
    working window: Friday 18:00 + 1 working day = Tuesday 08:30 (Monday 08:30 + 1), and
    12:30 + 1 working day = 14:00 on the next working day. A fractional part is added as
    working hours, at the length of a full working day (0.5 working day = 3.5 working hours
    with the default windows).
``working_hours``
    only time inside the working windows of working days counts. The deadline is the
    first instant at which the amount has been used up, so it can be the end of a window
    (09:30 + 6 working hours = 17:30 the same day, not 08:30 the next).

An amount of 0 returns ``start`` unchanged (in the calendar's time zone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UNITS = ("clock_hours", "working_hours", "working_days", "calendar_days")
DEFAULT_WINDOWS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))
DEFAULT_TIMEZONE = "Asia/Shanghai"
# No real calendar goes a few years without a working day; stop instead of looping forever.
MAX_SEARCH_DAYS = 3 * 366


class WorkCalendarError(ValueError):
    """A calendar that cannot be used (bad windows, or no working day in sight)."""


class WorkCalendar:
    """Holidays, make-up working days (调休), working windows and the time zone of one place."""

    __slots__ = ("timezone", "holidays", "workdays", "windows", "weekend", "names")

    def __init__(
        self,
        timezone: str | ZoneInfo = DEFAULT_TIMEZONE,
        *,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        windows: Iterable[tuple[time, time]] = DEFAULT_WINDOWS,
        weekend: Iterable[int] = (5, 6),
        names: dict[date, str] | None = None,
    ) -> None:
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        both = self.holidays & self.workdays
        if both:
            raise WorkCalendarError(f"days both holiday and working day: {', '.join(map(str, sorted(both)))}")
        self.windows = tuple(sorted(windows))
        if not self.windows:
            raise WorkCalendarError("a calendar needs at least one working window")
        previous_end: time | None = None
        for start, end in self.windows:
            if not start < end:
                raise WorkCalendarError(f"window {start}–{end}: the start must be before the end")
            if previous_end is not None and start < previous_end:
                raise WorkCalendarError(f"window {start}–{end} overlaps the one before it")
            previous_end = end
        self.weekend = frozenset(weekend)
        self.names = dict(names or {})

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({self.timezone.key!r}, {len(self.holidays)} holidays, "
            f"{len(self.workdays)} make-up working days, windows={self.windows})"
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() not in self.weekend

    @property
    def day_length(self) -> timedelta:
        """Nominal working time of one working day (7 hours with the default windows)."""
        return sum(
            (
                datetime.combine(date.min, end) - datetime.combine(date.min, start)
                for start, end in self.windows
            ),
            timedelta(),
        )

    def local(self, instant: datetime) -> datetime:
        return _aware(instant).astimezone(self.timezone)


# -- helpers -------------------------------------------------------------------------


def _aware(value: datetime, name: str = "datetime") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone; pass an aware datetime")
    return value


def localize(naive: datetime, timezone: ZoneInfo) -> datetime:
    """A local wall-clock reading as an aware datetime.

    A reading that does not exist (the hour skipped when DST starts) moves forward by the
    gap; an ambiguous one (the hour repeated when DST ends) is the first occurrence.
    """
    return naive.replace(tzinfo=timezone, fold=0).astimezone(UTC).astimezone(timezone)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def windows_on(day: date, calendar: WorkCalendar) -> list[tuple[datetime, datetime]]:
    """The working windows of ``day`` as UTC instants (empty on a non-working day)."""
    if not calendar.is_working_day(day):
        return []
    zone = calendar.timezone
    return [
        (_utc(localize(datetime.combine(day, start), zone)), _utc(localize(datetime.combine(day, end), zone)))
        for start, end in calendar.windows
    ]


def _days_from(day: date) -> Iterator[date]:
    for offset in range(MAX_SEARCH_DAYS + 1):
        yield day + timedelta(days=offset)
    raise WorkCalendarError(f"no working day within {MAX_SEARCH_DAYS} days of {day}")


def is_working_instant(instant: datetime, calendar: WorkCalendar) -> bool:
    moment = _utc(_aware(instant))
    day = moment.astimezone(calendar.timezone).date()
    return any(start <= moment < end for start, end in windows_on(day, calendar))


def next_working_instant(instant: datetime, calendar: WorkCalendar) -> datetime:
    """``instant`` itself when it is inside a working window, else the next window's start."""
    moment = _utc(_aware(instant))
    first = moment.astimezone(calendar.timezone).date()
    for day in _days_from(first):
        for start, end in windows_on(day, calendar):
            if moment < end:
                return max(start, moment).astimezone(calendar.timezone)
    raise AssertionError("unreachable")  # pragma: no cover


def nth_working_day_after(day: date, n: int, calendar: WorkCalendar) -> date:
    """The n-th working day strictly after ``day`` (n >= 1)."""
    if n < 1:
        raise ValueError("n counts from 1")
    seen = 0
    for candidate in _days_from(day + timedelta(days=1)):
        if calendar.is_working_day(candidate):
            seen += 1
            if seen == n:
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def add_working_time(instant: datetime, amount: timedelta, calendar: WorkCalendar) -> datetime:
    """The first instant at which ``amount`` of working time after ``instant`` is used up."""
    moment = _utc(_aware(instant))
    left = amount
    if left <= timedelta():
        return moment.astimezone(calendar.timezone)
    first = moment.astimezone(calendar.timezone).date()
    for day in _days_from(first):
        for start, end in windows_on(day, calendar):
            if end <= moment:
                continue
            begin = max(start, moment)
            available = end - begin
            if left <= available:
                return (begin + left).astimezone(calendar.timezone)
            left -= available
    raise AssertionError("unreachable")  # pragma: no cover


def working_time_between(start: datetime, end: datetime, calendar: WorkCalendar) -> timedelta:
    """Working time inside the windows from ``start`` to ``end`` (negative if end < start)."""
    a, b = _utc(_aware(start, "start")), _utc(_aware(end, "end"))
    if b < a:
        return -working_time_between(end, start, calendar)
    total = timedelta()
    zone = calendar.timezone
    day, last = a.astimezone(zone).date(), b.astimezone(zone).date()
    while day <= last:
        for window_start, window_end in windows_on(day, calendar):
            overlap = min(window_end, b) - max(window_start, a)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total


# -- the two functions the rest of gridsvc uses ----------------------------------------


def deadline(start: datetime, amount: float, unit: str, calendar: WorkCalendar) -> datetime:
    """When a time limit of ``amount`` ``unit`` that starts at ``start`` runs out.

    ``unit`` is one of clock_hours, working_hours, working_days, calendar_days (see the
    module docstring for the exact conventions). The result is aware, in the calendar's
    time zone.
    """
    _aware(start, "start")
    amount = float(amount)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be a finite number >= 0, not {amount!r}")
    zone = calendar.timezone
    moment = _utc(start)
    if amount == 0:
        return moment.astimezone(zone)
    if unit == "clock_hours":
        return (moment + timedelta(hours=amount)).astimezone(zone)
    if unit == "working_hours":
        return add_working_time(moment, timedelta(hours=amount), calendar)
    whole = int(amount)
    fraction = amount - whole
    if unit == "calendar_days":
        local = moment.astimezone(zone).replace(tzinfo=None)
        result = localize(local + timedelta(days=whole), zone)
        return (_utc(result) + timedelta(days=fraction)).astimezone(zone)
    if unit == "working_days":
        begin = next_working_instant(moment, calendar)
        if whole:
            day = nth_working_day_after(begin.date(), whole, calendar)
            begin = localize(datetime.combine(day, begin.replace(tzinfo=None).time()), zone)
        if fraction:
            return add_working_time(begin, calendar.day_length * fraction, calendar)
        return begin.astimezone(zone)
    raise ValueError(f"unit {unit!r} is not one of {', '.join(UNITS)}")


def remaining(
    now: datetime, due: datetime, *, calendar: WorkCalendar | None = None, working: bool = False
) -> timedelta:
    """Time left until ``due`` (negative once overdue).

    Clock time by default; with ``working=True`` only working time counts (``calendar``
    required), which is what a "2 working hours left" display wants.
    """
    _aware(now, "now")
    _aware(due, "due")
    if working:
        if calendar is None:
            raise ValueError("working=True needs a calendar")
        return working_time_between(now, due, calendar)
    return _utc(due) - _utc(now)


def is_overdue(now: datetime, due: datetime | None) -> bool:
    return due is not None and _utc(_aware(now, "now")) >= _utc(_aware(due, "due"))
