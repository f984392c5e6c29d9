"""The one place where failures become API errors: a status, a code, and what was wrong.

Every refusal is an :class:`APIError` (or a subclass: :class:`NotFound`, :class:`Conflict`,
:class:`Invalid`...) carrying its HTTP status and code, so domain packages declare their own
exceptions as subclasses and this module needs to know none of them. Database outages are
translated in one place (:mod:`gridsvc.database.errors`): 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gridsvc.database.errors import CANDIDATES, RETRY_AFTER_S, is_unavailable

log = logging.getLogger("gridsvc.errors")


class APIError(Exception):
    """Raise from a route: ``APIError(404, "not_found", "grid 7 does not exist")``.

    ``fields``: which input was wrong and why; ``headers``: e.g. WWW-Authenticate on a 401;
    ``extra``: more keys of the JSON body (e.g. the allowed actions of a 409).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = headers
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body = _body(self.code, self.message, self.fields)
        body.update(self.extra)
        return body


class _Fixed(APIError):
    """An error whose status and code are the class's: ``NotFound("event 7 does not exist")``."""

    status_code = 500
    error_code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        fields: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            self.status_code, self.error_code, message, fields=fields, headers=headers, extra=extra
        )


class NotFound(_Fixed):
    status_code, error_code = 404, "not_found"


class Conflict(_Fixed):
    status_code, error_code = 409, "conflict"


class Invalid(_Fixed):
    """Input that parsed but does not make sense; ``fields`` names each wrong field."""

    status_code, error_code = 422, "invalid_request"


class Unavailable(_Fixed):
    status_code, error_code = 503, "unavailable"


class DatabaseUnavailable(Unavailable):
    error_code = "database_unavailable"

    def __init__(self, message: str = "the database is unavailable; try again shortly") -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_S)})


def _body(code: str, message: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, error: APIError) -> JSONResponse:
        return JSONResponse(status_code=error.status, headers=error.headers, content=error.body())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "reason": e["msg"],
                **({"input": e["input"]} if _printable(e.get("input")) else {}),
            }
            for e in error.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
        return JSONResponse(status_code=422, content=_body("invalid_request", summary, fields))

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        if not is_unavailable(error):
            raise error  # not an outage: the server error it is (500, logged with traceback)
        log.warning("database unavailable: %s: %s", type(error).__name__, error)
        return await api_error(request, DatabaseUnavailable())

    for kind in CANDIDATES:
        app.add_exception_handler(kind, database_unavailable)

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
