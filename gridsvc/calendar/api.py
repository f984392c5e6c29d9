"""Routes of the holiday calendar; the county edits it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.calendar import models, service
from gridsvc.errors import APIError

router = APIRouter(tags=["calendar"])


@router.get(
    "/calendar",
    response_model=list[models.CalendarDay],
    summary="Holidays and make-up working days ('*' rows and the jurisdiction's own)",
)
async def list_days(
    request: Request,
    jurisdiction: Annotated[str | None, Query(max_length=100)] = None,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
) -> list[dict[str, Any]]:
    return await service.list_days(request.app.state.pool, jurisdiction=jurisdiction, year=year)


@router.put(
    "/calendar/{jurisdiction_code}/{day}",
    response_model=models.CalendarDay,
    summary="Mark a day a holiday or a working day (jurisdiction * for all)",
)
async def put_day(
    request: Request, jurisdiction_code: str, day: date, body: models.CalendarDayIn
) -> dict[str, Any]:
    try:
        return await service.set_day(
            request.app.state.pool,
            jurisdiction_code=jurisdiction_code,
            day=day,
            working=body.working,
            name=body.name,
        )
    except service.CalendarError as error:
        raise APIError(404, "not_found", str(error)) from None


@router.delete(
    "/calendar/{jurisdiction_code}/{day}",
    response_model=models.CalendarDay,
    summary="Remove a day's row (back to the '*' row or the weekday rule)",
)
async def delete_day(request: Request, jurisdiction_code: str, day: date) -> dict[str, Any]:
    row = await service.delete_day(request.app.state.pool, jurisdiction_code=jurisdiction_code, day=day)
    if row is None:
        raise APIError(404, "not_found", f"no calendar row for {jurisdiction_code} on {day}")
    return row
