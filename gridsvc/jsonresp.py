"""Fast JSON responses for hot paths and for rows straight from the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def json_response(content: Any, status_code: int = 200) -> Response:
    """Serialise with orjson (datetimes as ISO 8601, numpy-free); validation is the caller's."""
    body = orjson.dumps(
        content, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    )
    return Response(content=body, status_code=status_code, media_type="application/json")
