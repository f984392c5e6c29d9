"""Routes of the events domain: operator/patrol intake, views, lifecycle actions, 延期, 并单."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth import scope
from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.policy import FIELD_ACTIONS
from gridsvc.dispatch import service as dispatch
from gridsvc.errors import APIError
from gridsvc.events import contact, flows, models, service, supervision, transitions
from gridsvc.events.lifecycle import ACTIONS, STATES
from gridsvc.events.models import Viewer
from gridsvc.events.read import created_body
from gridsvc.events.service import EventContext
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["events"])


def _viewer(request: Request) -> Viewer:
    return flows.viewer_of(current(request))


def _context(request: Request) -> EventContext:
    return flows.context_of(request.app.state, viewer=_viewer(request))


@router.post("/events", status_code=201, summary="An operator-entered or patrol-found event")
async def create_event(request: Request, body: models.EventIn) -> Response:
    lng, lat, crs = to_wgs84_point(body.location, "body.location")
    new = flows.NewEvent(
        source=body.source,
        title=body.title,
        description=body.description,
        matter_code=body.matter_code,
        condition_position=body.condition,
        address=body.address,
        lng=lng,
        lat=lat,
        source_crs=crs,
        source_lng=body.location.lng if body.location else None,
        source_lat=body.location.lat if body.location else None,
        reporter=body.reporter.model_dump() if body.reporter else None,
        reported_at=body.reported_at,
    )
    async with request.app.state.pool.acquire() as connection:
        done = await flows.intake(connection, context=_context(request), new=new, actor=actor_of(request))
    return json_response(created_body(done.view, done.created), status_code=201)


@router.get("/events", summary="Events, newest first (filters: state, responsible, overdue)")
async def list_events(
    request: Request,
    state: Annotated[list[str] | None, Query(description=f"any of {', '.join(STATES)}")] = None,
    responsible_kind: Annotated[str | None, Query(pattern="^(squad|department|grid_head|triage)$")] = None,
    responsible_code: str | None = None,
    overdue: bool | None = None,
    before_id: Annotated[int | None, Query(description="page: events older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    unknown = [s for s in state or [] if s not in STATES]
    if unknown:
        raise APIError(
            422,
            "invalid_request",
            f"query.state: unknown state {unknown[0]!r}",
            fields=[{"field": "query.state", "reason": f"one of {', '.join(STATES)}"}],
        )
    visible = scope.events_filter(current(request))
    if visible.nothing:
        return json_response({"events": []})
    rows = await service.list_events(
        request.app.state.pool,
        states=state,
        responsible_kind=responsible_kind,
        overdue=overdue,
        responsible_code=responsible_code,
        before_id=before_id,
        limit=limit,
        grid_codes=visible.grid_codes,
        squad_id=visible.squad_id,
        integration_id=visible.integration_id,
        department_code=visible.department_code,
        station_codes=visible.station_codes,
        township_codes=visible.township_codes,
        viewer=_viewer(request),
    )
    return json_response({"events": rows})


@router.get("/events/{event_id}", summary="One event with routing, SLA, audit trail")
async def get_event(request: Request, event_id: int) -> Response:
    """Outside the caller's scope (another grid's, another squad's event): 404."""
    who = current(request)
    view = await service.get_event(request.app.state.pool, event_id=event_id, viewer=flows.viewer_of(who))
    if not scope.event_visible(who, view):
        raise scope.not_found("event", event_id)
    return json_response(view)


@router.post(
    "/events/{event_id}/actions/{action}",
    summary="A lifecycle action: route, dispatch, sign_for, arrive, handle, verify, "
    "reject, close, return, transfer, suspend, resume",
)
async def act(request: Request, event_id: int, action: str, body: models.ActionIn | None = None) -> Response:
    if action not in ACTIONS:
        raise APIError(404, "not_found", f"no action {action!r}; actions: {', '.join(ACTIONS)}")
    who = current(request)
    await scope.check_event(request.app.state.pool, who, event_id)
    if not scope.sees_all(who) and action not in FIELD_ACTIONS:
        raise APIError(
            403, "forbidden", f"role {who.role} may not {action}; it may: {', '.join(sorted(FIELD_ACTIONS))}"
        )
    body = body or models.ActionIn()
    data: dict[str, Any] = {}
    if body.position is not None:
        lng, lat, crs = to_wgs84_point(body.position, "body.position")
        data["position"] = {"lng": lng, "lat": lat, "crs": crs}
    if body.override_reason:
        data["override_reason"] = body.override_reason
    async with request.app.state.pool.acquire() as connection:
        await transitions.apply_action(
            connection,
            context=_context(request),
            event_id=event_id,
            action=action,
            actor=actor_of(request),
            note=body.note or body.override_reason,
            squad_id=body.squad_id,
            target=body.target.model_dump() if body.target else None,
            data=data or None,
        )
        view = await service.get_event(connection, event_id=event_id, viewer=_viewer(request))
    return json_response(view)


