"""Hotspots on H3 cells: counting, weeks and trends (no HTTP here).

The period is widened to whole ISO weeks in the jurisdiction's time zone, so that every
figure is a sum of weekly counts: the period's weeks and the ``weeks`` before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import h3
import numpy as np
from numpy.typing import NDArray

from gridsvc.auth.models import Principal
from gridsvc.auth.policy import LEADER
from gridsvc.auth.scope import events_filter
from gridsvc.duban import service as duban
from gridsvc.errors import APIError
from gridsvc.events import search
from gridsvc.events import service as events
from gridsvc.grids.lookup import cells_of
from gridsvc.hotspots import queries
from gridsvc.hotspots.models import RESOLUTIONS, Cell, ClassCount, Hotspots, Trend

UP, DOWN = 1.25, 0.8  # a ratio beyond these is a rising / falling cell
MAX_DAYS = 366


@dataclass(frozen=True)
class Visibility:
    """Which events a caller counts: ``scope`` as ``GET /events`` takes it (None: all), or
    ``townships`` (a township leader: its enforcement grids); ``nothing``: none."""

    scope: search.Scope | None = None
    townships: tuple[str, ...] | None = None
    nothing: bool = False


async def visibility(connection: asyncpg.Connection | asyncpg.Pool, principal: Principal) -> Visibility:
    """The events ``principal`` may see (gridsvc.auth.scope, as GET /events); a leader its
    reach (duban_leaders): a county supervisor all, a township leader its townships."""
    if principal.role == LEADER:
        mine = [r for r in await duban.leaders(connection) if r["id"] == principal.user_id]
        if not mine:
            return Visibility(nothing=True)
        if mine[0]["reach"] == "county":
            return Visibility()
        return Visibility(townships=tuple(mine[0]["township_codes"]))
    visible = events_filter(principal)
    if visible.nothing:
        return Visibility(nothing=True)
    return Visibility(
        scope=search.Scope(
            grid_codes=None if visible.grid_codes is None else tuple(visible.grid_codes),
            squad_id=visible.squad_id,
            integration_id=visible.integration_id,
            department_code=visible.department_code,
            reported_by=visible.reported_by,
            station_codes=tuple(visible.station_codes or ()),
            township_codes=tuple(visible.township_codes or ()),
        )
    )


def invalid(field: str, reason: str) -> APIError:
    return APIError(422, "invalid_request", f"{field}: {reason}", fields=[{"field": field, "reason": reason}])


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def trend_of(weekly: list[int], previous: list[int]) -> Trend:
    mean = sum(weekly) / len(weekly)
    before = sum(previous) / len(previous) if previous else 0.0
    ratio = mean / before if before else None
    if ratio is None:
        direction = "new" if mean else "flat"
    else:
        direction = "up" if ratio >= UP else "down" if ratio <= DOWN else "flat"
    return Trend(
        weekly_mean=round(mean, 4),
        previous_mean=round(before, 4),
        change=round(mean - before, 4),
        ratio=None if ratio is None else round(ratio, 4),
        direction=direction,  # type: ignore[arg-type]
    )


def _split(series: list[int], n_previous: int) -> tuple[list[int], list[int]]:
    return series[n_previous:], series[:n_previous]


async def hotspots(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    visible: Visibility,
    start: date,
    end: date,
    res: int,
    weeks: int = 4,
    matter_class: str | None = None,
    jurisdiction: str | None = None,
    limit: int = 500,
) -> Hotspots:
    """Located events received from ``start`` to ``end`` (inclusive days, widened to ISO
    weeks) on H3 cells of resolution ``res``, with the ``weeks`` weeks before for the trend."""
    if res not in RESOLUTIONS:
        raise invalid("res", f"must be one of {', '.join(map(str, RESOLUTIONS))}")
    if end < start:
        raise invalid("to", "before from")
    if (end - start).days >= MAX_DAYS:
        raise invalid("to", f"the period is at most {MAX_DAYS} days")
    zone_name = await events.home_timezone(connection)
    if jurisdiction is not None:
        found = await connection.fetchrow(queries.JURISDICTION, jurisdiction)
        if found is None:
            raise invalid("jurisdiction", f"no jurisdiction {jurisdiction!r}")
        if not found["bounded"]:
            raise invalid("jurisdiction", f"jurisdiction {jurisdiction!r} has no boundary")
        zone_name = found["timezone"]
    zone = ZoneInfo(zone_name)
    first = start - timedelta(days=start.weekday())
    last = end + timedelta(days=6 - end.weekday())
    period = [first + timedelta(weeks=i) for i in range(((last - first).days + 1) // 7)]
    before = [first - timedelta(weeks=weeks - i) for i in range(weeks)]
    mondays = before + period
    answer: dict[str, Any] = {
        "from": first,
        "to": last,
        "res": res,
        "matter_class": matter_class,
        "jurisdiction": jurisdiction,
        "timezone": zone_name,
        "weeks": [iso_week(d) for d in period],
        "previous_weeks": [iso_week(d) for d in before],
    }
    points = (
        Points.empty()
        if visible.nothing
        else await _points(connection, visible, mondays, zone, matter_class, jurisdiction)
    )
    names = {r["matter_class"]: r["major_name"] for r in await connection.fetch(queries.CLASS_NAMES)}
    return _aggregate(answer, points, len(mondays), weeks, res, names, limit)


@dataclass(frozen=True)
class Points:
    """Located events grouped by (week, class, point), as parallel arrays (one row each):
    ``week`` the index among the window's weeks, ``klass`` the index into ``classes``."""

    week: NDArray[np.int64]
    klass: NDArray[np.int64]
    classes: list[str | None]
    lng: NDArray[np.float64]
    lat: NDArray[np.float64]
    n: NDArray[np.int64]

    @classmethod
    def empty(cls) -> Points:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none, [], np.empty(0), np.empty(0), none)


