"""Routes of the patrols domain: weekly plans, operators' adjustments, check-in, coverage."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.policy import SQUAD
from gridsvc.clock import SYSTEM, Clock
from gridsvc.errors import NotFound
from gridsvc.eta.engine import EtaEngine
from gridsvc.patrols import flows, models, routes, service
from gridsvc.squads import models as squad_models
from gridsvc.squads import service as squads

router = APIRouter(tags=["patrols"])


def _clock(request: Request) -> Clock:
    clock: Clock = getattr(request.app.state, "clock", SYSTEM)
    return clock


def _engine(request: Request, jurisdiction: str | None) -> EtaEngine | None:
    """The road network the jurisdiction's squads drive on (its own, else its nearest
    ancestor's, else the installation's: ``EtaHolder.state_for``)."""
    state = request.app.state.eta.state_for(jurisdiction)
    return state.engine if state is not None else None


def _own_squad(request: Request) -> int | None:
    """A squad account sees and acts on its own squad's plans only (others: 404)."""
    who = current(request)
    return who.squad_id if who.role == SQUAD else None


def _week(week: str) -> str:
    service.parse_week(week, "query.week")
    return week


@router.get("/patrols", response_model=list[models.PlanOut], summary="Weekly patrol plans")
async def list_plans(
    request: Request,
    jurisdiction: Annotated[str, Query(min_length=1, max_length=60)],
    week: Annotated[str, Query(min_length=1, max_length=10, description="ISO week, e.g. 2026-W49")],
) -> list[dict[str, Any]]:
    """Every squad's plan of the week in the jurisdiction (a squad's token: its own). Missed
    visits (their day over, not done) are flagged and carried to the next working day as
    the plans are read; AVL dwell is evaluated at the same time."""
    _week(week)
    squad_id = _own_squad(request)
    if current(request).role == SQUAD and squad_id is None:
        return []  # a squad account without a squad has no plan
    async with request.app.state.pool.acquire() as connection:
        await service.jurisdiction(connection, jurisdiction, "query.jurisdiction")
        return await flows.plans_for(
            connection,
            now=_clock(request).now(),
            engine=_engine(request, jurisdiction),
            jurisdiction_code=jurisdiction,
            week=week,
            squad_id=squad_id,
        )


@router.post("/patrols/plan", response_model=list[models.PlanOut], status_code=201, summary="Plan a week")
async def plan(
    request: Request,
    jurisdiction: Annotated[str, Query(min_length=1, max_length=60)],
    week: Annotated[str, Query(min_length=1, max_length=10)],
) -> list[dict[str, Any]]:
    """(Re)plan every squad of the jurisdiction for the week (what ``gridsvc patrols plan``
    does); an existing plan of the week is replaced."""
    _week(week)
    settings = request.app.state.settings
    engine = _engine(request, jurisdiction)
    async with request.app.state.pool.acquire() as connection:
        await service.jurisdiction(connection, jurisdiction, "query.jurisdiction")
        if engine is None:
            raise service.PatrolInvalid("query.jurisdiction", "no road graph is loaded for it")
        await service.plan_week(
            connection, engine=engine, jurisdiction_code=jurisdiction, week=week, shift=shift_of(settings)
        )
        return await flows.plans_for(
            connection, now=_clock(request).now(), engine=engine, jurisdiction_code=jurisdiction, week=week
        )


def shift_of(settings: Any) -> service.Shift:
    return service.Shift(
        start=settings.patrol_shift_start,
        end=settings.patrol_shift_end,
        dwell_s=settings.patrol_dwell_min * 60,
        timeout_s=settings.patrol_solver_timeout_s,
    )


