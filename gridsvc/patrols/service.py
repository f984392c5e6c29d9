"""Weekly patrol plans (巡查计划): plan a week, read plans, adjust a day.

A plan is one squad's ISO week: on each working day of the jurisdiction's holiday
calendar (调休 included) the squad leaves its station at shift start, visits community
grids of its enforcement grids (each at least once a week, more where a frequency is set)
and is back by shift end. Routing is :mod:`gridsvc.patrols.solver` over travel times from
our own road graph (:mod:`gridsvc.patrols.routes`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import shapely

from gridsvc.calendar.service import load_calendar
from gridsvc.calendar.worktime import WorkCalendar
from gridsvc.errors import Invalid
from gridsvc.eta.engine import EtaEngine
from gridsvc.patrols import queries, routes, solver

SOLVER = "vroom"
Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class PatrolInvalid(Invalid):
    """Bad patrol input: 422 naming the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", fields=[{"field": field, "reason": reason}])


@dataclass(frozen=True)
class Shift:
    start: time
    end: time
    dwell_s: float
    timeout_s: float = 5.0

    @property
    def seconds(self) -> float:
        return (datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)).total_seconds()


def parse_week(text: str, field: str = "week") -> date:
    """The Monday of an ISO week ``YYYY-Www``."""
    try:
        year, _, number = text.partition("-W")
        return date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise PatrolInvalid(field, f"{text!r} is not an ISO week like 2026-W49") from None


