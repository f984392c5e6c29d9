"""Route of the geocoder: candidates for a typed address (the operator's panel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.geocode import service
from gridsvc.geocode.models import GeocodeAnswer

router = APIRouter(tags=["geocode"])


@router.get(
    "/geocode",
    response_model=GeocodeAnswer,
    summary="Candidates for an address (offline, from the imported OSM extract), with confidence",
)
async def geocode(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description="the address as typed")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> GeocodeAnswer:
    if not q.strip():
        raise APIError(
            422,
            "invalid_request",
            "query.q: the address is blank",
            fields=[{"field": "query.q", "reason": "blank; give an address"}],
        )
    settings = request.app.state.settings
    return await service.geocode(
        read_pool(request), query=q, min_confidence=settings.geocode_min_confidence, limit=limit
    )