async def _points(
    connection: asyncpg.Connection | asyncpg.Pool,
    visible: Visibility,
    mondays: list[date],
    zone: ZoneInfo,
    matter_class: str | None,
    jurisdiction: str | None,
) -> Points:
    begin = datetime.combine(mondays[0], time(), zone)
    finish = datetime.combine(mondays[-1] + timedelta(weeks=1), time(), zone)
    params: list[Any] = [begin, finish, str(zone), mondays[0]]
    where: list[str] = []
    if visible.scope is not None:
        where += search.scope_where(visible.scope, params)
    if visible.townships is not None:
        params.append(list(visible.townships))
        where.append(f"{search.TOWNSHIP} = ANY(${len(params)}::text[])")
    if matter_class is not None:
        params.append(matter_class)
        where.append(f"{queries.MATTER_CLASS} = ${len(params)}")
    if jurisdiction is not None:
        params.append(jurisdiction)
        where.append(queries.IN_JURISDICTION.format(param=f"${len(params)}"))
    # arrays in one row: ~5x less decoding than a record per point
    row = await connection.fetchrow(queries.points(where), *params)
    labels: dict[str | None, int] = {}
    klass = np.fromiter(
        (labels.setdefault(k, len(labels)) for k in row["klass"]), dtype=np.int64, count=len(row["klass"])
    )
    return Points(
        week=np.asarray(row["week"], dtype=np.int64),
        klass=klass,
        classes=list(labels),
        lng=np.asarray(row["lng"], dtype=np.float64),
        lat=np.asarray(row["lat"], dtype=np.float64),
        n=np.asarray(row["n"], dtype=np.int64),
    )


def _sums(index: NDArray[np.int64], rows: int, size: int, points: Points) -> NDArray[np.int64]:
    """Counts per (row, week): ``index`` gives each point's row."""
    flat = np.bincount(index * size + points.week, weights=points.n, minlength=rows * size)
    return flat.astype(np.int64).reshape(rows, size)


def _aggregate(
    answer: dict[str, Any],
    points: Points,
    size: int,
    n_previous: int,
    res: int,
    names: dict[str | None, str],
    limit: int,
) -> Hotspots:
    """Weekly series per cell, per (cell, class) and per class, vectorised (numpy); the
    ``limit`` busiest cells presented."""
    n_classes = len(points.classes)
    cell_ids, cell_of = np.unique(cells_of(points.lng, points.lat, res), return_inverse=True)
    per_cell = _sums(cell_of, len(cell_ids), size, points)
    per_class = _sums(points.klass, n_classes, size, points)
    pair_ids, pair_of = np.unique(cell_of * n_classes + points.klass, return_inverse=True)
    per_pair = _sums(pair_of, len(pair_ids), size, points)
    pair_cell = pair_ids // max(n_classes, 1)  # ascending, as pair_ids are

    def counted(klass: str | None, series: list[int]) -> ClassCount:
        weekly, previous = _split(series, n_previous)
        return ClassCount(
            matter_class=klass,
            name=names.get(klass),
            count=sum(weekly),
            weekly=weekly,
            previous=previous,
            trend=trend_of(weekly, previous),
        )

    def by_count(item: ClassCount) -> tuple[int, int, str]:
        return (-item.count, -sum(item.previous), item.matter_class or "")

    now = per_cell[:, n_previous:].sum(axis=1)
    before = per_cell[:, :n_previous].sum(axis=1)
    order = np.lexsort((cell_ids, -before, -now))  # by count, then the weeks before, then cell
    out: list[Cell] = []
    for i in order[:limit].tolist():
        series = per_cell[i].tolist()
        weekly, previous = _split(series, n_previous)
        text = h3.int_to_str(int(cell_ids[i]))
        c_lat, c_lng = h3.cell_to_latlng(text)
        ring = [(round(x, 7), round(y, 7)) for y, x in h3.cell_to_boundary(text)]
        first, last = np.searchsorted(pair_cell, [i, i + 1])
        breakdown = [
            counted(points.classes[int(pair_ids[j] % n_classes)], per_pair[j].tolist())
            for j in range(first, last)
        ]
        out.append(
            Cell(
                cell=text,
                centre=(round(c_lng, 7), round(c_lat, 7)),
                boundary=[*ring, ring[0]],
                count=sum(weekly),
                weekly=weekly,
                previous=previous,
                trend=trend_of(weekly, previous),
                classes=sorted(breakdown, key=by_count),
            )
        )
    classes = sorted((counted(k, per_class[i].tolist()) for i, k in enumerate(points.classes)), key=by_count)
    return Hotspots(
        **answer,
        total=sum(c.count for c in classes),
        classes=classes,
        cells=out,
        truncated=len(cell_ids) > limit,
    )
