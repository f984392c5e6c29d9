"""Structured logs: one JSON object per line on stdout, with the request id of the request
that wrote it.

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id``, and on
access lines ``method``, ``path``, ``route``, ``status``, ``duration_ms``, ``actor``; an
``exception`` with the traceback when there is one. :func:`configure_logging` is called by
``create_app`` (so every uvicorn worker logs the same way) and by ``gridsvc serve``.

Console mode (``GRIDSVC_LOG_CONSOLE``, what ``gridsvc up`` / ``serve`` use at a terminal)
keeps stdout calm: warnings, errors and one summary line a minute
(:mod:`gridsvc.observability.console`); the JSON lines go to a file in the state folder.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
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


class _FileHandler(logging.handlers.RotatingFileHandler):
    """The JSON log file of console mode (one per process; replaced on reconfiguration)."""


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


CONSOLE_LOGGER = "gridsvc.console"  # the summary lines: on stdout in console mode too
LOG_FILE = "gridsvc.log"


class ConsoleFormatter(logging.Formatter):
    """Short lines for a person watching ``gridsvc up``: time, level (when not INFO), text."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        text = record.getMessage()
        if record.name != CONSOLE_LOGGER:
            text = f"{record.levelname} {record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"{stamp} {text}"


def _for_console(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name == CONSOLE_LOGGER


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) records, for the console summary's "errors"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    def take(self) -> int:
        """The count since the last take."""
        count, self.count = self.count, 0
        return count


def error_counter() -> ErrorCounter:
    """The process's error counter (installed on the root logger on first use)."""
    root = logging.getLogger()
    found = next((h for h in root.handlers if isinstance(h, ErrorCounter)), None)
    if found is None:
        found = ErrorCounter()
        root.addHandler(found)
    return found


def configure_logging(
    level: str = "INFO", *, json_lines: bool = True, console: bool = False, log_dir: Path | None = None
) -> None:
    """Route every logger (gridsvc's, uvicorn's, asyncpg's) to gridsvc's handlers.

    ``console``: stdout gets only warnings, errors and the summary lines (``gridsvc.console``),
    as short text; every line, access lines included, goes as JSON to ``log_dir/gridsvc.log``.
    Otherwise stdout gets every line (JSON, or plain text when ``json_lines`` is false).

    Idempotent: calling it again (another app in the same process) changes the format and
    level, never adds a second handler.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StdoutHandler)), None)
    if handler is None:
        handler = _StdoutHandler()
        root.addHandler(handler)
    for old in [h for h in root.handlers if isinstance(h, _FileHandler)]:
        root.removeHandler(old)
        old.close()
    for old_filter in list(handler.filters):
        handler.removeFilter(old_filter)
    if console:
        handler.setFormatter(ConsoleFormatter())
        handler.addFilter(_for_console)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            file_handler = _FileHandler(
                log_dir / LOG_FILE, maxBytes=20 * 1024 * 1024, backupCount=5, encoding="utf-8"
            )
            file_handler.setFormatter(JsonFormatter())
            root.addHandler(file_handler)
        logging.getLogger(CONSOLE_LOGGER).setLevel(logging.INFO)
    else:
        handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    error_counter()
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
