"""Routes of 回访 and 重办: the hotline's signed satisfaction callback, the operator's 重办
and its refusal, and the reads of the results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from gridsvc.auth import scope
from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.events import flows as event_flows
from gridsvc.events import service as events
from gridsvc.jsonresp import json_response
from gridsvc.revisits import flows, service
from gridsvc.revisits.models import DeclineIn, RedoIn, RevisitIn, Satisfaction
from gridsvc.webhooks.inbound import SignedCall, parse_body, signed_call

router = APIRouter(tags=["revisits"])


@router.post(
    "/webhooks/12345/revisits",
    summary="A 12345 回访 result for a work order (HMAC-signed like the work-order webhook)",
    responses={
        200: {"description": "the same callback again: its first answer, nothing changed"},
        201: {"description": "stored; reopened as 重办 when 不满意 on a handled or closed case"},
        404: {"description": "no such work order of this hotline"},
    },
)
async def hotline_revisit(request: Request, call: Annotated[SignedCall, Depends(signed_call)]) -> Response:
    body = parse_body(request, call.raw, RevisitIn)
    async with request.app.state.pool.acquire() as connection:
        result = await flows.record_revisit(
            connection,
            event_flows.context_of(request.app.state),
            integration=call.integration,
            body=body,
            actor=f"integration:{call.name}",
        )
    return json_response(result.body(), status_code=201 if result.created else 200)


@router.post("/events/{event_id}/redo", summary="重办: an operator reopens a handled or closed case")
async def redo(request: Request, event_id: int, body: RedoIn) -> Response:
    context = event_flows.context_of(request.app.state)
    async with request.app.state.pool.acquire() as connection:
        await flows.redo_by_operator(
            connection, context, event_id=event_id, actor=actor_of(request), note=body.note
        )
        view = await events.get_event(connection, event_id=event_id)
    return json_response(view)


@router.post(
    "/events/{event_id}/redo/decline",
    summary="Decline a 重办: the case is closed again with the reason (told to the hotline)",
)
async def decline_redo(request: Request, event_id: int, body: DeclineIn) -> Response:
    context = event_flows.context_of(request.app.state)
    async with request.app.state.pool.acquire() as connection:
        await flows.decline(
            connection, context, event_id=event_id, actor=actor_of(request), reason=body.reason
        )
        view = await events.get_event(connection, event_id=event_id)
    return json_response(view)


@router.get("/events/{event_id}/revisits", summary="The 回访 results of one case")
async def event_revisits(request: Request, event_id: int) -> Response:
    pool = request.app.state.pool
    await scope.check_event(pool, current(request), event_id)
    await events.event_view(pool, event_id=event_id)  # 404 for an unknown event
    return json_response({"event_id": event_id, "revisits": await service.of_event(pool, event_id=event_id)})


@router.get("/revisits", summary="回访 results, newest first, with the counts of the period")
async def list_revisits(
    request: Request,
    satisfaction: Satisfaction | None = None,
    outcome: Literal["reopened", "recorded"] | None = None,
    since: Annotated[datetime | None, Query(description="received at or after")] = None,
    until: Annotated[datetime | None, Query(description="received before")] = None,
    before_id: Annotated[int | None, Query(description="page: results older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    answer = await service.list_revisits(
        request.app.state.pool,
        satisfaction=satisfaction,
        outcome=outcome,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    return json_response(answer)
