"""Routes of the inspections domain: 一店一档 targets, matters, planned inspections and
joint visits (综合查一次), results, the negative list and 首违不罚."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.policy import DEPARTMENT
from gridsvc.clock import SYSTEM, Clock
from gridsvc.errors import NotFound
from gridsvc.eta.engine import EtaEngine
from gridsvc.grids.lookup import Overlay
from gridsvc.inspections import export, flows, models, service

router = APIRouter(tags=["inspections"])


def _overlay(request: Request) -> Overlay:
    overlay: Overlay = request.app.state.overlay.current
    return overlay


def _engine_for(request: Request) -> flows.EngineFor:
    """The road network of a jurisdiction (its own, else its nearest ancestor's, else the
    installation's), as the patrol planner uses it."""
    holder = request.app.state.eta

    def engine_for(jurisdiction: str | None) -> EtaEngine | None:
        state = holder.state_for(jurisdiction)
        return state.engine if state is not None else None

    return engine_for


def _clock(request: Request) -> Clock:
    clock: Clock = getattr(request.app.state, "clock", SYSTEM)
    return clock


def _own_department(request: Request) -> str | None:
    """A department account sees and plans its own department's inspections only."""
    who = current(request)
    return (who.department_code or "") if who.role == DEPARTMENT else None


def _period(start: date, end: date) -> None:
    if end < start:
        raise service.InspectionInvalid("query.to", "before query.from")


# -- targets (一店一档) ---------------------------------------------------------------------


@router.get("/inspection-targets", response_model=list[models.TargetOut], summary="一店一档: targets")
async def list_targets(
    request: Request,
    type: Annotated[models.TargetType | None, Query()] = None,
    grid_code: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    async with request.app.state.pool.acquire() as connection:
        return await service.list_targets(
            connection, type=type, grid_code=grid_code, limit=limit, offset=offset
        )


@router.post("/inspection-targets", response_model=models.TargetOut, status_code=201, summary="Add a target")
async def create_target(request: Request, body: models.TargetIn) -> dict[str, Any]:
    """Add (or, for a known credit code, update) a target; its community grid is looked up
    from the point."""
    async with request.app.state.pool.acquire() as connection:
        return await service.create_target(
            connection, body=body, overlay=_overlay(request), actor=actor_of(request)
        )


@router.patch("/inspection-targets/{target_id}", response_model=models.TargetOut, summary="Edit a target")
async def update_target(request: Request, target_id: int, body: models.TargetPatch) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection:
        return await service.update_target(
            connection, target_id=target_id, body=body, overlay=_overlay(request), actor=actor_of(request)
        )


# -- matters -------------------------------------------------------------------------------


@router.get("/inspection-matters", summary="Each department's inspection matters per target type")
async def list_matters(request: Request) -> list[dict[str, Any]]:
    async with request.app.state.pool.acquire() as connection:
        return await service.list_matters(connection, department=_own_department(request))


@router.put("/inspection-matters/{department}/{target_type}", summary="Set a department's matters for a type")
async def set_matters(
    request: Request, department: str, target_type: str, body: models.MattersIn
) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection:
        return await service.set_matters(
            connection, department=department, target_type=target_type, matter_codes=body.matter_codes
        )


# -- inspections and joint visits (综合查一次) ------------------------------------------------


@router.post(
    "/inspections", response_model=models.InspectionOut, status_code=201, summary="Plan an inspection"
)
async def plan_inspection(request: Request, body: models.InspectionIn) -> dict[str, Any]:
    """A department's planned inspection; merged with other departments' inspections of the
    target within GRIDSVC_INSPECTION_MERGE_DAYS into one joint visit."""
    own = _own_department(request)
    if own is not None and body.department != own:
        raise service.InspectionInvalid(
            "department", "a department account plans its own department's inspections"
        )
    async with request.app.state.pool.acquire() as connection:
        return await flows.plan_inspection(
            connection,
            body=body,
            window_days=request.app.state.settings.inspection_merge_days,
            engine_for=_engine_for(request),
            actor=actor_of(request),
        )


@router.get("/inspections", response_model=list[models.InspectionOut], summary="Planned inspections")
async def list_inspections(
    request: Request,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query()],
) -> list[dict[str, Any]]:
    _period(from_, to)
    async with request.app.state.pool.acquire() as connection:
        return await service.list_inspections(
            connection, department=_own_department(request), start=from_, end=to
        )


@router.get("/inspections/joint", summary="Joint visits (综合查一次) with departments and matters")
async def joint_visits(
    request: Request, from_: Annotated[date, Query(alias="from")], to: Annotated[date, Query()]
) -> list[dict[str, Any]]:
    _period(from_, to)
    async with request.app.state.pool.acquire() as connection:
        return await flows.joint_visits(connection, start=from_, end=to, department=_own_department(request))


@router.get("/inspections/savings", summary="Visits saved by joint inspection in a period")
async def savings(
    request: Request, from_: Annotated[date, Query(alias="from")], to: Annotated[date, Query()]
) -> dict[str, Any]:
    _period(from_, to)
    async with request.app.state.pool.acquire() as connection:
        return await flows.savings(connection, start=from_, end=to)


@router.post("/inspections/{inspection_id}/result", summary="Record an inspection's result")
async def record_result(request: Request, inspection_id: int, body: models.ResultIn) -> dict[str, Any]:
    own = _own_department(request)
    async with request.app.state.pool.acquire() as connection:
        if own is not None:
            if (await service.get_inspection(connection, inspection_id))["department"] != own:
                raise NotFound(f"inspection {inspection_id} does not exist")
        return await flows.record_result(
            connection, inspection_id=inspection_id, body=body, now=_clock(request).now()
        )


@router.put("/events/{event_id}/inspection-target", summary="Name the target an event concerns")
async def set_event_target(request: Request, event_id: int, body: models.EventTargetIn) -> dict[str, Any]:
    """Once the event is closed with ``violation_found``, it counts as a violation."""
    async with request.app.state.pool.acquire() as connection:
        return await flows.set_event_target(connection, event_id=event_id, body=body)


# -- negative list and 首违不罚 -----------------------------------------------------------------

Format = Literal["json", "csv", "xlsx"]


def _file(rows: list[dict[str, Any]], columns: Any, name: str, format: Format) -> Response:
    if format == "csv":
        return Response(
            export.to_csv(columns, rows),
            media_type=export.CSV_MEDIA,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        export.to_xlsx(columns, rows, name),
        media_type=export.XLSX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get("/negative-list", summary="The negative list (3 violations: warning, 5: penalty recommendation)")
async def negative_list(request: Request, format: Annotated[Format, Query()] = "json") -> Any:
    settings = request.app.state.settings
    async with request.app.state.pool.acquire() as connection:
        rows = await flows.negative_list(
            connection, warning=settings.negative_list_warning, penalty=settings.negative_list_penalty
        )
    return rows if format == "json" else _file(rows, export.NEGATIVE_COLUMNS, "negative-list", format)


@router.get("/lenient-cases", summary="首违不罚: first minor violations met with education")
async def lenient_cases(request: Request, format: Annotated[Format, Query()] = "json") -> Any:
    async with request.app.state.pool.acquire() as connection:
        rows = await flows.lenient_cases(connection)
    return rows if format == "json" else _file(rows, export.LENIENT_COLUMNS, "lenient-cases", format)


@router.get("/lenient-matters", summary="The 首违不罚 list of matters")
async def lenient_matters(request: Request) -> list[dict[str, Any]]:
    async with request.app.state.pool.acquire() as connection:
        return await service.list_lenient(connection)


@router.post("/lenient-matters", status_code=201, summary="Add a matter to the 首违不罚 list")
async def add_lenient(request: Request, body: models.LenientIn) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection:
        return await service.add_lenient(connection, matter_code=body.matter_code, actor=actor_of(request))
