"""JSON from untrusted request bodies: a size limit before reading, a nesting limit after.

Parsing is orjson's (maintained, C, never recurses on the Python stack). orjson stops by
itself at 1024 levels with a ``JSONDecodeError`` ("recursion limit exceeded"), far more than
any work order needs; the stdlib parser FastAPI uses raises ``RecursionError`` near 1000
levels, which became a 500 in the webhook (D6). So every JSON body is held to
``GRIDSVC_JSON_MAX_DEPTH`` levels (default 64) and ``GRIDSVC_JSON_MAX_BODY_BYTES``:

* :func:`loads` for code that reads a body itself (the 12345 webhook, after its signature);
* :class:`JSONBodyGuard`, an ASGI middleware for every route whose JSON body FastAPI parses:
  a declared ``Content-Length`` over the limit is answered 413 before a byte is read, a
  chunked body is cut off at the limit, a body nested too deeply is answered 400.

Core module: imports no domain package.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = ["JSONBodyGuard", "JSONTooDeep", "loads", "nesting_depth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JSONTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels (GRIDSVC_JSON_MAX_DEPTH)")
        self.limit = limit


def nesting_depth(value: Any, *, stop_above: int | None = None) -> int:
    """Levels of arrays/objects in a parsed document (``1`` → 0, ``[[]]`` → 2).

    Iterative, so no document can exhaust the stack; stops as soon as ``stop_above`` is
    exceeded (the answer is then ``stop_above + 1``).
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if stop_above is not None and deepest > stop_above:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def loads(data: bytes | str, *, max_depth: int) -> Any:
    """Parse ``data`` (UTF-8). Raises :class:`JSONTooDeep` past ``max_depth`` levels, or
    ``json.JSONDecodeError`` (orjson's is a subclass) for anything that is not JSON."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        # orjson's own ceiling (1024 levels): the same problem as ours, said the same way
        if "recursion limit" in str(error) or "depth limit" in str(error):
            raise JSONTooDeep(max_depth) from None
        raise
    if nesting_depth(value, stop_above=max_depth) > max_depth:
        raise JSONTooDeep(max_depth)
    return value


def _is_json(scope: Scope) -> bool:
    """Bodies FastAPI would parse as JSON: no Content-Type at all, or application/(*+)json."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
    return True


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _answer(send: Send, status: int, code: str, message: str, *, unread: bool = False) -> None:
    """The project's error shape; ``unread``: the body was not read, so the connection
    cannot be reused for another request."""
    body = json.dumps({"error": code, "message": message}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if unread:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JSONBodyGuard:
    """ASGI middleware: size and nesting limits for JSON request bodies (see module doc).

    Other bodies (multipart uploads, login forms) pass untouched: their routes check their
    own limits before reading.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _answer(
                send,
                413,
                "body_too_large",
                f"body of {declared} bytes; JSON bodies up to {limit} bytes (GRIDSVC_JSON_MAX_BODY_BYTES)",
                unread=True,
            )
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(
                    send,
                    413,
                    "body_too_large",
                    f"body over {limit} bytes (GRIDSVC_JSON_MAX_BODY_BYTES)",
                    unread=True,
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                loads(body, max_depth=self.max_depth)
            except JSONTooDeep as error:
                await _answer(send, 400, "json_too_deep", f"body: {error}")
                return
            except ValueError:
                pass  # not JSON at all: the route's own validation says what is wrong
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the buffered body over once, then listens on as before."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
