"""``POST /webhooks/12345``: work orders pushed by the 12345 hotline.

Checks, in order: body size, integration, timestamp window, signature, JSON, fields. The
answer (201 new, 200 already known) is sent only after the event is committed; a work order
number seen before returns the existing event, also under concurrent delivery (the unique
index on (integration, work-order number) decides).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from gridsvc.events import flows
from gridsvc.events.models import Viewer, WorkOrderIn
from gridsvc.events.read import created_body
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response
from gridsvc.webhooks.inbound import SignedCall, parse_body, signed_call

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/12345",
    summary="A 12345 hotline work order (HMAC-signed)",
    responses={
        200: {"description": "already known: the existing event"},
        201: {"description": "stored, routed (and dispatched if configured)"},
    },
)
async def hotline_work_order(request: Request, call: Annotated[SignedCall, Depends(signed_call)]) -> Response:
    integration, x_integration = call.integration, call.name
    order = parse_body(request, call.raw, WorkOrderIn)
    lng, lat, crs = to_wgs84_point(order.location, "body.location")
    new = flows.NewEvent(
        source="hotline",
        title=order.title,
        description=order.content,
        matter_code=order.matter_code,
        matter_text=order.matter_name,
        address=order.address,
        lng=lng,
        lat=lat,
        source_crs=crs,
        source_lng=order.location.lng if order.location else None,
        source_lat=order.location.lat if order.location else None,
        reporter=order.reporter.model_dump() if order.reporter else None,
        reported_at=order.reported_at,
        integration_id=integration["id"],
        external_id=order.work_order_no,
    )
    viewer = Viewer(role="integration", name=x_integration, integration_id=integration["id"])
    async with request.app.state.pool.acquire() as connection:
        done = await flows.intake(
            connection,
            context=flows.context_of(request.app.state, viewer=viewer),
            new=new,
            actor=f"integration:{x_integration}",
        )
    return json_response(created_body(done.view, done.created), status_code=201 if done.created else 200)
