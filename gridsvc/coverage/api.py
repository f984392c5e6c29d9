"""``GET /coverage``: how much of each grid a squad reaches within 15 / 30 / 60 minutes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.coverage import models
from gridsvc.coverage.service import summary
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError

router = APIRouter(tags=["coverage"])


@router.get(
    "/coverage",
    response_model=models.CoverageSummary,
    summary="Per grid: % of area and of H3 cells reachable within 15/30/60 min",
)
async def coverage(
    request: Request,
    jurisdiction: Annotated[str, Query(description="jurisdiction code")] = "LI",
    layer: Annotated[str, Query(description="grid layer to summarise by")] = "enforcement",
) -> dict[str, Any]:
    """Arrival times are from each squad's home station (not live positions), the fastest
    squad per cell, recomputed when roads or squad stations change."""
    found = await summary(read_pool(request), jurisdiction_code=jurisdiction, layer=layer)
    if found is None:
        raise APIError(
            404,
            "not_found",
            f"no coverage computed for jurisdiction {jurisdiction!r}: it needs "
            "roads (gridsvc roads import) and squads (gridsvc squads import)",
        )
    return found
