"""Routes of the events domain: operator/patrol intake, views, lifecycle actions, 延期, 并单."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from gridsvc.auth import scope
from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.policy import FIELD_ACTIONS, GRID_HEAD, SQUAD
from gridsvc.clock import SYSTEM, Clock
from gridsvc.database.replica import read_pool
from gridsvc.dispatch import service as dispatch
from gridsvc.errors import APIError
from gridsvc.events import (
    archived,
    contact,
    export,
    flows,
    merging,
    models,
    search,
    service,
    supervision,
    transitions,
)
from gridsvc.events.lifecycle import ACTIONS, STATES
from gridsvc.events.models import Viewer
from gridsvc.events.read import created_body
from gridsvc.events.service import EventContext
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response
from gridsvc.patrols import flows as patrols

router = APIRouter(tags=["events"])


def _viewer(request: Request) -> Viewer:
    return flows.viewer_of(current(request))


def _clock(request: Request) -> Clock:
    clock: Clock = getattr(request.app.state, "clock", SYSTEM)
    return clock


def _context(request: Request) -> EventContext:
    return flows.context_of(request.app.state, viewer=_viewer(request))


@router.post("/events", status_code=201, summary="An operator-entered or patrol-found event")
async def create_event(request: Request, body: models.EventIn) -> Response:
    """The desk enters any event. Grid heads and squads report what they find on patrol
    (巡查上报, from the inbox): ``source`` is ``patrol`` (another: 422), the phone's
    ``location`` is required, the caller fields stay empty; the event is routed like any
    other and stays visible to its reporter (read, add photos) wherever it goes."""
    who = current(request)
    # 巡查上报 is the grid heads' and squads' (department accounts enter events as before)
    field = who.role in {GRID_HEAD, SQUAD}
    if field:
        _check_patrol_report(body)
    lng, lat, crs = to_wgs84_point(body.location, "body.location")
    squad_report = who.role == SQUAD and who.squad_id is not None
    if body.visit_id is not None and not squad_report:
        raise APIError(
            422,
            "invalid_request",
            "body.visit_id: only a squad's patrol report is made on a patrol visit",
            fields=[{"field": "body.visit_id", "reason": "only a squad's patrol report is made on a visit"}],
        )
    new = flows.NewEvent(
        source="patrol" if field else body.source,
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
        reported_by=who.user_id if field else None,
    )
    async with request.app.state.pool.acquire() as connection:
        if squad_report and body.visit_id is not None:
            await patrols.check_finding_visit(connection, visit_id=body.visit_id, squad_id=who.squad_id)
        done = await flows.intake(connection, context=_context(request), new=new, actor=actor_of(request))
        if squad_report and who.squad_id is not None:  # a finding on patrol: linked to its visit
            await patrols.link_finding(
                connection,
                event_id=done.view.id,
                squad_id=who.squad_id,
                visit_id=body.visit_id,
                lng=lng,
                lat=lat,
                now=_clock(request).now(),
            )
    return json_response(created_body(done.view, done.created), status_code=201)


def _check_patrol_report(body: models.EventIn) -> None:
    """What a field account's report must be: a patrol finding at a position, no caller."""
    wrong = []
    if "source" in body.model_fields_set and body.source != "patrol":
        wrong.append({"field": "body.source", "reason": "grid heads and squads report source 'patrol' only"})
    if body.location is None:
        wrong.append({"field": "body.location", "reason": "a patrol report needs the phone's position"})
    if body.reporter is not None:
        wrong.append(
            {"field": "body.reporter", "reason": "the reporter of a patrol report is the account itself"}
        )
    if wrong:
        raise APIError(
            422, "invalid_request", "; ".join(f"{w['field']}: {w['reason']}" for w in wrong), fields=wrong
        )


def _unknown(field: str, values: list[str] | None, allowed: tuple[str, ...]) -> None:
    bad = [v for v in values or [] if v not in allowed]
    if bad:
        raise APIError(
            422,
            "invalid_request",
            f"query.{field}: unknown value {bad[0]!r}",
            fields=[{"field": f"query.{field}", "reason": f"one of {', '.join(allowed)}"}],
        )


