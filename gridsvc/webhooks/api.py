"""``POST /webhooks/12345``: work orders pushed by the 12345 hotline.

Checks, in order: body size, integration, timestamp window, signature, JSON, fields. The
answer (201 new, 200 already known) is sent only after the event is committed; a work order
number seen before returns the existing event, also under concurrent delivery (the unique
index on (integration, work-order number) decides).
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Request, Response

from gridsvc.events import flows
from gridsvc.events.models import Viewer, WorkOrderIn
from gridsvc.events.read import created_body
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response
from gridsvc.webhooks.inbound import parse_body, signed_body

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/12345",
    summary="A 12345 hotline work order (HMAC-signed)",
    responses={
        200: {"description": "already known: the existing event"},
        201: {"description": "stored, routed (and dispatched if configured)"},
    },
)
async def hotline_work_order(
    request: Request,
    x_integration: str = Header(description="the integration's name"),
    x_timestamp: str = Header(description="unix seconds"),
    x_signature: str = Header(description="sha256=<hex HMAC of '<timestamp>.' + body>"),
) -> Response:
    integration, raw = await signed_body(
        request, integration=x_integration, timestamp=x_timestamp, signature=x_signature
    )
    order = parse_body(request, raw, WorkOrderIn)
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
