"""Routes of the squads domain: CRUD and AVL positions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.policy import SQUAD
from gridsvc.errors import APIError
from gridsvc.squads import models, workload
from gridsvc.squads import service as squads

router = APIRouter(tags=["squads"])


def _not_found(squad_id: int) -> APIError:
    return APIError(404, "not_found", f"squad {squad_id} does not exist")


async def _view(
    request: Request, row: dict[str, Any], positions: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    settings = request.app.state.settings
    data = squads.squad_dict(row)
    data["position"] = squads.position_view(
        positions.get(row["id"]), stale_after_s=settings.squad_position_stale_s, now=datetime.now(UTC)
    )
    return data


def _placement(request: Request) -> squads.Placement:
    """Where stations and positions may be: near a jurisdiction, near a road of the graph
    this process has loaded (the check is skipped while none is)."""
    settings = request.app.state.settings
    return squads.Placement(
        max_road_distance_m=settings.squad_max_road_distance_m,
        jurisdiction_margin_m=settings.squad_jurisdiction_margin_m,
        road_distance_m=request.app.state.eta.road_distance_m,
    )


async def _refresh(request: Request) -> None:
    # The NOTIFY reaches every process; this process updates at once so that the next
    # request (often the operator's own /eta) already sees the change.
    await request.app.state.eta.reload_squads()


@router.get("/squads", response_model=list[models.SquadOut], summary="All squads")
async def list_squads(request: Request) -> list[dict[str, Any]]:
    pool = request.app.state.pool
    positions = await squads.latest_positions(pool)
    return [await _view(request, row, positions) for row in await squads.list_squads(pool)]


def _own_only(request: Request, squad_id: int) -> None:
    """A squad account acts on its own squad only; another squad's is as if it did not exist."""
    who = current(request)
    if who.role == SQUAD and who.squad_id != squad_id:
        raise _not_found(squad_id)


@router.get("/squads/{squad_id}", response_model=models.SquadOut, summary="One squad")
async def get_squad(request: Request, squad_id: int) -> dict[str, Any]:
    """A squad's own token may read its own squad (status, caseload); another: 404."""
    _own_only(request, squad_id)
    pool = request.app.state.pool
    row = await squads.get_squad(pool, squad_id=squad_id)
    if row is None:
        raise _not_found(squad_id)
    return await _view(request, row, await squads.latest_positions(pool, squad_id=squad_id))


@router.post(
    "/squads",
    response_model=models.SquadOut,
    status_code=201,
    summary="Create a squad (409 when the code exists)",
)
async def create_squad(request: Request, body: models.SquadIn) -> dict[str, Any]:
    pool = request.app.state.pool
    try:
        squad_id = await squads.create_squad(pool, squad=body, placement=_placement(request))
    except squads.SquadError as error:
        raise APIError(422, "invalid_request", str(error)) from None
    await _refresh(request)
    return await get_squad(request, squad_id)


@router.patch(
    "/squads/{squad_id}",
    response_model=models.SquadOut,
    summary="Change a squad (status, station, grids, ...)",
)
async def update_squad(request: Request, squad_id: int, body: models.SquadPatch) -> dict[str, Any]:
    if not await squads.update_squad(
        request.app.state.pool,
        squad_id=squad_id,
        patch=body,
        placement=_placement(request),
        actor=actor_of(request),
    ):
        raise _not_found(squad_id)
    await _refresh(request)
    return await get_squad(request, squad_id)


@router.post(
    "/squads/{squad_id}/status",
    response_model=models.SquadOut,
    summary="Set a squad's status (在岗/忙碌/休息/离线) and why",
)
async def set_status(request: Request, squad_id: int, body: models.StatusIn) -> dict[str, Any]:
    """The squad itself (its own token, from the inbox) or the desk. ``reason`` is required
    for every status but ``available`` (422 naming ``body.reason``). A squad that is not
    在岗, or carries ``GRIDSVC_DISPATCH_MAX_OPEN_CASES`` open cases, is passed over by the
    dispatch recommendation, which says why."""
    _own_only(request, squad_id)
    found = await workload.set_status(
        request.app.state.pool,
        squad_id=squad_id,
        status=body.status,
        reason=body.reason,
        actor=actor_of(request),
    )
    if not found:
        raise _not_found(squad_id)
    await _refresh(request)
    return await get_squad(request, squad_id)


@router.delete("/squads/{squad_id}", status_code=204, summary="Delete a squad")
async def delete_squad(request: Request, squad_id: int) -> Response:
    if not await squads.delete_squad(request.app.state.pool, squad_id=squad_id):
        raise _not_found(squad_id)
    await _refresh(request)
    return Response(status_code=204)


@router.post(
    "/squads/{squad_id}/positions",
    response_model=models.PositionResult,
    status_code=201,
    summary="Report a squad's live position (AVL ping)",
)
async def add_position(request: Request, squad_id: int, body: models.PositionIn) -> dict[str, Any]:
    """Coordinates in wgs84, gcj02 or bd09; ``timestamp`` with a time zone.

    * A ping stamped more than ``GRIDSVC_SQUAD_POSITION_FUTURE_TOLERANCE_S`` (120 s) in
      the future is refused (422): a wrong device clock would otherwise pin the squad.
      Within that skew it is accepted, its time clamped to the time of receipt.
    * A ping older than the squad's latest is stored (``applied: false``) for the track
      but does not move the squad.
    * A squad's own token may report only its own squad (another squad id: 404).
    * ETAs trust a position for ``GRIDSVC_SQUAD_POSITION_STALE_S`` (600 s) after
      ``observed_at`` (``trusted_until``), then fall back to the home station.
    """
    _own_only(request, squad_id)
    settings = request.app.state.settings
    try:
        async with request.app.state.pool.acquire() as connection:
            result = await squads.add_position(
                connection,
                squad_id=squad_id,
                ping=body,
                stale_after_s=settings.squad_position_stale_s,
                future_tolerance_s=settings.squad_position_future_tolerance_s,
                placement=_placement(request),
            )
    except squads.FutureTimestampError as error:
        raise APIError(
            422,
            "invalid_request",
            f"body.timestamp: {error}",
            fields=[{"field": "body.timestamp", "reason": str(error)}],
        ) from None
    if result is None:
        raise _not_found(squad_id)
    # what other domains do with a ping (patrol visits by dwell), wired by the app
    for hook in getattr(request.app.state, "position_hooks", ()):
        await hook(request.app.state, squad_id=squad_id, observed_at=result["observed_at"])
    if result["applied"]:
        request.app.state.eta.set_position(
            squad_id,
            {
                "lng": result["wgs84"]["lng"],
                "lat": result["wgs84"]["lat"],
                "observed_at": result["observed_at"],
                "accuracy_m": body.accuracy,
            },
        )
    return result


@router.get("/squads/{squad_id}/positions", summary="A squad's recent pings, newest first")
async def list_positions(
    request: Request, squad_id: int, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    pool = request.app.state.pool
    if await squads.get_squad(pool, squad_id=squad_id) is None:
        raise _not_found(squad_id)
    return await squads.track(pool, squad_id=squad_id, limit=limit)
