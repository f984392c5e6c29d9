"""Routes of the whistles (吹哨报到): summon, 报到, 到场, views and department scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth import scope
from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.models import Principal
from gridsvc.auth.policy import DEPARTMENT
from gridsvc.clock import SYSTEM
from gridsvc.errors import APIError
from gridsvc.events import flows as event_flows
from gridsvc.events import service as event_service
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response
from gridsvc.whistles import flows, models, service

router = APIRouter(tags=["whistles"])


def parse_instant(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with its offset; a naive or malformed one is refused naming ``field``."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        reason = f"{value!r} is not an ISO 8601 time"
        raise APIError(
            422, "invalid_request", f"{field}: {reason}", fields=[{"field": field, "reason": reason}]
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        reason = f"{value!r} has no UTC offset; give one, e.g. 2026-03-01T00:00:00+08:00"
        raise APIError(
            422, "invalid_request", f"{field}: {reason}", fields=[{"field": field, "reason": reason}]
        )
    return parsed


async def _check_whistle(request: Request, who: Principal, whistle_id: int, department: str | None) -> None:
    """404 unless ``who`` may see the whistle (and, for a step, act for ``department``): the
    desk always; a department account only for its own department, on whistles summoning it
    in its areas (another department's whistle does not exist for it)."""
    if scope.sees_all(who):
        return
    if who.role != DEPARTMENT or (department is not None and department != who.department_code):
        raise scope.not_found("whistle", whistle_id)
    try:
        view = await service.get_whistle(request.app.state.pool, whistle_id=whistle_id)
    except service.WhistleNotFound:
        raise scope.not_found("whistle", whistle_id) from None
    if not await scope.visible_whistles(request.app.state.pool, who, [view]):
        raise scope.not_found("whistle", whistle_id)


@router.post(
    "/whistles",
    status_code=201,
    summary="吹哨: a township summons county departments for a matter at a place",
)
async def create_whistle(request: Request, body: models.WhistleIn) -> Response:
    lng, lat, crs = to_wgs84_point(body.location, "body.location")
    assert lng is not None and lat is not None
    new = service.NewWhistle(
        township_code=body.township_code,
        title=body.title,
        departments=body.departments,
        lng=lng,
        lat=lat,
        source_crs=crs,
        source_lng=body.location.lng,
        source_lat=body.location.lat,
        summoned_by=body.summoned_by or actor_of(request),
        ack_minutes=body.ack_minutes,
        arrive_minutes=body.arrive_minutes,
        matter_code=body.matter_code,
        description=body.description,
        address=body.address,
    )
    async with request.app.state.pool.acquire() as connection:
        context = event_flows.context_of(request.app.state, viewer=event_flows.viewer_of(current(request)))
        whistle_id = await flows.create_whistle(connection, context=context, new=new)
        view = await service.get_whistle(connection, whistle_id=whistle_id)
        event = await event_service.event_view(connection, event_id=view["event_id"], viewer=context.viewer)
    view["event"].update(routing=event.routing, sla=event.sla.as_dict(), duplicate_of=event.duplicate_of)
    return json_response(view, status_code=201)


@router.get("/whistles", summary="Whistles, newest first, with each department's attendance")
async def list_whistles(
    request: Request,
    open_: Annotated[
        bool | None, Query(alias="open", description="true: event not closed; false: closed")
    ] = None,
    township_code: Annotated[str | None, Query(max_length=100)] = None,
    department: Annotated[str | None, Query(max_length=60, description="summoned this one")] = None,
    before_id: Annotated[int | None, Query(description="page: whistles older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """A department account: only the whistles summoning its own department."""
    who = current(request)
    if who.role == DEPARTMENT:
        if department is not None and department != who.department_code:
            return json_response({"whistles": []})
        department = who.department_code
    rows = await service.list_whistles(
        request.app.state.pool,
        open_=open_,
        township_code=township_code,
        department=department,
        before_id=before_id,
        limit=limit,
    )
    rows = await scope.visible_whistles(request.app.state.pool, who, rows)
    return json_response({"whistles": rows})


@router.get("/whistles-counters", summary="Departments still to 报到 on open whistles")
async def counters(request: Request) -> Response:
    return json_response({"awaiting_ack": await service.awaiting_ack_count(request.app.state.pool)})


@router.get(
    "/whistles/scores", summary="Per department: summoned, 报到/到场 on time, response rate, score 0–100"
)
async def scores(
    request: Request,
    from_: Annotated[
        str | None, Query(alias="from", description="ISO 8601 with offset; summoned at or after")
    ] = None,
    to: Annotated[str | None, Query(description="ISO 8601 with offset; summoned before")] = None,
    township_code: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    start = parse_instant(from_, "query.from")
    end = parse_instant(to, "query.to")
    if start is not None and end is not None and end <= start:
        reason = f"to ({to}) must be after from ({from_})"
        raise APIError(
            422, "invalid_request", f"query.to: {reason}", fields=[{"field": "query.to", "reason": reason}]
        )
    rows = await service.scores(request.app.state.pool, start=start, end=end, township_code=township_code)
    return json_response(
        {
            "from": start,
            "to": end,
            "township_code": township_code,
            "formula": "score = 100 × (0.4 × ack_on_time_rate + 0.6 × arrive_on_time_rate); rates "
            "over the steps done or past due (pending steps are not scored)",
            "departments": rows,
        }
    )


@router.get(
    "/whistles/board",
    summary="Open whistles for the operator: each department's 报到/到场 state, lateness, score",
)
async def board(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 200) -> Response:
    clock = getattr(request.app.state, "clock", SYSTEM)
    async with request.app.state.pool.acquire() as connection:
        view = await service.board(connection, now=clock.now(), limit=limit)
    return json_response(view)


@router.get("/whistles/{whistle_id}", summary="One whistle with each department's attendance")
async def get_whistle(request: Request, whistle_id: int) -> Response:
    await _check_whistle(request, current(request), whistle_id, None)
    view = await service.get_whistle(request.app.state.pool, whistle_id=whistle_id)
    return json_response(view)


@router.post(
    "/whistles/{whistle_id}/departments/{department}/ack",
    summary="报到: the department acknowledges the summons (once)",
)
async def acknowledge(
    request: Request, whistle_id: int, department: str, body: models.AckIn | None = None
) -> Response:
    """Made by the department's own account, or recorded by the desk on its behalf (so
    marked in the audit trail and the attendance: ``on_behalf``)."""
    who = current(request)
    await _check_whistle(request, who, whistle_id, department)
    body = body or models.AckIn()
    async with request.app.state.pool.acquire() as connection:
        done = await service.acknowledge(
            connection,
            whistle_id=whistle_id,
            department=department,
            actor=actor_of(request),
            note=body.note,
            by_department=who.role == DEPARTMENT,
        )
        view = await service.get_whistle(connection, whistle_id=whistle_id)
    return json_response({"done": done, "whistle": view})


@router.post(
    "/whistles/{whistle_id}/departments/{department}/arrive",
    summary="到场: the department is on scene (once, after 报到)",
)
async def arrive(
    request: Request, whistle_id: int, department: str, body: models.ArriveIn | None = None
) -> Response:
    who = current(request)
    await _check_whistle(request, who, whistle_id, department)
    body = body or models.ArriveIn()
    lng, lat, crs = to_wgs84_point(body.position, "body.position")
    async with request.app.state.pool.acquire() as connection:
        done = await service.arrive(
            connection,
            whistle_id=whistle_id,
            department=department,
            actor=actor_of(request),
            note=body.note,
            lng=lng,
            lat=lat,
            crs=crs,
            by_department=who.role == DEPARTMENT,
        )
        view = await service.get_whistle(connection, whistle_id=whistle_id)
    return json_response({"done": done, "whistle": view})