@router.get("/patrols/today", response_model=models.TodayOut, summary="A squad's route of the day")
async def today(
    request: Request,
    squad_id: Annotated[int | None, Query(description="desk: which squad (a squad: its own)")] = None,
    day: Annotated[date | None, Query(description="default: today in the squad's time zone")] = None,
) -> dict[str, Any]:
    """The visits of the day in order with the road polyline station → visits → station,
    for the squad's phone."""
    own = _own_squad(request)
    chosen = own if own is not None else squad_id
    if chosen is None:
        raise service.PatrolInvalid("query.squad_id", "which squad's route (the desk must say)")
    now = _clock(request).now()
    async with request.app.state.pool.acquire() as connection:
        rows = await service.plan_rows(connection, squad_id=chosen)
        if not rows:
            return {
                "plan_id": None,
                "squad_code": None,
                "day": day or now.date(),
                "station": None,
                "visits": [],
                "route": [],
            }
        zone = (await service.jurisdiction(connection, rows[-1]["jurisdiction_code"]))["timezone"]
        local = day or now.astimezone(ZoneInfo(zone)).date()
        plans = []
        # a visit carried over from last week's Friday stays in last week's plan
        for week in (service.week_of(local - timedelta(days=7)), service.week_of(local)):
            plans += await flows.plans_for(
                connection,
                now=now,
                engine=_engine(request, rows[-1]["jurisdiction_code"]),
                squad_id=chosen,
                week=week,
            )
    if not plans:
        return {"plan_id": None, "squad_code": None, "day": local, "station": None, "visits": [], "route": []}
    # a visit carried from last week is listed by both weeks' answers: once here
    unique = {
        v["id"]: v
        for p in plans
        for d in p["days"]
        if d["day"] == local
        for v in d["visits"]
        if v["status"] != "missed"
    }
    visits = list(unique.values())
    visits.sort(key=lambda v: (v["planned_at"], v["seq"]))
    plan = next((p for p in reversed(plans) if any(v["plan_id"] == p["id"] for v in visits)), plans[-1])
    line: list[list[float]] = []
    engine = _engine(request, plan["jurisdiction"])
    if visits:
        lng = [plan["station"]["lng"]] + [v["point"]["lng"] for v in visits] + [plan["station"]["lng"]]
        lat = [plan["station"]["lat"]] + [v["point"]["lat"] for v in visits] + [plan["station"]["lat"]]
        if engine is not None:
            line = await asyncio.to_thread(routes.route_line, routes.planning_engine(engine), lng, lat)
        else:
            line = [list(p) for p in zip(lng, lat, strict=True)]
    return {
        "plan_id": plan["id"],
        "squad_code": plan["squad_code"],
        "day": local,
        "station": plan["station"],
        "visits": visits,
        "route": line,
    }


@router.get("/patrols/coverage", response_model=models.CoverageOut, summary="Weekly patrol coverage")
async def coverage(
    request: Request,
    jurisdiction: Annotated[str, Query(min_length=1, max_length=60)],
    week: Annotated[
        str | None, Query(min_length=1, max_length=10, description="default: this week in the jurisdiction")
    ] = None,
) -> dict[str, Any]:
    """Visited / planned per township (enforcement grid) and per squad (a squad: its own).
    A visit carried into the next week counts in the week it was planned in."""
    now = _clock(request).now()
    async with request.app.state.pool.acquire() as connection:
        if week is None:  # the app's clock, not the browser's: /ops asks for "this week"
            zone = (await service.jurisdiction(connection, jurisdiction, "query.jurisdiction"))["timezone"]
            week = service.week_of(now.astimezone(ZoneInfo(zone)).date())
        return await flows.coverage(
            connection,
            jurisdiction_code=jurisdiction,
            week=week,
            now=now,
            engine=_engine(request, jurisdiction),
            squad_id=_own_squad(request),
        )


async def _plan(connection: Any, plan_id: int) -> dict[str, Any]:
    rows = await service.plan_rows(connection, plan_id=plan_id)
    if not rows:
        raise NotFound(f"patrol plan {plan_id} does not exist")
    return rows[0]


