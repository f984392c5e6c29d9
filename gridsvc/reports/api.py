"""Routes of the leaders' figures: the summary (the dashboard's data) and the workbook."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth.deps import current
from gridsvc.auth.policy import ADMIN, DEPARTMENT, LEADER, OPERATOR
from gridsvc.clock import SYSTEM, Clock
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.reports import export, service
from gridsvc.reports.models import Summary

router = APIRouter(tags=["reports"])


async def _scope(request: Request) -> service.ReportScope:
    """The desk and county supervisors: everything; a township leader: its townships; a
    department account: its own department (in its townships when limited to some)."""
    who = current(request)
    if who.role in {ADMIN, OPERATOR}:
        return service.ReportScope()
    if who.role == LEADER:
        async with request.app.state.pool.acquire() as connection:
            return await service.scope_of_leader(connection, who.user_id)
    if who.role == DEPARTMENT and who.department_code is not None:
        if who.station_codes:
            raise APIError(
                403,
                "forbidden",
                "figures are kept per township, department and grid, not per station: an "
                "account limited to stations gets its figures from the dispatch centre",
            )
        return service.ReportScope(
            department=who.department_code, townships=tuple(who.township_codes) or None
        )
    raise APIError(403, "forbidden", "no figures for this account")


def _clock(request: Request) -> Clock:
    clock: Clock = getattr(request.app.state, "clock", SYSTEM)
    return clock


@router.get(
    "/reports/summary",
    response_model=Summary,
    summary="Figures per township, department, squad, grid or matter, against the previous period",
)
async def summary(
    request: Request,
    first: Annotated[date, Query(alias="from", description="first day (jurisdiction time zone)")],
    last: Annotated[date, Query(alias="to", description="last day, inclusive")],
    by: Annotated[str, Query(description="township | department | squad | grid | matter")] = "township",
    jurisdiction: Annotated[str | None, Query(max_length=64, description="jurisdiction code")] = None,
) -> Summary:
    """Rows of figures and the total, each with the previous period of the same length and
    the change; definitions in the README ("Reports"). A township leader sees its townships,
    a department account its department."""
    scope = await _scope(request)
    settings = request.app.state.settings
    try:
        # figures a second stale are fine: the replica's, when one is configured
        async with read_pool(request).acquire() as connection:
            return await service.summary(
                connection,
                by=by,
                first=first,
                last=last,
                jurisdiction=jurisdiction,
                scope=scope,
                now=_clock(request).now(),
                sign_for_minutes=settings.sla_sign_for_minutes,
            )
    except service.ReportInvalid as error:
        raise error.as_api_error() from error


@router.get(
    "/reports/export.xlsx", summary="The leaders' workbook (按乡镇, 按部门, 按事项, 超期案件, 吹哨评分)"
)
async def export_xlsx(
    request: Request,
    first: Annotated[date, Query(alias="from", description="first day (jurisdiction time zone)")],
    last: Annotated[date, Query(alias="to", description="last day, inclusive")],
    jurisdiction: Annotated[str | None, Query(max_length=64, description="jurisdiction code")] = None,
) -> Response:
    """The summary by township, department and matter, the overdue cases and the whistle
    scores of the period, for the caller's scope, formatted for printing."""
    scope = await _scope(request)
    settings = request.app.state.settings
    try:
        # figures a second stale are fine: the replica's, when one is configured
        async with read_pool(request).acquire() as connection:
            data = await export.gather(
                connection,
                first=first,
                last=last,
                jurisdiction=jurisdiction,
                scope=scope,
                now=_clock(request).now(),
                sign_for_minutes=settings.sla_sign_for_minutes,
            )
    except service.ReportInvalid as error:
        raise error.as_api_error() from error
    name = f"report-{first:%Y%m%d}-{last:%Y%m%d}.xlsx"
    return Response(
        export.to_xlsx(data),
        media_type=export.XLSX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
