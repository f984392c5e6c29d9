"""Routes of the jurisdictions domain."""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Request

from gridsvc.errors import APIError
from gridsvc.jurisdictions import service

router = APIRouter(tags=["jurisdictions"])


@router.get("/jurisdictions", summary="Jurisdictions (city, county, township) without geometry")
async def list_jurisdictions(
    request: Request,
    level: Annotated[str | None, Query(pattern="^(province|city|county|township)$")] = None,
) -> list[dict[str, Any]]:
    return await service.list_all(request.app.state.pool, level=level)


@router.get("/jurisdictions/{code}", summary="One jurisdiction with its boundary (GeoJSON)")
async def jurisdiction(request: Request, code: str) -> dict[str, Any]:
    row = await service.get(request.app.state.pool, code=code)
    if row is None:
        raise APIError(404, "not_found", f"jurisdiction {code!r} does not exist")
    boundary = row.pop("boundary")
    row.pop("id")
    return {**row, "boundary": shapely.geometry.mapping(boundary) if boundary else None}
