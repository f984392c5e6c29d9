"""``POST /webhooks/12345``: work orders pushed by the 12345 hotline.

Checks, in order: body size, integration, timestamp window, signature, JSON, fields. The
answer (201 new, 200 already known) is sent only after the event is committed; a work order
number seen before returns the existing event, also under concurrent delivery (the unique
index on (integration, work-order number) decides).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError

from gridsvc import jsonsafe
from gridsvc.errors import APIError
from gridsvc.events import flows
from gridsvc.events.models import Viewer, WorkOrderIn
from gridsvc.events.read import created_body
from gridsvc.geo.points import to_wgs84_point
from gridsvc.jsonresp import json_response
from gridsvc.webhooks.service import integration_by_name
from gridsvc.webhooks.signing import verify

router = APIRouter(tags=["webhooks"])


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, "body_too_large", f"body of {declared} bytes; at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, "body_too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def unauthorised(message: str) -> APIError:
    return APIError(401, "unauthorised", message)


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
    settings = request.app.state.settings
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    integration = await integration_by_name(request.app.state.pool, name=x_integration)
    if integration is None or not integration["active"]:
        raise unauthorised(f"unknown or inactive integration {x_integration!r}")
    try:
        stamp = int(x_timestamp)
    except ValueError:
        raise unauthorised("X-Timestamp must be unix seconds") from None
    skew = abs(time.time() - stamp)
    if skew > settings.webhook_clock_skew_s:
        raise unauthorised(
            f"timestamp {stamp} is {skew:.0f} s from now; at most {settings.webhook_clock_skew_s} s allowed"
        )
    if not verify(integration["secret"], x_timestamp, raw, x_signature):
        raise unauthorised("signature does not match the body")
    try:
        payload: Any = jsonsafe.loads(raw, max_depth=settings.json_max_depth)
    except jsonsafe.JSONTooDeep as error:
        raise APIError(400, "json_too_deep", f"body: {error}") from None
    except ValueError as error:
        raise APIError(400, "malformed_json", f"body is not valid JSON: {error}") from None
    try:
        order = WorkOrderIn.model_validate(payload)
    except ValidationError as error:
        fields = [
            {"field": "body." + ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in error.errors()
        ]
        raise APIError(
            422,
            "invalid_request",
            "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5]),
            fields=fields,
        ) from None
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
