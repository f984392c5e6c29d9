"""``GET /coverage``: how much of each grid a squad reaches within 15 / 30 / 60 minutes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.auth import scope
from gridsvc.auth.deps import current
from gridsvc.coverage import models
from gridsvc.coverage.service import covered_jurisdictions, summary
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError

router = APIRouter(tags=["coverage"])


def _not_computed(jurisdiction: str) -> APIError:
    return APIError(
        404,
        "not_found",
        f"no coverage computed for jurisdiction {jurisdiction!r}: it needs "
        "roads (gridsvc roads import) and squads (gridsvc squads import)",
    )


@router.get(
    "/coverage",
    response_model=models.CoverageSummary,
    summary="Per grid: % of area and of H3 cells reachable within 15/30/60 min",
)
async def coverage(
    request: Request,
    jurisdiction: Annotated[
        str | None,
        Query(description="jurisdiction code (default: the one with coverage in your scope)"),
    ] = None,
    layer: Annotated[str, Query(description="grid layer to summarise by")] = "enforcement",
) -> dict[str, Any]:
    """Arrival times are from each squad's home station (not live positions), the fastest
    squad per cell, recomputed when roads or squad stations change. A field account sees
    the jurisdictions of its grids or squad only (another is answered 404, as one without
    coverage); without ``jurisdiction`` the one in the caller's scope that has coverage
    (422 listing them when there are several)."""
    pool = read_pool(request)
    allowed = await scope.jurisdiction_codes(pool, current(request))
    if jurisdiction:
        if allowed is not None and jurisdiction not in allowed:
            raise _not_computed(jurisdiction)
    else:
        choices = await covered_jurisdictions(pool, within=allowed)
        if not choices:
            raise _not_computed(", ".join(allowed or []) or "any")
        if len(choices) > 1:
            raise APIError(
                422,
                "invalid_request",
                f"query.jurisdiction: coverage exists for {', '.join(choices)}; name one",
                fields=[{"field": "query.jurisdiction", "reason": "several jurisdictions in scope"}],
            )
        jurisdiction = choices[0]
    found = await summary(pool, jurisdiction_code=jurisdiction, layer=layer)
    if found is None:
        raise _not_computed(jurisdiction)
    return found
