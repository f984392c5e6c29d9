"""Helpers for the events tests: signed hotline deliveries and a real callback receiver."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridsvc.webhooks.signing import signed_headers, verify
from tests.waiting import wait_until

# Vaduz centre (WGS84): inside enforcement grid LI-VADUZ and community grid LI-VADUZ-01.
VADUZ = {"lat": 47.1410, "lng": 9.5209}


def post_order(
    client: Any,
    secret: str,
    order: dict[str, Any],
    *,
    integration: str = "hotline-demo",
    timestamp: int | None = None,
    signature: str | None = None,
) -> Any:
    body = json.dumps(order, ensure_ascii=False).encode()
    headers = signed_headers(secret, body, integration=integration, timestamp=timestamp)
    if signature is not None:
        headers["X-Signature"] = signature
    return client.post("/webhooks/12345", content=body, headers=headers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CallbackReceiver:
    """A real HTTP server on loopback that records the hotline callbacks it acknowledges."""

    def __init__(self, port: int, secret: str, *, first_answer_after_s: float = 0.0) -> None:
        """``first_answer_after_s``: a slow receiver; it answers the first request of each
        idempotency key that late (a repeated key at once, as a receiver that deduplicates
        on it would). ``received`` then holds every request, ``requests_by_key`` counts them."""
        self.port = port
        self.secret = secret
        self.first_answer_after_s = first_answer_after_s
        self.received: list[dict[str, Any]] = []
        self.requests_by_key: dict[str, int] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks"

    async def _callback(self, request: Request) -> JSONResponse:
        body = await request.body()
        valid = verify(self.secret, request.headers["x-timestamp"], body, request.headers["x-signature"])
        if not valid:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers["idempotency-key"]
        self.requests_by_key[key] = self.requests_by_key.get(key, 0) + 1
        if self.requests_by_key[key] > 1 and self.first_answer_after_s:
            return JSONResponse({"ok": True, "duplicate": True})  # known key: done already
        self.received.append({"key": key, "payload": json.loads(body), "at": time.monotonic()})
        if self.first_answer_after_s:
            await asyncio.sleep(self.first_answer_after_s)  # a slow receiver, not test order
        return JSONResponse({"ok": True})

    def start(self) -> None:
        app = Starlette(routes=[Route("/callbacks", self._callback, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        server = self._server
        wait_until(lambda: server.started, 10, message="callback receiver did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


def wait_for(predicate: Any, *, timeout: float = 20.0, interval: float = 0.2) -> Any:
    return wait_until(predicate, timeout, interval=interval)


class AppServer:
    """The real gridsvc app served by uvicorn on loopback, in a thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AppServer:
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), 60)
        if not self._server.started:
            raise RuntimeError("app server did not start")
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.should_exit = True
        self._thread.join(15)
