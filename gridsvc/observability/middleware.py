"""Request ids, access log lines and request metrics, as one plain ASGI middleware.

An incoming ``X-Request-ID`` (a hotline's or a proxy's trace id) is kept when it is a sane
token, else a new one is made; either way it is echoed in the response's ``X-Request-ID``
and stamped on every log line written while the request is served.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridsvc.observability import metrics
from gridsvc.observability.logs import request_id_var

log = logging.getLogger("gridsvc.access")

REQUEST_ID_HEADER = "x-request-id"
# Letters, digits and a few separators, at most 128: anything else (log injection, a
# megabyte header) is replaced by our own id.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
# Probes and scrapers call every few seconds: their lines are DEBUG, not INFO.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def route_of(scope: Scope) -> str:
    """The matched route's path template, or ``<unmatched>`` (a 404 for an unknown path)."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "<unmatched>"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        request_id = incoming if incoming and _SANE_ID.match(incoming) else uuid.uuid4().hex
        reset = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escaped every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method, route = scope["method"], route_of(scope)
            metrics.observe_request(method, route, status, seconds)
            path = scope.get("path", "")
            state: dict[str, Any] = scope.get("state") or {}
            log.log(
                logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                path,
                status,
                seconds * 1000,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "actor": state.get("actor"),
                },
            )
            request_id_var.reset(reset)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None
