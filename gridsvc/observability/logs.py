"""Structured logs: one JSON object per line on stdout, with the request id of the request
that wrote it.

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id``, and on
access lines ``method``, ``path``, ``route``, ``status``, ``duration_ms``, ``actor``; an
``exception`` with the traceback when there is one. :func:`configure_logging` is called by
``create_app`` (so every uvicorn worker logs the same way) and by ``gridsvc serve``.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being served; set by the request-id middleware for the duration of
# the request (asyncio tasks started from it inherit it).
request_id_var: ContextVar[str | None] = ContextVar("gridsvc_request_id", default=None)

ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms", "actor")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON (non-ASCII kept readable: 签收, not \\u7b7e)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for field in ACCESS_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                data[field] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a person at a terminal (``GRIDSVC_LOG_JSON=false``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return super().format(record)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever ``sys.stdout`` is at the time (test runners swap it)."""

    _gridsvc = True

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route every logger (gridsvc's, uvicorn's, asyncpg's) to one stdout handler.

    Idempotent: calling it again (another app in the same process) changes the format and
    level, never adds a second handler.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_gridsvc", False)), None)
    if handler is None:
        handler = _StdoutHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.setLevel(level.upper())
    # uvicorn brings handlers of its own (plain text); its records go through ours instead.
    # Its access log is replaced by gridsvc.access (see middleware.py), which knows the
    # route, the actor and the request id.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    # httpx logs every request at INFO (callback URLs included); the outbox logs its own
    # failures, successes need no line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
