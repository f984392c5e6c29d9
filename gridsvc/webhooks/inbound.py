"""What every signed inbound call from a hotline goes through, before its body is trusted.

Checks, in order: body size, integration, timestamp window, signature (HMAC-SHA256 over
``"<X-Timestamp>." + body`` with the integration's secret), JSON depth and syntax, fields.
Used by the work-order webhook (``POST /webhooks/12345``) and the 回访 callback
(``POST /webhooks/12345/revisits``): one scheme, one secret per integration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Header, Request
from pydantic import BaseModel, ValidationError

from gridsvc import jsonsafe
from gridsvc.errors import APIError
from gridsvc.webhooks.service import integration_by_name
from gridsvc.webhooks.signing import verify

Model = TypeVar("Model", bound=BaseModel)


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


async def signed_body(
    request: Request, *, integration: str, timestamp: str, signature: str
) -> tuple[dict[str, Any], bytes]:
    """The active integration that signed this request, and the raw body; else 401/413."""
    settings = request.app.state.settings
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    found = await integration_by_name(request.app.state.pool, name=integration)
    if found is None or not found["active"]:
        raise unauthorised(f"unknown or inactive integration {integration!r}")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise unauthorised("X-Timestamp must be unix seconds") from None
    skew = abs(time.time() - stamp)
    if skew > settings.webhook_clock_skew_s:
        raise unauthorised(
            f"timestamp {stamp} is {skew:.0f} s from now; at most {settings.webhook_clock_skew_s} s allowed"
        )
    if not verify(found["secret"], timestamp, raw, signature):
        raise unauthorised("signature does not match the body")
    return found, raw


@dataclass(frozen=True)
class SignedCall:
    """A request whose signature checked out: the integration (its row), its name, the body."""

    integration: dict[str, Any]
    name: str
    raw: bytes


async def signed_call(
    request: Request,
    x_integration: str = Header(description="the integration's name"),
    x_timestamp: str = Header(description="unix seconds"),
    x_signature: str = Header(description="sha256=<hex HMAC of '<timestamp>.' + body>"),
) -> SignedCall:
    """FastAPI dependency of every signed hotline route: the headers are documented once."""
    integration, raw = await signed_body(
        request, integration=x_integration, timestamp=x_timestamp, signature=x_signature
    )
    return SignedCall(integration=integration, name=x_integration, raw=raw)


def parse_body(request: Request, raw: bytes, model: type[Model]) -> Model:
    """The body as ``model``: 400 for bad JSON, 422 naming each wrong field."""
    try:
        payload: Any = jsonsafe.loads(raw, max_depth=request.app.state.settings.json_max_depth)
    except jsonsafe.JSONTooDeep as error:
        raise APIError(400, "json_too_deep", f"body: {error}") from None
    except ValueError as error:
        raise APIError(400, "malformed_json", f"body is not valid JSON: {error}") from None
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        fields = [
            {
                "field": "body." + ".".join(str(p) for p in e["loc"]) if e["loc"] else "body",
                "reason": e["msg"],
            }
            for e in error.errors()
        ]
        raise APIError(
            422,
            "invalid_request",
            "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5]),
            fields=fields,
        ) from None
