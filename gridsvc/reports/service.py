"""The leaders' summary: figures per township, department, squad, grid or matter over a
period and the previous one, from daily rollups where built and from the events otherwise;
and the upkeep of those rollups (the ``reports.rollup`` job, ``gridsvc report rollup``).

Definitions: README "Reports" (12345 evaluation practice). Rates are None when their
denominator is 0; p50/p90 are nearest-rank percentiles of the bucketed arrival minutes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from gridsvc.errors import APIError
from gridsvc.reports import queries
from gridsvc.reports.models import COUNT_FIELDS, RATE_FIELDS, Summary, SummaryFigures, SummaryRow
from gridsvc.whistles import service as whistles

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_DAYS = 3660  # a period of at most ten years
UNASSIGNED = "（未归属）"
ROLLUP_CHUNK_DAYS = 7
# A change committed a little after the moment it was stamped with is still seen.
DIRTY_OVERLAP = timedelta(minutes=5)
ROLLUP_LOCK = 0x7265706F7274  # pg_advisory_xact_lock key: one rollup writer at a time


class ReportInvalid(ValueError):
    """Bad report parameters (the API answers 422 naming ``field``; the CLI names the option)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def as_api_error(self) -> APIError:
        return APIError(
            422,
            "invalid_request",
            f"query.{self.field}: {self.reason}",
            fields=[{"field": f"query.{self.field}", "reason": self.reason}],
        )


@dataclass(frozen=True, kw_only=True)
class ReportScope:
    """What the caller's figures cover: townships (enforcement grid codes) and/or one
    department; None: no limit."""

    townships: tuple[str, ...] | None = None
    department: str | None = None


@dataclass(frozen=True, kw_only=True)
class Area:
    """The jurisdiction asked for (with those below it) and its time zone."""

    codes: tuple[str, ...] | None
    timezone: str


