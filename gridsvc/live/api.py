"""Routes of the live pages: the SSE stream, the map's data, counters, notices.

``GET /live/stream`` authenticates like every route (``Authorization: Bearer`` or the
``gridsvc_token`` cookie: EventSource cannot send headers, so pages rely on the cookie set by
``/login``) and carries only what the caller may see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from gridsvc.auth.deps import principal, require
from gridsvc.auth.models import Principal
from gridsvc.auth.scope import event_assigned, event_visible, jurisdiction_codes
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.events.flows import viewer_of
from gridsvc.jsonresp import json_response
from gridsvc.live import notices, views
from gridsvc.live.hub import LiveHub, encode

router = APIRouter(tags=["live"])
Operator = Annotated[Principal, Depends(require("admin", "operator"))]
Anyone = Annotated[Principal, Depends(principal)]


def principal_of_user(row: dict[str, Any]) -> Principal:
    """A users row as the scope rules see it (for notices: who would see this event)."""
    return Principal(
        user_id=row["id"],
        name=row["name"],
        role=row["role"],
        grid_codes=tuple(row.get("grid_codes") or ()),
        squad_id=row.get("squad_id"),
        webhook_url=row.get("webhook_url"),
        display_name=row.get("display_name"),
        department_code=row.get("department_code"),
        station_codes=tuple(row.get("station_codes") or ()),
        township_codes=tuple(row.get("township_codes") or ()),
    )


def new_hub(app_state: Any) -> LiveHub:
    """The process's hub, fed by its one listener (``app_state.listener``)."""
    return LiveHub(
        app_state.pool,
        app_state.listener,
        visible=event_visible,
        stale_after_s=app_state.settings.squad_position_stale_s,
    )


@router.get(
    "/live/stream",
    summary="Server-sent events: events, squads, counters (by scope)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request, who: Anyone, last_event_id: Annotated[str | None, Header()] = None
) -> EventSourceResponse:
    """Messages: ``hello``; ``event`` (``{op, event}``, the marker/card summary);
    ``removed`` (an event left your scope); ``squad``; ``counters`` (operators);
    ``heartbeat`` every ``GRIDSVC_LIVE_HEARTBEAT_S`` (15 s); ``resync`` (reload: updates were
    missed, e.g. while the server's database connection was down). Send ``Last-Event-ID``
    to catch up after a reconnect."""
    hub: LiveHub = request.app.state.live
    interval = request.app.state.settings.live_heartbeat_s
    subscriber = hub.subscribe(who, last_event_id=last_event_id)

    async def body() -> AsyncIterator[ServerSentEvent | bytes]:
        try:
            yield ServerSentEvent(retry=3000, sep="\n")
            yield hub.hello(subscriber)
            while not hub.closing:
                # what the hub queued meanwhile goes out in one write: a burst of changes
                # (the hub gathers 50 ms of them) costs one send per stream, not one per
                # message per stream (50 pages open at 200 work orders a second)
                batch = [await subscriber.queue.get()]
                while not subscriber.queue.empty() and len(batch) < 200:
                    batch.append(subscriber.queue.get_nowait())
                yield batch[0] if len(batch) == 1 else b"".join(m.encode() for m in batch)
                if subscriber.overflowed:
                    return
        finally:
            hub.unsubscribe(subscriber)

    # sse-starlette writes the messages, sends the heartbeats, ends the stream when the
    # client goes away or the server shuts down.
    return EventSourceResponse(
        body(),
        sep="\n",
        ping=interval,
        ping_message_factory=lambda: encode("heartbeat", {"boot": hub.boot}),
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/live/events", summary="Open events you may see, as map/inbox summaries")
async def live_events(
    request: Request,
    who: Anyone,
    assignments: Annotated[bool, Query(description="only dispatched / signed-for / on-scene")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 3000,
) -> Response:
    states = views.ASSIGNMENT_STATES if assignments else None
    found = await views.open_event_views(
        request.app.state.pool, states=states, limit=limit, viewer=viewer_of(who)
    )
    # The inbox's assignments are what the account may act on; its own field reports sent to
    # another unit stay out of them (GET /events lists those).
    shown = event_assigned if assignments else event_visible
    return json_response({"events": [views.event_summary(v) for v in found if shown(who, v)]})


@router.get("/live/squads", summary="Squads with status and live (or station) position")
async def live_squads(request: Request, _: Operator) -> Response:
    rows = await views.squad_summaries(
        request.app.state.pool, stale_after_s=request.app.state.settings.squad_position_stale_s
    )
    return json_response({"squads": rows})


@router.get(
    "/live/counters", summary="Counter strip: open, overdue, triage, closed today, whistles awaiting 报到"
)
async def live_counters(request: Request, _: Operator) -> Response:
    return json_response(await views.counters(request.app.state.pool))


@router.get("/live/coverage", summary="Arrival-time coverage as GeoJSON hexagons")
async def live_coverage(
    request: Request,
    who: Operator,
    jurisdiction: Annotated[
        str | None, Query(description="jurisdiction code (default: every one with coverage in your scope)")
    ] = None,
    resolution: Annotated[int, Query(ge=5, le=9)] = 8,
) -> Response:
    pool = read_pool(request)
    allowed = await jurisdiction_codes(pool, who)
    if jurisdiction and allowed is not None and jurisdiction not in allowed:
        raise APIError(404, "not_found", f"no coverage computed for {jurisdiction!r}")
    codes = [jurisdiction] if jurisdiction else (allowed if allowed is not None else None)
    runs = await pool.fetch(
        "SELECT j.code, r.id FROM coverage_runs r JOIN jurisdictions j ON j.id = r.jurisdiction_id "
        "WHERE r.is_current AND ($1::text[] IS NULL OR j.code = ANY ($1::text[])) ORDER BY j.code",
        codes,
    )
    if not runs:
        raise APIError(404, "not_found", f"no coverage computed for {jurisdiction or 'your jurisdictions'!r}")
    cache = request.app.state.__dict__.setdefault("live_coverage_cache", {})
    key = (tuple((r["code"], r["id"]) for r in runs), resolution)
    if key not in cache:
        features: list[Any] = []
        for run in runs:  # several counties: one map of all of them
            found = await views.coverage_geojson(pool, jurisdiction=run["code"], resolution=resolution)
            features += found["features"]
        cache.clear()
        cache[key] = {"type": "FeatureCollection", "features": features}
    return json_response(cache[key])


@router.get("/notices/secret", summary="Your notices' signing secret (admin: anyone's)")
async def notice_secret(
    request: Request, who: Anyone, user: Annotated[str | None, Query(description="admin: user name")] = None
) -> Response:
    user_id = who.user_id
    if user is not None and user != who.name:
        if who.role != "admin":
            raise APIError(404, "not_found", f"user {user!r} does not exist")
        user_id = await request.app.state.pool.fetchval("SELECT id FROM users WHERE name = $1", user)
        if user_id is None:
            raise APIError(404, "not_found", f"user {user!r} does not exist")
    secret = await notices.secret_of(request.app.state.pool, user_id=user_id)
    return json_response(
        {
            "user_id": user_id,
            "secret": secret,
            "signature": "X-Signature: sha256=HMAC-SHA256(secret, '<X-Timestamp>.' + body)",
        }
    )


@router.get("/notices", summary="Per-recipient webhook notices (admin: all; else your own)")
async def list_notices(
    request: Request,
    who: Anyone,
    event_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    user_id = None if who.role == "admin" else who.user_id
    rows = await notices.list_notices(request.app.state.pool, event_id=event_id, user_id=user_id, limit=limit)
    return json_response({"notices": rows})