@router.post(
    "/patrols/{plan_id}/visits", response_model=models.VisitOut, status_code=201, summary="Add a visit"
)
async def add_visit(request: Request, plan_id: int, body: models.VisitAdd) -> dict[str, Any]:
    """Add a visit of one of the squad's community grids to a working day of the plan's
    week; the day is routed again (422 naming the field when it would pass the shift)."""
    async with request.app.state.pool.acquire() as connection:
        plan = await _plan(connection, plan_id)
        visit_id = await service.add_visit(
            connection,
            engine=_engine(request, plan["jurisdiction_code"]),
            plan=plan,
            grid_code=body.grid_code,
            day=body.day,
            seq=body.seq,
            actor=actor_of(request),
        )
        return service.visit_view(await flows.visit_row(connection, visit_id, squad_id=None))


@router.patch("/patrols/visits/{visit_id}", response_model=models.VisitOut, summary="Move a visit")
async def move_visit(request: Request, visit_id: int, body: models.VisitPatch) -> dict[str, Any]:
    """Move a visit to another working day of the week (``day``), another place in the day's
    order (``seq``), or towards a wished time (``planned_at``: its local day, and its place
    among the day's visits by time). Planned times then follow the road."""
    async with request.app.state.pool.acquire() as connection:
        visit = await flows.visit_row(connection, visit_id, squad_id=None)
        plan = await _plan(connection, visit["plan_id"])
        day, seq = body.day, body.seq
        if body.planned_at is not None:
            zone = (await service.jurisdiction(connection, plan["jurisdiction_code"]))["timezone"]
            wished = body.planned_at.astimezone(ZoneInfo(zone))
            if not plan["shift_start"] <= wished.time().replace(tzinfo=None) <= plan["shift_end"]:
                raise service.PatrolInvalid(
                    "body.planned_at",
                    f"{wished:%H:%M} is outside the shift "
                    f"{plan['shift_start']:%H:%M}–{plan['shift_end']:%H:%M}",
                )
            day = wished.date()
            before = await connection.fetchval(
                "SELECT count(*) FROM patrol_visits WHERE plan_id = $1 AND day = $2 AND id <> $3 "
                "AND status <> 'missed' AND planned_at < $4",
                plan["id"],
                day,
                visit_id,
                body.planned_at,
            )
            seq = int(before) + 1
        if day is None and seq is None:
            raise service.PatrolInvalid("body", "say day, seq or planned_at")
        await service.move_visit(
            connection,
            engine=_engine(request, plan["jurisdiction_code"]),
            plan=plan,
            visit=visit,
            day=day,
            seq=seq,
        )
        return service.visit_view(await flows.visit_row(connection, visit_id, squad_id=None))


@router.post(
    "/patrols/visits/{visit_id}/check_in", response_model=models.VisitOut, summary="Arrived at a visit"
)
async def check_in(request: Request, visit_id: int, body: models.CheckIn) -> dict[str, Any]:
    """The squad's "arrived" tap with the phone's position (inside the visit's community
    grid, else 422): stored as an AVL ping, it starts the dwell; the visit is done once the
    squad has been inside for ``GRIDSVC_PATROL_DWELL_MIN``."""
    settings = request.app.state.settings
    now = _clock(request).now()
    ping = squad_models.PositionIn(
        lat=body.lat, lng=body.lng, crs=body.crs, accuracy=body.accuracy, timestamp=body.timestamp or now
    )
    placement = squads.Placement(
        max_road_distance_m=settings.squad_max_road_distance_m,
        jurisdiction_margin_m=settings.squad_jurisdiction_margin_m,
        road_distance_m=request.app.state.eta.road_distance_m,
    )
    async with request.app.state.pool.acquire() as connection:
        return await flows.check_in(
            connection,
            visit_id=visit_id,
            squad_id=_own_squad(request),
            ping=ping,
            now=now,
            stale_after_s=settings.squad_position_stale_s,
            future_tolerance_s=settings.squad_position_future_tolerance_s,
            placement=placement,
        )


@router.put("/patrols/frequencies/{grid_code}", summary="How often a community grid is visited a week")
async def set_frequency(request: Request, grid_code: str, body: models.FrequencyIn) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection:
        await service.set_frequency(
            connection, grid_code=grid_code, visits_per_week=body.visits_per_week, actor=actor_of(request)
        )
    return {"grid_code": grid_code, "visits_per_week": body.visits_per_week}
