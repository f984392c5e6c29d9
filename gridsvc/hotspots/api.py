"""``GET /reports/hotspots``: events per H3 cell, matter class and ISO week, with trends."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth.deps import current
from gridsvc.database.replica import read_pool
from gridsvc.hotspots import service
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/hotspots",
    summary="Hotspots: events per H3 cell (res 8 or 9), matter class and ISO week, with trend",
)
async def hotspots(
    request: Request,
    from_: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")],
    to: Annotated[date, Query(description="last day, inclusive")],
    res: Annotated[int, Query(description="H3 resolution: 8 (~0.7 km²) or 9 (~0.1 km²)")] = 9,
    weeks: Annotated[int, Query(ge=1, le=12, description="previous weeks for the trend")] = 4,
    matter_class: Annotated[
        str | None, Query(max_length=60, pattern=r"^[^-\s]+-[^-\s]+$", description="e.g. CG-01")
    ] = None,
    jurisdiction: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many cells")] = 500,
) -> Response:
    """The period is widened to whole ISO weeks (Monday-Sunday, the jurisdiction's time zone);
    the caller counts only the events it may see (as ``GET /events``; a leader its reach)."""
    pool = read_pool(request)  # a second stale is fine: the replica's, when configured
    visible = await service.visibility(pool, current(request))
    answer = await service.hotspots(
        pool,
        visible=visible,
        start=from_,
        end=to,
        res=res,
        weeks=weeks,
        matter_class=matter_class,
        jurisdiction=jurisdiction,
        limit=limit,
    )
    return json_response(answer.model_dump(mode="json", by_alias=True))
