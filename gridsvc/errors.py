"""The one place where failures become API errors: a status, a code, and what was wrong."""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("gridsvc.errors")


class APIError(Exception):
    """Raise from a route: ``APIError(404, "not_found", "grid 7 does not exist")``."""

    def __init__(self, status: int, code: str, message: str, *,
                 fields: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = headers  # e.g. WWW-Authenticate on a 401


def _body(code: str, message: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, error: APIError) -> JSONResponse:
        return JSONResponse(status_code=error.status, headers=error.headers,
                            content=_body(error.code, error.message, error.fields))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"],
             **({"input": e["input"]} if _printable(e.get("input")) else {})}
            for e in error.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
        return JSONResponse(status_code=422,
                            content=_body("invalid_request", summary, fields))

    from gridsvc.events.lifecycle import IllegalTransition, MissingNote
    from gridsvc.events.service import EventConflict, EventNotFound

    @app.exception_handler(IllegalTransition)
    async def illegal_transition(_: Request, error: IllegalTransition) -> JSONResponse:
        body = _body("illegal_transition", str(error))
        body.update(state=error.state, action=error.action, allowed_actions=error.allowed)
        return JSONResponse(status_code=409, content=body)

    @app.exception_handler(MissingNote)
    async def missing_note(_: Request, error: MissingNote) -> JSONResponse:
        return JSONResponse(status_code=422, content=_body(
            "invalid_request", str(error), [{"field": "body.note", "reason": str(error)}]))

    @app.exception_handler(EventNotFound)
    async def not_found(_: Request, error: EventNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content=_body("not_found", str(error)))

    @app.exception_handler(EventConflict)
    async def event_conflict(_: Request, error: EventConflict) -> JSONResponse:
        return JSONResponse(status_code=409, content=_body("conflict", str(error)))

    @app.exception_handler(asyncpg.PostgresConnectionError)
    async def database_down(_: Request, error: Exception) -> JSONResponse:
        log.error("database unavailable: %s", error)
        return JSONResponse(status_code=503,
                            content=_body("database_unavailable", "the database is unavailable"))

    @app.exception_handler(asyncpg.exceptions.DataError)
    async def bad_value(_: Request, error: asyncpg.exceptions.DataError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_body("invalid_value", str(error)))

    @app.exception_handler(asyncpg.exceptions.UniqueViolationError)
    async def conflict(_: Request, error: asyncpg.exceptions.UniqueViolationError) -> JSONResponse:
        return JSONResponse(status_code=409, content=_body("conflict", error.detail or str(error)))


def _printable(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False  # NaN/Infinity cannot be written back as JSON
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 200