def week_of(day: date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


async def jurisdiction(connection: Connection, code: str, field: str = "jurisdiction") -> dict[str, Any]:
    row = await connection.fetchrow(queries.JURISDICTION, code)
    if row is None:
        raise PatrolInvalid(field, f"no jurisdiction {code!r}")
    return dict(row)


async def calendar_of(connection: Connection, place: dict[str, Any]) -> WorkCalendar:
    return await load_calendar(connection, jurisdiction_code=place["code"], timezone=place["timezone"])


def working_days(monday: date, calendar: WorkCalendar) -> list[date]:
    return [d for d in (monday + timedelta(days=i) for i in range(7)) if calendar.is_working_day(d)]


def at_local(day: date, clock: time, timezone: str, seconds: float = 0.0) -> datetime:
    start = datetime.combine(day, clock, tzinfo=ZoneInfo(timezone))
    return (start + timedelta(seconds=seconds)).astimezone(UTC)


async def set_frequency(connection: Connection, *, grid_code: str, visits_per_week: int, actor: str) -> None:
    if not 1 <= visits_per_week <= 7:
        raise PatrolInvalid("visits_per_week", "between 1 and 7 visits a week")
    if await connection.fetchval(queries.COMMUNITY_GRID_EXISTS, grid_code) is None:
        raise PatrolInvalid("grid_code", f"no current community grid {grid_code!r}")
    await connection.execute(queries.SET_FREQUENCY, grid_code, visits_per_week, actor)


# -- planning -------------------------------------------------------------------------


async def plan_week(
    connection: asyncpg.Connection,
    *,
    engine: EtaEngine,
    jurisdiction_code: str,
    week: str,
    shift: Shift,
    on_squad: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """(Re)plan every squad of the jurisdiction (and below) for the week; returns counts."""
    monday = parse_week(week)
    place = await jurisdiction(connection, jurisdiction_code)
    days = working_days(monday, await calendar_of(connection, place))
    if not days:
        raise PatrolInvalid("week", f"{week} has no working day in {jurisdiction_code}'s calendar")
    planner = routes.planning_engine(engine)
    summary: dict[str, Any] = {
        "week": week,
        "jurisdiction": jurisdiction_code,
        "days": [str(d) for d in days],
    }
    totals = {"squads": 0, "grids": 0, "visits": 0, "planned": 0, "unplanned": 0}
    for squad in await connection.fetch(queries.SQUADS_IN, jurisdiction_code):
        grids = [
            dict(g)
            for g in await connection.fetch(queries.COMMUNITY_GRIDS, jurisdiction_code, squad["grid_codes"])
        ]
        frequency = {
            r["grid_code"]: r["visits_per_week"]
            for r in await connection.fetch(queries.FREQUENCIES, [g["code"] for g in grids])
        }
        result = await asyncio.to_thread(
            _plan_squad, planner, dict(squad), grids, frequency, len(days), shift
        )
        async with connection.transaction():
            await _store(connection, place, week, days, dict(squad), grids, result, shift)
        totals["squads"] += 1
        totals["grids"] += len(grids)
        totals["visits"] += result["jobs"]
        totals["unplanned"] += len(result["plan"].unplanned)
        totals["planned"] += result["jobs"] - len(result["plan"].unplanned)
        if on_squad:
            on_squad(squad["code"])
    return summary | totals


async def squad_count(connection: Connection, jurisdiction_code: str) -> int:
    return len(await connection.fetch(queries.SQUADS_IN, jurisdiction_code))


def _plan_squad(
    engine: EtaEngine,
    squad: dict[str, Any],
    grids: list[dict[str, Any]],
    frequency: dict[str, int],
    day_count: int,
    shift: Shift,
) -> dict[str, Any]:
    polygons = [shapely.from_wkb(bytes(g["wkb"])) for g in grids]
    lng = np.array([g["lng"] for g in grids], float)
    lat = np.array([g["lat"] for g in grids], float)
    v_lng, v_lat, rules = routes.visit_points(engine, polygons, lng, lat) if grids else (lng, lat, [])
    all_lng = np.concatenate([[squad["lng"]], v_lng])
    all_lat = np.concatenate([[squad["lat"]], v_lat])
    seconds, metres = routes.travel_matrix(engine, all_lng, all_lat)
    jobs: list[solver.Job] = []
    for i, grid in enumerate(grids):
        times = min(frequency.get(grid["code"], 1), day_count)
        for k in range(times):
            allowed = None if times == 1 else frozenset(d for d in range(day_count) if d % times == k)
            jobs.append(solver.Job(point=i + 1, days=allowed))
    reachable = np.isfinite(seconds[0]) & np.isfinite(seconds[:, 0])
    plan = solver.solve_week(
        seconds=np.where(np.isfinite(seconds), seconds, 1e9),
        metres=np.where(np.isfinite(metres), metres, 1e9),
        jobs=[j for j in jobs if reachable[j.point]],
        day_count=day_count,
        shift_s=shift.seconds,
        dwell_s=shift.dwell_s,
        timeout_s=shift.timeout_s,
    )
    unreachable = [j for j in jobs if not reachable[j.point]]
    return {
        "plan": plan,
        "jobs": len(jobs),
        "unreachable": unreachable,
        "points": (v_lng, v_lat, rules),
        "kept_jobs": [j for j in jobs if reachable[j.point]],
    }


async def _store(
    connection: asyncpg.Connection,
    place: dict[str, Any],
    week: str,
    days: list[date],
    squad: dict[str, Any],
    grids: list[dict[str, Any]],
    result: dict[str, Any],
    shift: Shift,
) -> int:
    plan: solver.WeekPlan = result["plan"]
    v_lng, v_lat, rules = result["points"]
    kept: list[solver.Job] = result["kept_jobs"]
    unplanned = [
        {"grid_code": grids[kept[j].point - 1]["code"], "reason": "does not fit the shifts of the week"}
        for j in plan.unplanned
    ] + [
        {"grid_code": grids[j.point - 1]["code"], "reason": "no road from the station reaches it"}
        for j in result["unreachable"]
    ]
    report = {
        "unplanned": unplanned,
        "max_visits_per_day": plan.max_per_day,
        "visit_points": {g["code"]: rule for g, rule in zip(grids, rules, strict=True)},
    }
    await connection.execute(queries.DELETE_PLAN, squad["id"], week)
    plan_id = await connection.fetchval(
        queries.INSERT_PLAN,
        place["code"],
        week,
        squad["id"],
        SOLVER,
        shift.start,
        shift.end,
        int(shift.dwell_s),
        report,
    )
    for route in plan.days:
        day = days[route.day_index]
        await connection.execute(
            queries.UPSERT_DAY, plan_id, day, route.distance_m, route.duration_s, route.nn_distance_m
        )
        for seq, (point, arrival) in enumerate(zip(route.order, route.arrivals_s, strict=True), start=1):
            grid = grids[point - 1]
            await connection.execute(
                queries.INSERT_VISIT,
                plan_id,
                grid["id"],
                grid["code"],
                day,
                seq,
                at_local(day, shift.start, place["timezone"], arrival),
                float(v_lng[point - 1]),
                float(v_lat[point - 1]),
                None,
                "planner",
            )
    return int(plan_id)


# -- a day after a change -------------------------------------------------------------


async def reroute_day(
    connection: asyncpg.Connection,
    *,
    engine: EtaEngine | None,
    plan: dict[str, Any],
    day: date,
    timezone: str,
    order: list[int] | None = None,
    field: str = "body.day",
) -> dict[str, float]:
    """Order a day's visits again (the solver's order, or ``order`` as given: visit ids),
    recompute their planned times and the day's figures. Raises :class:`PatrolInvalid`
    (naming ``field``) when the day would run past the shift."""
    visits = [dict(v) for v in await connection.fetch(queries.DAY_VISITS, plan["id"], day)]
    if not visits:
        await connection.execute(queries.DELETE_EMPTY_DAY, plan["id"], day)
        return {"distance_m": 0.0, "duration_s": 0.0, "nn_distance_m": 0.0}
    if engine is None:
        raise PatrolInvalid(field, "the road graph is not loaded: the day cannot be routed now")
    shift = Shift(plan["shift_start"], plan["shift_end"], float(plan["dwell_s"]))
    lng = np.array([plan["station_lng"]] + [v["lng"] for v in visits], float)
    lat = np.array([plan["station_lat"]] + [v["lat"] for v in visits], float)
    planner = routes.planning_engine(engine)
    seconds, metres = await asyncio.to_thread(routes.travel_matrix, planner, lng, lat)
    if order is None:
        week = solver.solve_week(
            seconds=seconds,
            metres=metres,
            jobs=[solver.Job(point=i + 1, days=None) for i in range(len(visits))],
            day_count=1,
            shift_s=1e9,  # order only: the shift is checked below, naming the field
            dwell_s=shift.dwell_s,
        )
        points = week.days[0].order + [j + 1 for j in week.unplanned]
    else:
        index = {v["id"]: i + 1 for i, v in enumerate(visits)}
        points = [index[v] for v in order if v in index]
    distance, duration, arrivals = solver.route_cost(points, seconds, metres, shift.dwell_s)
    if duration > shift.seconds:
        raise PatrolInvalid(
            field,
            f"{day} would last {duration / 3600:.1f} h from the station and back, beyond the shift "
            f"{shift.start:%H:%M}–{shift.end:%H:%M}",
        )
    nn = solver.route_cost(solver.nearest_neighbour(points, metres), seconds, metres, shift.dwell_s)[0]
    for seq, (point, arrival) in enumerate(zip(points, arrivals, strict=True), start=1):
        visit = visits[point - 1]
        await connection.execute(
            queries.SET_SCHEDULE, visit["id"], seq, at_local(day, shift.start, timezone, arrival)
        )
    await connection.execute(queries.UPSERT_DAY, plan["id"], day, distance, duration, nn)
    return {"distance_m": distance, "duration_s": duration, "nn_distance_m": nn}


# -- reading --------------------------------------------------------------------------


def visit_view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "plan_id": row["plan_id"],
        "grid_code": row["grid_code"],
        "grid_name": row["grid_name"],
        "grid_name_zh": row["grid_name_zh"],
        "township": row["township"],
        "day": row["day"],
        "seq": row["seq"],
        "planned_at": row["planned_at"],
        "point": {"lat": row["lat"], "lng": row["lng"]},
        "status": row["status"],
        "arrived_at": row["arrived_at"],
        "checked_in_at": row["checked_in_at"],
        "done_at": row["done_at"],
        "done_by": row["done_by"],
        "carried_from": row["carried_from"],
        "carried": row["carried_from"] is not None,
        "original_day": row["original_day"],
        "added_by": row["added_by"],
        "findings": list(row["findings"]),
    }


async def plan_rows(
    connection: Connection,
    *,
    jurisdiction_code: str | None = None,
    week: str | None = None,
    squad_id: int | None = None,
    plan_id: int | None = None,
) -> list[dict[str, Any]]:
    return [
        dict(r) for r in await connection.fetch(queries.PLANS, jurisdiction_code, week, squad_id, plan_id)
    ]


async def plans_view(connection: Connection, plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The read model of ``GET /patrols``: each plan with its days and visits in order."""
    ids = [p["id"] for p in plans]
    days: dict[int, list[dict[str, Any]]] = {}
    for d in await connection.fetch(queries.DAYS, ids):
        days.setdefault(d["plan_id"], []).append(dict(d))
    visits: dict[tuple[int, date], list[dict[str, Any]]] = {}
    for v in await connection.fetch(queries.VISITS, ids):
        visits.setdefault((v["plan_id"], v["day"]), []).append(visit_view(v))
    out = []
    for plan in plans:
        plan_days = []
        for d in days.get(plan["id"], []):
            plan_days.append(
                {
                    "day": d["day"],
                    "distance_m": round(d["distance_m"], 1),
                    "duration_s": round(d["duration_s"], 1),
                    "nearest_neighbour_distance_m": round(d["nn_distance_m"], 1),
                    "visits": visits.get((plan["id"], d["day"]), []),
                }
            )
        # visits on days without a route row (only missed ones left there) still show
        routed = {d["day"] for d in plan_days}
        for (pid, day), rows in sorted(visits.items()):
            if pid == plan["id"] and day not in routed:
                plan_days.append(
                    {
                        "day": day,
                        "distance_m": 0.0,
                        "duration_s": 0.0,
                        "nearest_neighbour_distance_m": 0.0,
                        "visits": rows,
                    }
                )
        plan_days.sort(key=lambda d: d["day"])
        report = plan["report"] if isinstance(plan["report"], dict) else json.loads(plan["report"])
        out.append(
            {
                "id": plan["id"],
                "squad_id": plan["squad_id"],
                "squad_code": plan["squad_code"],
                "squad_name": plan["squad_name"],
                "squad_name_zh": plan["squad_name_zh"],
                "jurisdiction": plan["jurisdiction_code"],
                "week": plan["week"],
                "solver": plan["solver"],
                "shift": {
                    "start": plan["shift_start"].strftime("%H:%M"),
                    "end": plan["shift_end"].strftime("%H:%M"),
                },
                "dwell_s": plan["dwell_s"],
                "station": {"lat": plan["station_lat"], "lng": plan["station_lng"]},
                "distance_m": round(sum(d["distance_m"] for d in plan_days), 1),
                "duration_s": round(sum(d["duration_s"] for d in plan_days), 1),
                "nearest_neighbour_distance_m": round(
                    sum(d["nearest_neighbour_distance_m"] for d in plan_days), 1
                ),
                "unplanned": report.get("unplanned", []),
                "planned_at": plan["planned_at"],
                "days": plan_days,
                "visits": [v for d in plan_days for v in d["visits"]],
            }
        )
    return out


# -- operators' adjustments -----------------------------------------------------------


async def _check_day(connection: Connection, plan: dict[str, Any], day: date, field: str) -> str:
    """The day must lie in the plan's week and be a working day; returns the time zone."""
    monday = parse_week(plan["week"])
    if not monday <= day < monday + timedelta(days=7):
        raise PatrolInvalid(
            field,
            f"{day} is outside the plan's week {plan['week']} ({monday} – {monday + timedelta(days=6)})",
        )
    place = await jurisdiction(connection, plan["jurisdiction_code"])
    calendar = await calendar_of(connection, place)
    if not calendar.is_working_day(day):
        name = calendar.names.get(day)
        raise PatrolInvalid(
            field, f"{day} is not a working day{f' ({name})' if name else ''} in the holiday calendar"
        )
    return str(place["timezone"])


def _position(order: list[int], visit_id: int, seq: int | None) -> list[int]:
    order = [v for v in order if v != visit_id]
    order.insert(len(order) if seq is None else max(0, min(seq - 1, len(order))), visit_id)
    return order


async def add_visit(
    connection: asyncpg.Connection,
    *,
    engine: EtaEngine | None,
    plan: dict[str, Any],
    grid_code: str,
    day: date,
    seq: int | None,
    actor: str,
) -> int:
    """Add a visit of one of the squad's community grids to a day (at ``seq``, else the
    day is re-ordered); 422 naming the field when the grid or the day does not fit."""
    timezone = await _check_day(connection, plan, day, "body.day")
    squad = await connection.fetchrow("SELECT grid_codes FROM squads WHERE id = $1", plan["squad_id"])
    grids = {
        g["code"]: dict(g)
        for g in await connection.fetch(
            queries.COMMUNITY_GRIDS, plan["jurisdiction_code"], squad["grid_codes"]
        )
    }
    grid = grids.get(grid_code)
    if grid is None:
        raise PatrolInvalid(
            "body.grid_code",
            f"{grid_code!r} is not a community grid of squad {plan['squad_code']}'s enforcement grids",
        )
    async with connection.transaction():
        await connection.execute(queries.LOCK_PLAN, plan["id"])
        if engine is None:
            raise PatrolInvalid("body.day", "the road graph is not loaded: the day cannot be routed now")
        lng, lat, _rules = routes.visit_points(
            engine, [shapely.from_wkb(bytes(grid["wkb"]))], np.array([grid["lng"]]), np.array([grid["lat"]])
        )
        seq_now = await connection.fetchval(queries.MAX_SEQ, plan["id"], day) + 1
        visit_id = await connection.fetchval(
            queries.INSERT_VISIT,
            plan["id"],
            grid["id"],
            grid_code,
            day,
            seq_now,
            at_local(day, plan["shift_end"], timezone),
            float(lng[0]),
            float(lat[0]),
            None,
            actor,
        )
        order = None
        if seq is not None:
            current = [v["id"] for v in await connection.fetch(queries.DAY_VISITS, plan["id"], day)]
            order = _position(current, visit_id, seq)
        await reroute_day(connection, engine=engine, plan=plan, day=day, timezone=timezone, order=order)
    return int(visit_id)


async def move_visit(
    connection: asyncpg.Connection,
    *,
    engine: EtaEngine | None,
    plan: dict[str, Any],
    visit: dict[str, Any],
    day: date | None,
    seq: int | None,
) -> None:
    """Move a visit to another day and/or place in the day's order; both days are routed
    again (planned times follow the road). 422 naming the field when it does not fit."""
    if visit["status"] in ("done", "missed"):
        raise PatrolInvalid("visit_id", f"visit {visit['id']} is {visit['status']} and cannot move")
    target = day or visit["day"]
    timezone = await _check_day(connection, plan, target, "body.day")
    async with connection.transaction():
        await connection.execute(queries.LOCK_PLAN, plan["id"])
        seq_now = await connection.fetchval(queries.MAX_SEQ, plan["id"], target) + 1
        await connection.execute(
            queries.MOVE_VISIT, visit["id"], target, seq_now, at_local(target, plan["shift_end"], timezone)
        )
        order = None
        if seq is not None:
            current = [v["id"] for v in await connection.fetch(queries.DAY_VISITS, plan["id"], target)]
            order = _position(current, visit["id"], seq)
        field = "body.seq" if day is None else "body.day"
        await reroute_day(
            connection, engine=engine, plan=plan, day=target, timezone=timezone, order=order, field=field
        )
        if target != visit["day"]:
            await reroute_day(connection, engine=engine, plan=plan, day=visit["day"], timezone=timezone)
