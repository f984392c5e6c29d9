"""Patrol execution, where patrols meet squads (AVL) and events (findings).

* **Dwell.** A visit is done when the squad's consecutive AVL pings of that day stay inside
  the community grid for ``GRIDSVC_PATROL_DWELL_MIN`` (the run's first to last ping inside).
  The "arrived" tap (check-in) is an AVL ping of its own, so a tap followed by pings inside
  for the dwell time marks the visit; with a dwell of 0 the tap alone does. Pings are
  evaluated when they arrive (``on_position``, wired by the app) and again whenever plans
  are read, so a ping taken by another process is never lost.
* **Missed visits** are settled when a plan is read (``refresh``), not by a nightly job: a
  visit whose local day is over and is not done becomes ``missed`` and a new visit of the
  same grid is put on the next working day (not before today), routed into that day. Doing
  it on read needs no schedule per time zone, is idempotent (one carry per missed visit,
  ``carried_from`` is unique) and every reader sees the state the clock implies; a plan
  nobody reads is settled the next time anyone (the squad's inbox, the desk, coverage) does.
* **Findings**: a patrol report (``POST /events``, source ``patrol``) by a squad is linked
  to the visit it names (``visit_id``) or else to its visit of the day whose grid holds the
  report's position.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from gridsvc.errors import NotFound
from gridsvc.eta.engine import EtaEngine
from gridsvc.patrols import queries, service
from gridsvc.patrols.service import PatrolInvalid
from gridsvc.squads import models as squad_models
from gridsvc.squads import service as squads


def today_in(timezone: str, now: datetime) -> date:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(timezone)).date()


async def sync_dwell(
    connection: asyncpg.Connection, *, visit_ids: list[int], dwell_s: float, timezone: str
) -> int:
    """Mark arrivals and completed dwells of these visits from the AVL track; returns the
    number of visits done now."""
    if not visit_ids:
        return 0
    done = 0
    # One stay in a grid counts for one visit: when a squad has two open visits of a grid on
    # one day (a carried one beside the planned one, maybe from last week's plan) the
    # checked-in one, else the first, takes it.
    taken: set[tuple[int, str, date]] = set()
    for row in await connection.fetch(queries.DWELL, visit_ids, float(dwell_s), timezone):
        key = (row["squad_id"], row["grid_code"], row["day"])
        if key in taken or row["sibling_started"]:
            continue
        taken.add(key)
        if row["done_at"] is not None:
            status = await connection.execute(
                queries.MARK_DONE, row["visit_id"], row["done_at"], row["arrived_at"]
            )
            done += int(status.split()[-1])
        elif row["arrived_at"] is not None:
            await connection.execute(queries.MARK_ARRIVED, row["visit_id"], row["arrived_at"])
    return done


async def refresh(
    connection: asyncpg.Connection,
    *,
    plans: list[dict[str, Any]],
    now: datetime,
    engine: EtaEngine | None,
) -> None:
    """Bring plans up to ``now``: dwell from the track, then missed visits carried over."""
    by_zone: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        by_zone.setdefault(plan["timezone"], []).append(plan)
    for timezone, group in by_zone.items():
        today = today_in(timezone, now)
        ids = [p["id"] for p in group]
        # one call per dwell time, not per plan: two plans' visits of a grid on one day (one
        # carried from last week's) compete for a stay in one ordering (queries.DWELL)
        by_dwell: dict[float, list[int]] = {}
        for plan in group:
            by_dwell.setdefault(plan["dwell_s"], []).extend(
                r["id"] for r in await connection.fetch(queries.OPEN_UP_TO, plan["id"], today)
            )
        for dwell_s, open_ids in by_dwell.items():
            await sync_dwell(connection, visit_ids=open_ids, dwell_s=dwell_s, timezone=timezone)
        async with connection.transaction():
            overdue = await connection.fetch(queries.OVERDUE, ids, today)
            if overdue:
                await _carry(connection, overdue, {p["id"]: p for p in group}, today, timezone, engine)


async def _carry(
    connection: asyncpg.Connection,
    overdue: list[asyncpg.Record],
    plans: dict[int, dict[str, Any]],
    today: date,
    timezone: str,
    engine: EtaEngine | None,
) -> None:
    place = await service.jurisdiction(connection, next(iter(plans.values()))["jurisdiction_code"])
    calendar = await service.calendar_of(connection, place)
    touched: set[tuple[int, date]] = set()
    for visit in overdue:
        await connection.execute(queries.MARK_MISSED, visit["id"])
        day = max(visit["day"] + timedelta(days=1), today)
        for _ in range(60):
            if calendar.is_working_day(day):
                break
            day += timedelta(days=1)
        plan = plans[visit["plan_id"]]
        seq = await connection.fetchval(queries.MAX_SEQ, plan["id"], day) + 1
        await connection.execute(
            queries.INSERT_VISIT,
            plan["id"],
            visit["grid_id"],
            visit["grid_code"],
            day,
            seq,
            service.at_local(day, plan["shift_end"], timezone),
            visit["lng"],
            visit["lat"],
            visit["id"],
            "carried",
        )
        touched.add((plan["id"], day))
    for plan_id, day in sorted(touched):
        try:
            await service.reroute_day(
                connection, engine=engine, plan=plans[plan_id], day=day, timezone=timezone
            )
        except PatrolInvalid:
            pass  # an overfull day keeps the carried visit at the end; the desk moves it


async def plans_for(
    connection: asyncpg.Connection,
    *,
    now: datetime,
    engine: EtaEngine | None,
    jurisdiction_code: str | None = None,
    week: str | None = None,
    squad_id: int | None = None,
    plan_id: int | None = None,
) -> list[dict[str, Any]]:
    """Plans brought up to ``now`` (dwell, carry-over) in their read model.

    A week's plans also list the visits carried into that week from an earlier week's plan
    (a Friday miss carried to Monday): marked ``carried_from_week``, they stay in, and are
    counted by, the plan of the week they were planned in. The previous week's plans are
    brought up to ``now`` too, so that such a carry has happened before the week is read."""
    plans = await service.plan_rows(
        connection, jurisdiction_code=jurisdiction_code, week=week, squad_id=squad_id, plan_id=plan_id
    )
    earlier: list[dict[str, Any]] = []
    if week is not None:
        before = service.week_of(service.parse_week(week) - timedelta(days=7))
        squad_ids = {p["squad_id"] for p in plans}
        earlier = [
            p
            for p in await service.plan_rows(
                connection, jurisdiction_code=jurisdiction_code, week=before, squad_id=squad_id
            )
            if p["squad_id"] in squad_ids
        ]
    zones = {}
    for plan in plans + earlier:
        code = plan["jurisdiction_code"]
        if code not in zones:
            zones[code] = (await service.jurisdiction(connection, code))["timezone"]
        plan["timezone"] = zones[code]
    await refresh(connection, plans=earlier + plans, now=now, engine=engine)
    view = await service.plans_view(connection, plans)
    if week is not None and view:
        await _with_carried_in(connection, view, week)
    return view


async def _with_carried_in(connection: asyncpg.Connection, view: list[dict[str, Any]], week: str) -> None:
    """Add to each plan of ``week`` the visits carried into its days from earlier weeks."""
    rows = await connection.fetch(
        queries.CARRIED_INTO, [p["squad_id"] for p in view], service.parse_week(week), week
    )
    for plan in view:
        mine = [r for r in rows if r["squad_id"] == plan["squad_id"]]
        if not mine:
            continue
        days = {d["day"]: d for d in plan["days"]}
        touched = set()
        for row in mine:
            visit = service.visit_view(row) | {"carried_from_week": row["from_week"]}
            day = days.get(row["day"])
            if day is None:  # a day the week's own plan has no visit on
                day = days[row["day"]] = {
                    "day": row["day"],
                    "distance_m": 0.0,
                    "duration_s": 0.0,
                    "nearest_neighbour_distance_m": 0.0,
                    "visits": [],
                }
            day["visits"].append(visit)
            touched.add(row["day"])
        for when in touched:  # two plans' visits on one day: in the order of their times
            days[when]["visits"].sort(key=lambda v: (v["planned_at"], v["seq"], v["id"]))
        plan["days"] = sorted(days.values(), key=lambda d: d["day"])
        plan["visits"] = [v for d in plan["days"] for v in d["visits"]]


async def visit_row(connection: asyncpg.Connection, visit_id: int, *, squad_id: int | None) -> dict[str, Any]:
    """One visit; 404 when it does not exist or belongs to another squad than ``squad_id``."""
    row = await connection.fetchrow(queries.VISIT, visit_id)
    if row is None or (squad_id is not None and row["squad_id"] != squad_id):
        raise NotFound(f"patrol visit {visit_id} does not exist")
    return dict(row)


async def on_position(connection: asyncpg.Connection, *, squad_id: int, observed_at: datetime) -> int:
    """A new AVL ping: evaluate the squad's open visits of that day (and the day before, for
    pings around midnight)."""
    day = observed_at.date()
    rows = await connection.fetch(
        queries.OPEN_VISITS_OF_SQUAD, squad_id, day - timedelta(days=1), day + timedelta(days=1)
    )
    if not rows:
        return 0
    plan = await connection.fetchrow(
        "SELECT p.dwell_s, j.timezone FROM patrol_visits v JOIN patrol_plans p ON p.id = v.plan_id "
        "JOIN jurisdictions j ON j.code = p.jurisdiction_code WHERE v.id = $1",
        rows[0]["id"],
    )
    return await sync_dwell(
        connection, visit_ids=[r["id"] for r in rows], dwell_s=plan["dwell_s"], timezone=plan["timezone"]
    )


async def position_hook(state: Any, *, squad_id: int, observed_at: datetime) -> None:
    """Wired by the app after each stored AVL ping (``app.state.position_hooks``)."""
    async with state.pool.acquire() as connection:
        await on_position(connection, squad_id=squad_id, observed_at=observed_at)


async def check_in(
    connection: asyncpg.Connection,
    *,
    visit_id: int,
    squad_id: int | None,
    ping: squad_models.PositionIn,
    now: datetime,
    stale_after_s: float,
    future_tolerance_s: float,
    placement: squads.Placement | None,
) -> dict[str, Any]:
    """The squad's "arrived" tap: the position must lie in the visit's grid; it is stored as
    an AVL ping (the track) and starts the dwell."""
    async with connection.transaction():  # a refused check-in leaves no ping behind
        return await _check_in(
            connection,
            visit_id=visit_id,
            squad_id=squad_id,
            ping=ping,
            now=now,
            stale_after_s=stale_after_s,
            future_tolerance_s=future_tolerance_s,
            placement=placement,
        )


async def _check_in(
    connection: asyncpg.Connection,
    *,
    visit_id: int,
    squad_id: int | None,
    ping: squad_models.PositionIn,
    now: datetime,
    stale_after_s: float,
    future_tolerance_s: float,
    placement: squads.Placement | None,
) -> dict[str, Any]:
    visit = await visit_row(connection, visit_id, squad_id=squad_id)
    if visit["status"] in ("done", "missed"):
        raise PatrolInvalid("visit_id", f"visit {visit_id} is {visit['status']}; nothing to check in")
    try:
        stored = await squads.add_position(
            connection,
            squad_id=visit["squad_id"],
            ping=ping,
            stale_after_s=stale_after_s,
            future_tolerance_s=future_tolerance_s,
            now=now,
            placement=placement,
        )
    except squads.FutureTimestampError as error:
        raise PatrolInvalid("body.timestamp", str(error)) from None
    if stored is None:
        raise NotFound(f"patrol visit {visit_id} does not exist")
    lng, lat = stored["wgs84"]["lng"], stored["wgs84"]["lat"]
    if not await connection.fetchval(queries.INSIDE_GRID, visit["grid_id"], lng, lat):
        away = await connection.fetchval(queries.DISTANCE_TO_GRID, visit["grid_id"], lng, lat)
        reason = f"outside community grid {visit['grid_code']} ({away:.0f} m away): check in on arrival"
        raise PatrolInvalid("body.lat", reason)
    await connection.execute(queries.CHECK_IN, visit_id, stored["observed_at"])
    zone = (await service.jurisdiction(connection, visit["jurisdiction_code"]))["timezone"]
    dwell = await connection.fetchval("SELECT dwell_s FROM patrol_plans WHERE id = $1", visit["plan_id"])
    await sync_dwell(connection, visit_ids=[visit_id], dwell_s=dwell, timezone=zone)
    return service.visit_view(await visit_row(connection, visit_id, squad_id=None))


async def check_finding_visit(connection: asyncpg.Connection, *, visit_id: int, squad_id: int | None) -> None:
    """``body.visit_id`` of a patrol report must be a visit of the reporting squad (422)."""
    row = await connection.fetchrow(queries.VISIT, visit_id)
    if row is None or (squad_id is not None and row["squad_id"] != squad_id):
        raise PatrolInvalid("body.visit_id", f"no patrol visit {visit_id} of your squad")


async def link_finding(
    connection: asyncpg.Connection,
    *,
    event_id: int,
    squad_id: int,
    visit_id: int | None,
    lng: float | None,
    lat: float | None,
    now: datetime,
) -> int | None:
    """Link a squad's patrol report to a visit; returns the visit id (None: no visit)."""
    how = "given"
    if visit_id is None:
        if lng is None or lat is None:
            return None
        zone = await connection.fetchval(
            "SELECT j.timezone FROM patrol_plans p JOIN jurisdictions j ON j.code = p.jurisdiction_code "
            "WHERE p.squad_id = $1 ORDER BY p.week DESC LIMIT 1",
            squad_id,
        )
        if zone is None:
            return None
        visit_id = await connection.fetchval(queries.VISIT_AT, squad_id, today_in(zone, now), lng, lat)
        how = "position"
        if visit_id is None:
            return None
    await connection.execute(queries.LINK_FINDING, event_id, visit_id, how)
    return visit_id