def queue_query(
    state: Annotated[list[str] | None, Query(description=f"any of {', '.join(STATES)}")] = None,
    stage: Annotated[list[str] | None, Query(description=f"any of {', '.join(search.STAGES)}")] = None,
    sla: Annotated[list[str] | None, Query(description="overdue, due_soon, on_time, none")] = None,
    township: Annotated[list[str] | None, Query(description="enforcement grid codes")] = None,
    grid: Annotated[list[str] | None, Query(description="community grid codes")] = None,
    matter_class: Annotated[list[str] | None, Query(description="matter classes, e.g. EV-01")] = None,
    responsible: Annotated[list[str] | None, Query(description="units as kind:code")] = None,
    source: Annotated[list[str] | None, Query(description=f"any of {', '.join(search.SOURCES)}")] = None,
    located: Annotated[bool | None, Query(description="false: address-only events")] = None,
    open_only: Annotated[bool, Query(alias="open", description="true: every state but closed")] = False,
    responsible_kind: Annotated[str | None, Query(pattern="^(squad|department|grid_head|triage)$")] = None,
    responsible_code: Annotated[list[str] | None, Query()] = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="title, description, address, work order, phone's last digits"),
    ] = None,
    sort: Annotated[str, Query(pattern="^(id|due_at|received_at)$")] = "id",
    order: Annotated[
        str | None, Query(pattern="^(asc|desc)$", description="default: due_at asc, others desc")
    ] = None,
    before_id: Annotated[int | None, Query(description="page: events older than this id")] = None,
    received_from: Annotated[
        datetime | None, Query(description="received at or after (ISO time with zone)")
    ] = None,
    received_to: Annotated[datetime | None, Query(description="received before (ISO time with zone)")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> search.EventSearch:
    """The work queue's filters (``GET /events`` and its export)."""
    _unknown("state", state, STATES)
    _unknown("stage", stage, search.STAGES)
    _unknown("sla", sla, search.SLA_STATUSES)
    _unknown("source", source, search.SOURCES)
    named = {"township": township, "grid": grid, "matter_class": matter_class, "responsible": responsible}
    for field, values in named.items():
        if any(len(v) > 100 for v in values or []):
            raise APIError(
                422,
                "invalid_request",
                f"query.{field}: a value longer than 100 characters",
                fields=[{"field": f"query.{field}", "reason": "at most 100 characters"}],
            )
    for field, moment in (("received_from", received_from), ("received_to", received_to)):
        if moment is not None and moment.tzinfo is None:
            raise APIError(
                422,
                "invalid_request",
                f"query.{field}: needs a time zone (e.g. 2026-11-01T00:00:00+08:00)",
                fields=[{"field": f"query.{field}", "reason": "needs a time zone, e.g. +08:00"}],
            )
    text = (q or "").strip()
    facets = {
        "state": tuple(state or ()),
        "stage": tuple(stage or ()),
        "sla": tuple(sla or ()),
        "township": tuple(township or ()),
        "grid": tuple(grid or ()),
        "matter_class": tuple(matter_class or ()),
        "responsible": tuple(responsible or ()),
        "source": tuple(source or ()),
        "located": () if located is None else ("located" if located else "unlocated",),
    }
    return search.EventSearch(
        facets=facets,
        open_only=open_only,
        responsible_kind=responsible_kind,
        responsible_codes=tuple(responsible_code or ()),
        overdue=overdue,
        before_id=before_id,
        received_from=received_from,
        received_to=received_to,
        q=text or None,
        sort=sort,
        descending=(order or ("asc" if sort == "due_at" else "desc")) == "desc",
        offset=offset,
        limit=limit,
    )


def _scope(request: Request) -> search.Scope | None:
    """The caller's scope as the search takes it; None: the caller sees no event."""
    visible = scope.events_filter(current(request))
    if visible.nothing:
        return None
    return search.Scope(
        grid_codes=None if visible.grid_codes is None else tuple(visible.grid_codes),
        squad_id=visible.squad_id,
        integration_id=visible.integration_id,
        department_code=visible.department_code,
        reported_by=visible.reported_by,
        station_codes=tuple(visible.station_codes or ()),
        township_codes=tuple(visible.township_codes or ()),
    )


@router.get(
    "/events",
    summary="Events (the work queue): filters, free text q, sort, paging, counts per filter",
)
async def list_events(
    request: Request,
    query: Annotated[search.EventSearch, Depends(queue_query)],
    counts: Annotated[bool, Query(description="add the total and the counts per filter")] = False,
) -> Response:
    """Newest first unless ``sort`` says otherwise. Every filter takes several values (any
    of them matches); ``counts=true`` adds ``total`` and, per filter, how many events each
    value would list with the other filters applied."""
    visible, viewer = _scope(request), _viewer(request)
    answer: dict[str, Any] = {"events": [], "offset": query.offset, "limit": query.limit}
    if counts:
        answer.update(total=0, counts={facet: [] for facet in search.FACETS})
    if visible is None:
        return json_response(answer)
    pool, now = read_pool(request), _clock(request).now()
    page = service.search_events(pool, query=query, scope=visible, viewer=viewer, now=now)
    if not counts:
        answer["events"] = await page
        return json_response(answer)
    # the page and the counts on two of the pool's connections at once: the queue asks for
    # both every few seconds, and the answer waits for the slower one, not for their sum
    answer["events"], (total, per_facet) = await asyncio.gather(
        page, service.count_events(pool, query=query, scope=visible, viewer=viewer, now=now)
    )
    answer.update(total=total, counts=per_facet)
    return json_response(answer)


@router.get("/events-export", summary="The work queue's filtered list as CSV or Excel (xlsx)")
async def export_events(
    request: Request,
    query: Annotated[search.EventSearch, Depends(queue_query)],
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",  # noqa: A002 - the API's name
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> Response:
    """Every event the filters select (``offset``/``limit`` ignored), up to
    ``GRIDSVC_EXPORT_MAX_ROWS``; more: 422 (narrow the filters). No caller details."""
    visible, viewer = _scope(request), _viewer(request)
    cap = request.app.state.settings.export_max_rows
    whole = dataclasses.replace(query, offset=0, limit=cap + 1)
    pool = read_pool(request)
    rows = []
    if visible is not None:
        now = _clock(request).now()
        rows = await service.search_events(pool, query=whole, scope=visible, viewer=viewer, now=now)
    if len(rows) > cap:
        raise APIError(
            422,
            "export_too_large",
            f"more than {cap} events match; narrow the filters (GRIDSVC_EXPORT_MAX_ROWS)",
            fields=[{"field": "query", "reason": f"at most {cap} events per export"}],
        )
    zone = ZoneInfo(await service.home_timezone(pool))
    if format == "xlsx":
        body, media = export.to_xlsx(rows, lang=lang, zone=zone), export.XLSX_MEDIA
    else:
        body, media = export.to_csv(rows, lang=lang, zone=zone), export.CSV_MEDIA
    stamp = _clock(request).now().astimezone(zone).strftime("%Y%m%d-%H%M")
    name = f"events-{stamp}.{format}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/events/{event_id}", summary="One event with routing, SLA, audit trail")
async def get_event(request: Request, event_id: int) -> Response:
    """Outside the caller's scope (another grid's, another squad's event): 404."""
    who = current(request)
    try:
        view = await service.get_event(
            request.app.state.pool,
            event_id=event_id,
            viewer=flows.viewer_of(who),
            settings=request.app.state.settings,
        )
    except service.EventNotFound:
        # An archived case is shown read-only (``archived: true``, no actions): a citizen who
        # calls again years later, or an old notice's link, must find what was done, not a
        # 404 that reads as "this case never existed".
        found = await archived.archived_event(
            request.app.state.pool, event_id=event_id, viewer=flows.viewer_of(who), now=_clock(request).now()
        )
        if found is None:
            raise
        view = found
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
    await scope.check_event(request.app.state.pool, who, event_id, acting=True)
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
    summary="Candidate squads for dispatch, ranked by responsibility, status, load and ETA",
)
async def candidates(request: Request, event_id: int) -> Response:
    pool = request.app.state.pool
    event = await service.get_event(pool, event_id=event_id, with_history=False)
    ranked = await dispatch.candidates(
        pool,
        holder=getattr(request.app.state, "eta", None),
        event=event,
        max_open_cases=request.app.state.settings.dispatch_max_open_cases,
    )
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
    await scope.check_event(request.app.state.pool, current(request), event_id, acting=True)
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