@router.get(
    "/events/{event_id}/candidates",
    summary="Candidate squads for dispatch, ranked by responsibility, status and ETA",
)
async def candidates(request: Request, event_id: int) -> Response:
    pool = request.app.state.pool
    event = await service.get_event(pool, event_id=event_id, with_history=False)
    ranked = await dispatch.candidates(pool, holder=getattr(request.app.state, "eta", None), event=event)
    ranked["recommended"] = dispatch.best(ranked)
    return json_response(ranked)


@router.post("/events/{event_id}/location", summary="Place an address-only event, then route it")
async def place_event(request: Request, event_id: int, body: models.LocationIn) -> Response:
    lng, lat, crs = to_wgs84_point(body.location, "body.location")
    assert lng is not None and lat is not None and crs is not None
    async with request.app.state.pool.acquire() as connection:
        await transitions.set_location(
            connection,
            context=_context(request),
            event_id=event_id,
            lng=lng,
            lat=lat,
            crs=crs,
            actor=actor_of(request),
            note=body.note,
        )
        view = await service.get_event(connection, event_id=event_id, viewer=_viewer(request))
    return json_response(view)


@router.post("/events/{event_id}/extensions", status_code=201, summary="Ask for more time (延期)")
async def request_extension(request: Request, event_id: int, body: models.ExtensionIn) -> Response:
    await scope.check_event(request.app.state.pool, current(request), event_id)
    async with request.app.state.pool.acquire() as connection:
        extension_id = await supervision.request_extension(
            connection, event_id=event_id, actor=actor_of(request), minutes=body.minutes, reason=body.reason
        )
    return json_response({"id": extension_id, "event_id": event_id, "status": "pending"}, status_code=201)


@router.post(
    "/events/{event_id}/extensions/{extension_id}/decision", summary="Approve or refuse a 延期 request"
)
async def decide_extension(
    request: Request, event_id: int, extension_id: int, body: models.ExtensionDecisionIn
) -> Response:
    async with request.app.state.pool.acquire() as connection:
        await supervision.decide_extension(
            connection,
            event_id=event_id,
            extension_id=extension_id,
            actor=actor_of(request),
            approved=body.approved,
            note=body.note,
        )
        view = await service.get_event(connection, event_id=event_id, viewer=_viewer(request))
    return json_response(view)


@router.delete("/events/{event_id}/duplicate_of", summary="Unlink a 并单 duplicate")
async def unlink(
    request: Request, event_id: int, note: Annotated[str | None, Query(max_length=1000)] = None
) -> Response:
    async with request.app.state.pool.acquire() as connection:
        await service.unlink_duplicate(connection, event_id=event_id, actor=actor_of(request), note=note)
        view = await service.get_event(connection, event_id=event_id, viewer=_viewer(request))
    return json_response(view)


@router.get("/events-counters", summary="Open, overdue, triage and today's closed events")
async def counters(request: Request) -> Response:
    return json_response(await supervision.counters(request.app.state.pool))


@router.post(
    "/events/{event_id}/reporter/reveal",
    summary="The caller's full number for a call back (consented callers; audited)",
)
async def reveal_reporter(request: Request, event_id: int, body: models.RevealIn | None = None) -> Response:
    """Grid heads and squads, on their own events: 404 outside scope, 409 ``reveal_refused``
    when the caller did not consent or asked for confidentiality. Each reveal adds a
    ``reveal_contact`` row (actor, time) to the event's audit trail."""
    await scope.check_event(request.app.state.pool, current(request), event_id)
    async with request.app.state.pool.acquire() as connection:
        revealed = await contact.reveal_contact(
            connection, event_id=event_id, actor=actor_of(request), reason=body.reason if body else None
        )
    return json_response(revealed)