async def coverage(
    connection: asyncpg.Connection,
    *,
    jurisdiction_code: str,
    week: str,
    now: datetime,
    engine: EtaEngine | None,
    squad_id: int | None = None,
) -> dict[str, Any]:
    """Visited / planned per squad and per township (enforcement grid) for the week."""
    service.parse_week(week, "query.week")
    await service.jurisdiction(connection, jurisdiction_code, "query.jurisdiction")
    await plans_for(
        connection, now=now, engine=engine, jurisdiction_code=jurisdiction_code, week=week, squad_id=squad_id
    )
    squads_out, townships, total = [], [], None
    for row in await connection.fetch(queries.COVERAGE, jurisdiction_code, week, squad_id):
        figures = {
            "planned": row["planned"],
            "visited": row["visited"],
            "missed": row["missed"],
            "carried": row["carried"],
            "share": round(row["visited"] / row["planned"], 4) if row["planned"] else None,
            "grids_planned": row["grids_planned"],
            "grids_visited": row["grids_visited"],
        }
        if row["squad_id"] is not None:
            squads_out.append({"squad_id": row["squad_id"], "squad_code": row["squad_code"], **figures})
        elif row["township"] is not None:
            townships.append({"township": row["township"], **figures})
        else:
            total = figures
    return {
        "jurisdiction": jurisdiction_code,
        "week": week,
        "total": total,
        "townships": sorted(townships, key=lambda t: t["township"]),
        "squads": sorted(squads_out, key=lambda s: s["squad_code"]),
    }