@router.post("/events/{event_id}/duplicate_of", summary="并单: confirm this event duplicates another")
async def link(request: Request, event_id: int, body: models.DuplicateIn) -> Response:
    """The operator confirms a 并单 (usually one of ``duplicate_candidates``): the event then
    follows its original, with its own hotline callbacks (签收; 办结 with the original's
    reply). 409 when either is closed, already linked, or the event has duplicates itself."""
    async with request.app.state.pool.acquire() as connection:
        await merging.link_duplicate(
            connection,
            _context(request),
            event_id=event_id,
            master_id=body.event_id,
            actor=actor_of(request),
            note=body.note,
        )
        view = await service.get_event(
            connection, event_id=event_id, viewer=_viewer(request), settings=request.app.state.settings
        )
    return json_response(view)


@router.delete("/events/{event_id}/duplicate_of", summary="Unlink a 并单 duplicate")
async def unlink(
    request: Request, event_id: int, note: Annotated[str | None, Query(max_length=1000)] = None
) -> Response:
    async with request.app.state.pool.acquire() as connection:
        await merging.unlink_duplicate(connection, event_id=event_id, actor=actor_of(request), note=note)
        view = await service.get_event(
            connection, event_id=event_id, viewer=_viewer(request), settings=request.app.state.settings
        )
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
    await scope.check_event(request.app.state.pool, current(request), event_id, acting=True)
    async with request.app.state.pool.acquire() as connection:
        revealed = await contact.reveal_contact(
            connection, event_id=event_id, actor=actor_of(request), reason=body.reason if body else None
        )
    return json_response(revealed)