@dataclass(kw_only=True)
class _Sums:
    sums: Counter[str] = field(default_factory=Counter)
    arrivals: Counter[int] = field(default_factory=Counter)

    def add(self, other: _Sums) -> None:
        self.sums.update(other.sums)
        self.arrivals.update(other.arrivals)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_period(first: date | None, last: date | None) -> tuple[date, date]:
    if first is None:
        raise ReportInvalid("from", "required, a date like 2026-11-01")
    if last is None:
        raise ReportInvalid("to", "required, a date like 2026-11-30")
    if last < first:
        raise ReportInvalid("to", f"{last} is before from ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportInvalid("to", f"a period of at most {MAX_DAYS} days")
    return first, last


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The period of the same length just before ``[first, last]``."""
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


def local_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """``[first 00:00, last + 1 day 00:00)`` in ``timezone``, as aware datetimes."""
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(first, time(), zone),
        datetime.combine(last + timedelta(days=1), time(), zone),
    )


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs ``(first, last)`` of the sorted ``days``."""
    result: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if result and day == result[-1][1] + timedelta(days=1):
            result[-1] = (result[-1][0], day)
        else:
            result.append((day, day))
    return result


def window(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants surely holding every moment of the local days [first, last] in any zone
    (UTC-12 to UTC+14)."""
    start = datetime.combine(first, time(), UTC) - timedelta(hours=14)
    return start, datetime.combine(last + timedelta(days=1), time(), UTC) + timedelta(hours=12)


def percentile(arrivals: Counter[int], p: float) -> float | None:
    """Nearest-rank percentile of bucketed minutes (the bucket's upper bound)."""
    total = sum(arrivals.values())
    if total == 0:
        return None
    rank = max(math.ceil(p * total), 1)
    seen = 0
    for bucket in sorted(arrivals):
        seen += arrivals[bucket]
        if seen >= rank:
            return float(bucket)
    return float(max(arrivals))


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def figures_of(data: _Sums, whistle_score: float | None = None) -> SummaryFigures:
    s = data.sums
    return SummaryFigures(
        received=s["received"],
        signed_for=s["signed_for"],
        signed_in_time=s["signed_in_time"],
        response_rate=_rate(s["signed_in_time"], s["received"]),
        arrive_p50_min=percentile(data.arrivals, 0.5),
        arrive_p90_min=percentile(data.arrivals, 0.9),
        closed=s["closed"],
        closed_in_time=s["closed_in_time"],
        on_time_close_rate=_rate(s["closed_in_time"], s["closed"]),
        resolution_rate=_rate(s["resolved"], s["revisited"]),
        satisfaction_rate=_rate(s["satisfied"], s["revisited"]),
        redo_rate=_rate(s["redone"], s["revisited"]),
        revisited=s["revisited"],
        returns=s["returns"],
        extensions=s["extensions"],
        duban=s["duban"],
        whistle_score=whistle_score,
    )


def change_of(now: SummaryFigures, before: SummaryFigures) -> dict[str, float | None]:
    """This period minus the previous one, per count and rate (None when either is None)."""
    change: dict[str, float | None] = {}
    for name in COUNT_FIELDS + RATE_FIELDS:
        a, b = getattr(now, name), getattr(before, name)
        change[name] = None if a is None or b is None else round(float(a) - float(b), 6)
    return change


def row_of(key: str, name: str, now: SummaryFigures, before: SummaryFigures) -> SummaryRow:
    return SummaryRow(key=key, name=name, previous=before, change=change_of(now, before), **now.model_dump())


async def home_timezone(connection: asyncpg.Connection) -> str:
    return str(await connection.fetchval(queries.HOME_TIMEZONE) or DEFAULT_TIMEZONE)


async def area_of(connection: asyncpg.Connection, jurisdiction: str | None) -> Area:
    """The jurisdiction's codes (itself and below) and time zone; 422 for an unknown code."""
    if jurisdiction is None:
        return Area(codes=None, timezone=await home_timezone(connection))
    rows = await connection.fetch(queries.JURISDICTION_TREE, jurisdiction)
    if not rows:
        raise ReportInvalid("jurisdiction", f"no jurisdiction {jurisdiction!r}")
    return Area(codes=tuple(r["code"] for r in rows), timezone=rows[0]["timezone"])


def _merge_rows(rows: Iterable[asyncpg.Record], into: dict[tuple[int, str], _Sums]) -> None:
    for row in rows:
        entry = into.setdefault((row["period"], row["key"]), _Sums())
        entry.sums.update({m: int(row[m]) for m in queries.MEASURES})
        for bound, column in zip(queries.ARRIVE_BOUNDS, queries.ARRIVALS, strict=True):
            if row[column]:
                entry.arrivals[bound] += int(row[column])


async def collect(
    connection: asyncpg.Connection,
    *,
    dimension: str,
    first: date,
    last: date,
    previous_first: date,
    today: date,
    area: Area,
    scope: ReportScope,
    sign_for_minutes: float,
    use_rollups: bool = True,
) -> dict[tuple[int, str], _Sums]:
    """Sums per (period, unit key): period 0 is [first, last], 1 [previous_first, first)."""
    wanted = days_between(previous_first, last)
    rolled: set[date] = set()
    if use_rollups:
        # the longest run of rolled-up days before today (the rollups are read by range);
        # every other day asked for is computed directly
        rows = await connection.fetch(queries.ROLLED_DAYS, previous_first, last)
        have = runs(r["day"] for r in rows if r["day"] < today)
        if have:
            longest = max(have, key=lambda run: (run[1] - run[0]).days)
            rolled = set(days_between(*longest))
    filters = [
        None if area.codes is None else list(area.codes),
        None if scope.townships is None else list(scope.townships),
        scope.department,
    ]
    result: dict[tuple[int, str], _Sums] = {}
    if rolled:
        scoped = scope.townships is not None or scope.department is not None
        sql = queries.summary_from_rollups(dimension, scoped=scoped)
        params: list[Any] = [first, min(rolled), max(rolled), *filters]
        _merge_rows(await connection.fetch(sql, *params), result)
    home = area.timezone
    for run_first, run_last in runs(d for d in wanted if d not in rolled):
        start, end = window(run_first, run_last)
        days = days_between(run_first, run_last)
        sql = queries.summary_direct(dimension)
        direct: list[Any] = [start, end, days, home, sign_for_minutes, *filters, first]
        _merge_rows(await connection.fetch(sql, *direct), result)
    return result


async def names_of(connection: asyncpg.Connection, dimension: str) -> dict[str, str]:
    return {r["key"]: r["name"] for r in await connection.fetch(queries.NAMES[dimension])}


async def whistle_scores(
    connection: asyncpg.Connection, *, first: date, last: date, timezone: str, scope: ReportScope
) -> dict[str, float | None]:
    """Each department's 吹哨报到 score over whistles summoned in the period."""
    townships = scope.townships
    if townships is not None and len(townships) != 1:
        return {}  # scores are per township or county-wide: several townships have none
    start, end = local_bounds(first, last, timezone)
    rows = await whistles.scores(
        connection, start=start, end=end, township_code=townships[0] if townships else None
    )
    return {r["department"]: r["score"] for r in rows}


async def summary(
    connection: asyncpg.Connection,
    *,
    by: str,
    first: date,
    last: date,
    jurisdiction: str | None,
    scope: ReportScope,
    now: datetime,
    sign_for_minutes: float,
    use_rollups: bool = True,
) -> Summary:
    """``GET /reports/summary``: a row per unit and the total, each with the previous period
    of the same length and the change."""
    if by not in ("township", "department", "squad", "grid", "matter"):
        raise ReportInvalid("by", "one of township, department, squad, grid, matter")
    first, last = check_period(first, last)
    area = await area_of(connection, jurisdiction)
    previous_first, previous_last = previous_period(first, last)
    today = now.astimezone(ZoneInfo(area.timezone)).date()
    sums = await collect(
        connection,
        dimension=by,
        first=first,
        last=last,
        previous_first=previous_first,
        today=today,
        area=area,
        scope=scope,
        sign_for_minutes=sign_for_minutes,
        use_rollups=use_rollups,
    )
    scores: tuple[dict[str, float | None], dict[str, float | None]] = ({}, {})
    if by == "department":
        scores = (
            await whistle_scores(connection, first=first, last=last, timezone=area.timezone, scope=scope),
            await whistle_scores(
                connection, first=previous_first, last=previous_last, timezone=area.timezone, scope=scope
            ),
        )
        if scope.department is not None:
            scores = tuple({k: v for k, v in s.items() if k == scope.department} for s in scores)  # type: ignore[assignment]
    keys = {key for _, key in sums} | set(scores[0]) | set(scores[1])
    names = await names_of(connection, by)
    totals = (_Sums(), _Sums())
    rows = []
    for key in keys:
        now_sums, before_sums = sums.get((0, key), _Sums()), sums.get((1, key), _Sums())
        totals[0].add(now_sums)
        totals[1].add(before_sums)
        current = figures_of(now_sums, scores[0].get(key))
        before = figures_of(before_sums, scores[1].get(key))
        rows.append(row_of(key, names.get(key, key) if key else UNASSIGNED, current, before))
    rows.sort(key=lambda r: (-r.received, r.key == "", r.key))
    total = row_of("", "合计", figures_of(totals[0]), figures_of(totals[1]))
    return Summary.model_validate(
        {"from": first, "to": last, "by": by, "jurisdiction": jurisdiction, "rows": rows, "total": total}
    )


# -- rollups -------------------------------------------------------------------------------


async def rollup_days(
    connection: asyncpg.Connection, *, days: list[date], timezone: str, sign_for_minutes: float
) -> None:
    """Rebuild the rollups of ``days`` (one transaction, one writer at a time)."""
    if not days:
        return
    start, end = window(min(days), max(days))
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", ROLLUP_LOCK)
        await connection.fetchval(queries.DELETE_DAYS, days)
        await connection.execute(queries.ROLLUP, start, end, days, timezone, sign_for_minutes)
        await connection.execute(queries.MARK_ROLLED, days)


async def rebuild(
    connection: asyncpg.Connection,
    *,
    first: date | None,
    last: date | None,
    now: datetime,
    sign_for_minutes: float,
    progress: Callable[[int], None] | None = None,
) -> list[date]:
    """(Re)build the rollups of [first, last] (default: from the first event to yesterday;
    today and later are never rolled up, they are computed directly). Returns the days."""
    timezone = await home_timezone(connection)
    today = now.astimezone(ZoneInfo(timezone)).date()
    if await connection.fetchval(queries.ROLLUP_STATE) is None:
        # the job's later runs look for changes from here on
        await connection.execute(queries.SET_ROLLUP_STATE, await connection.fetchval(queries.DB_NOW))
    if first is None:
        earliest = await connection.fetchval(queries.FIRST_EVENT)
        first = earliest.astimezone(ZoneInfo(timezone)).date() if earliest else today
    last = min(last or today - timedelta(days=1), today - timedelta(days=1))
    days = days_between(first, last) if first <= last else []
    for n in range(0, len(days), ROLLUP_CHUNK_DAYS):
        chunk = days[n : n + ROLLUP_CHUNK_DAYS]
        await rollup_days(connection, days=chunk, timezone=timezone, sign_for_minutes=sign_for_minutes)
        if progress is not None:
            progress(len(chunk))
    return days


async def refresh(connection: asyncpg.Connection, *, now: datetime, sign_for_minutes: float) -> list[date]:
    """The job's run: roll up the whole days since the last rolled-up one (from the first
    event on the first run) and rebuild the rolled-up days that changes since the last run
    touched (a late 签收, a transfer, a 回访 ...). Returns the days."""
    timezone = await home_timezone(connection)
    today = now.astimezone(ZoneInfo(timezone)).date()
    started = await connection.fetchval(queries.DB_NOW)
    seen = await connection.fetchval(queries.ROLLUP_STATE)
    latest = await connection.fetchval("SELECT max(day) FROM report_rollup_days")
    days: set[date] = set()
    if latest is None:
        earliest = await connection.fetchval(queries.FIRST_EVENT)
        if earliest is not None:
            days.update(
                days_between(earliest.astimezone(ZoneInfo(timezone)).date(), today - timedelta(days=1))
            )
    else:
        days.update(days_between(latest + timedelta(days=1), today - timedelta(days=1)))
    if seen is not None:
        # rebuilt only where rollups exist: a day not rolled up is computed directly anyway
        rows = await connection.fetch(queries.DIRTY_DAYS, seen - DIRTY_OVERLAP, timezone)
        dirty = [r["day"] for r in rows]
        if dirty:
            rolled = await connection.fetch(queries.ROLLED_DAYS, min(dirty), max(dirty))
            days.update(set(dirty) & {r["day"] for r in rolled})
    todo = sorted(d for d in days if d < today)
    for n in range(0, len(todo), ROLLUP_CHUNK_DAYS):
        chunk = todo[n : n + ROLLUP_CHUNK_DAYS]
        await rollup_days(connection, days=chunk, timezone=timezone, sign_for_minutes=sign_for_minutes)
    await connection.execute(queries.SET_ROLLUP_STATE, started)
    return todo


async def scope_of_leader(connection: asyncpg.Connection, user_id: int) -> ReportScope:
    """A township leader sees its townships; a county supervisor everything."""
    row = await connection.fetchrow(queries.LEADER_REACH, user_id)
    if row is None:
        return ReportScope(townships=())
    if row["reach"] == "county":
        return ReportScope()
    return ReportScope(townships=tuple(row["township_codes"]))


def overdue_filters(area: Area, scope: ReportScope) -> list[Any]:
    return [
        None if area.codes is None else list(area.codes),
        None if scope.townships is None else list(scope.townships),
        scope.department,
    ]
