"""Where inspections meet other domains: the holiday calendar and the patrol routing
(scheduling and ordering joint visits), and events (violations from closed events).

Routing reuses the patrol planner's pieces (:mod:`gridsvc.patrols.routes` for travel over
our road graph, :mod:`gridsvc.patrols.solver` for the nearest-neighbour order): a joint visit
has no squad or station of its own, so the patrol week planner (squads x community grids)
does not fit; a day's joint visits are ordered by nearest neighbour from the day's first
visit (by id) over road metres.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg
import numpy as np

from gridsvc.errors import NotFound
from gridsvc.eta.engine import EtaEngine
from gridsvc.inspections import models, queries, service
from gridsvc.patrols import routes, solver
from gridsvc.patrols import service as patrols


async def _is_working_day(connection: asyncpg.Connection, place: asyncpg.Record | None) -> Any:
    if place is None:  # outside every community grid: no calendar, Monday to Friday
        return lambda day: day.weekday() < 5
    calendar = await patrols.calendar_of(connection, dict(place))
    return calendar.is_working_day


EngineFor: TypeAlias = Callable[[str | None], EtaEngine | None]


async def route_day(
    connection: asyncpg.Connection, *, engine: EtaEngine | None, day: date, jurisdiction: str | None
) -> None:
    """Order the day's joint visits of a jurisdiction (``seq``) by nearest neighbour over
    road metres."""
    rows = await connection.fetch(queries.DAY_VISITS, day, jurisdiction)
    if engine is None or not rows:
        return
    order = [0]
    if len(rows) > 1:
        # a tree cache of its own (the live squads' trees stay), off the event loop
        _seconds, metres = await asyncio.to_thread(
            routes.travel_matrix,
            routes.planning_engine(engine),
            np.array([r["lng"] for r in rows], dtype=float),
            np.array([r["lat"] for r in rows], dtype=float),
        )
        order += solver.nearest_neighbour(list(range(1, len(rows))), metres)
    for seq, index in enumerate(order, start=1):
        await connection.execute(queries.SET_SEQ, rows[index]["id"], seq)


async def plan_inspection(
    connection: asyncpg.Connection,
    *,
    body: models.InspectionIn,
    window_days: int,
    engine_for: EngineFor,
    actor: str,
) -> dict[str, Any]:
    """Record a department's planned inspection and merge it into the target's joint visit
    whose window holds its day (or open a new one); re-elect the lead, reschedule, reroute."""
    await service.check_department(connection, body.department)
    codes = service.clean_codes(body.matter_codes, "matter_codes")
    async with connection.transaction():
        # one merge decision per target at a time
        if await connection.fetchval(queries.LOCK_TARGET, body.target_id) is None:
            raise service.InspectionInvalid("target_id", f"no inspection target {body.target_id}")
        joint = await connection.fetchval(queries.JOINT_FOR, body.target_id, body.planned_on, window_days)
        old_day = None
        if joint is None:
            joint = await connection.fetchval(
                queries.NEW_JOINT, body.target_id, body.department, body.planned_on
            )
        else:
            old_day = await connection.fetchval("SELECT day FROM joint_visits WHERE id = $1", joint)
        inspection = await connection.fetchval(
            queries.NEW_INSPECTION, body.target_id, body.department, codes, body.planned_on, joint, actor
        )
        members = [dict(r) for r in await connection.fetch(queries.JOINT_MEMBERS, joint)]
        start = service.window_of(members)
        place = await connection.fetchrow(queries.TARGET_PLACE, body.target_id)
        day = service.first_working_day(start, await _is_working_day(connection, place))
        jurisdiction = place["code"] if place is not None else None
        engine = engine_for(jurisdiction)
        await connection.execute(queries.UPDATE_JOINT, joint, service.lead_of(members), start, day)
        for touched in {day, old_day} - {None}:
            assert touched is not None
            await route_day(connection, engine=engine, day=touched, jurisdiction=jurisdiction)
    row = await connection.fetchrow(queries.INSPECTION, inspection)
    assert row is not None
    return service.inspection_view(row)


async def joint_visits(
    connection: asyncpg.Connection, *, start: date, end: date, department: str | None
) -> list[dict[str, Any]]:
    rows = await connection.fetch(queries.JOINT_VISITS, start, end, department)
    out = []
    for r in rows:
        inspections = json.loads(r["inspections"]) if isinstance(r["inspections"], str) else r["inspections"]
        out.append(
            {
                "id": r["id"],
                "target_id": r["target_id"],
                "target_name": r["target_name"],
                "credit_code": r["credit_code"],
                "grid_code": r["grid_code"],
                "point": {"lng": r["lng"], "lat": r["lat"]},
                "day": r["day"],
                "seq": r["seq"],
                "lead_department": r["lead_department"],
                "departments": sorted({i["department"] for i in inspections}),
                "matter_codes": sorted({c for i in inspections for c in i["matter_codes"]}),
                "inspections": inspections,
            }
        )
    return out


async def savings(connection: asyncpg.Connection, *, start: date, end: date) -> dict[str, Any]:
    row = await connection.fetchrow(queries.SAVINGS, start, end)
    assert row is not None
    view = service.savings_view(int(row["planned_separately"]), int(row["joint_visits"]))
    return {"from": start, "to": end, **view}


# -- violations, the negative list, 首违不罚 -------------------------------------------------


async def record_violation(
    connection: asyncpg.Connection,
    *,
    target_id: int,
    source: str,
    event_id: int | None,
    inspection_id: int | None,
    matter_code: str | None,
    minor: bool,
    note: str | None,
    at: datetime,
) -> dict[str, Any]:
    """A violation of a target. A minor one of a matter on the 首违不罚 list, the target's
    first of that matter, is education (``lenient``): kept, not counted toward the list."""
    async with connection.transaction():
        await connection.fetchval(queries.LOCK_TARGET, target_id)
        lenient = bool(
            minor
            and matter_code
            and await connection.fetchval(queries.IS_LENIENT, matter_code)
            and not await connection.fetchval(queries.EARLIER_OF_MATTER, target_id, matter_code)
        )
        await connection.fetchval(
            queries.ADD_VIOLATION,
            target_id,
            source,
            event_id,
            inspection_id,
            matter_code,
            minor,
            lenient,
            note,
            at,
        )
        counted = int(await connection.fetchval(queries.COUNTED, target_id))
    return {"lenient": lenient, "counted_violations": counted}


async def sync_closed_events(connection: asyncpg.Connection) -> int:
    """Record the violations of closed events that name a target (idempotent: once each)."""
    rows = await connection.fetch(queries.CLOSED_EVENT_VIOLATIONS)
    for r in rows:
        await record_violation(
            connection,
            target_id=r["target_id"],
            source="event",
            event_id=r["id"],
            inspection_id=None,
            matter_code=r["matter_code"],
            minor=False,
            note=None,
            at=r["at"],
        )
    return len(rows)


async def set_event_target(
    connection: asyncpg.Connection, *, event_id: int, body: models.EventTargetIn
) -> dict[str, Any]:
    await service.get_target(connection, body.target_id)
    if (
        await connection.fetchval(queries.SET_EVENT_TARGET, event_id, body.target_id, body.violation_found)
        is None
    ):
        raise NotFound(f"event {event_id} does not exist")
    await sync_closed_events(connection)
    return {"event_id": event_id, "target_id": body.target_id, "violation_found": body.violation_found}


async def record_result(
    connection: asyncpg.Connection, *, inspection_id: int, body: models.ResultIn, now: datetime
) -> dict[str, Any]:
    row = await connection.fetchrow(queries.INSPECTION, inspection_id)
    if row is None:
        raise NotFound(f"inspection {inspection_id} does not exist")
    if row["result"] is not None:
        raise service.InspectionInvalid("inspection_id", "its result is already recorded")
    matter = body.matter_code.strip() if body.matter_code else None
    if body.violation and not matter:
        raise service.InspectionInvalid("matter_code", "a violation names the matter it breaks")
    if matter and matter not in row["matter_codes"]:
        raise service.InspectionInvalid("matter_code", f"{matter!r} is not among this inspection's matters")
    result = body.model_dump() | {"matter_code": matter}
    outcome: dict[str, Any] = {"lenient": False}
    async with connection.transaction():
        await connection.execute(
            queries.SET_RESULT, inspection_id, json.dumps(result, ensure_ascii=False), now
        )
        if body.violation:
            outcome = await record_violation(
                connection,
                target_id=row["target_id"],
                source="inspection",
                event_id=None,
                inspection_id=inspection_id,
                matter_code=matter,
                minor=body.minor,
                note=body.note,
                at=now,
            )
    return {"inspection_id": inspection_id, "result": result, **outcome}


async def negative_list(
    connection: asyncpg.Connection, *, warning: int, penalty: int
) -> list[dict[str, Any]]:
    """Targets with ``warning`` or more counted violations: 警示 (warning) from the
    ``warning``-th, 处罚建议 (penalty recommendation) from the ``penalty``-th."""
    await sync_closed_events(connection)
    rows = await connection.fetch(queries.NEGATIVE_LIST, warning, penalty)
    return [
        dict(r) | {"status": "penalty_recommended" if r["violations"] >= penalty else "warning"} for r in rows
    ]


async def lenient_cases(connection: asyncpg.Connection) -> list[dict[str, Any]]:
    await sync_closed_events(connection)
    return [dict(r) for r in await connection.fetch(queries.LENIENT_CASES)]
