"""``GET /eta``: every squad's travel time to a scene, fastest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from gridsvc.errors import APIError
from gridsvc.eta import models
from gridsvc.eta.live import EtaHolder, EtaUnavailable
from gridsvc.eta.service import SceneOffNetwork, UnknownSquadError, squads_eta
from gridsvc.geo.crs import UnknownCRSError, parse_crs, to_wgs84

router = APIRouter(tags=["eta"])


def holder_of(request: Request) -> EtaHolder:
    holder: EtaHolder = request.app.state.eta
    return holder


@router.get(
    "/eta",
    response_model=models.EtaResult,
    summary="Every squad's ETA (seconds) and road distance (metres) to a scene",
)
async def eta(
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")],
    crs: Annotated[str, Query(description="wgs84, gcj02, bd09 or cgcs2000")] = "wgs84",
    route: Annotated[int | None, Query(description="also return this squad's route (GeoJSON, WGS84)")] = None,
    available_only: Annotated[bool, Query(description="only squads whose status is available")] = False,
    jurisdiction: Annotated[
        str | None,
        Query(description="answer on this jurisdiction's road network (default: the one the scene lies in)"),
    ] = None,
) -> dict[str, Any]:
    """Each squad starts from its live position when it is younger than the staleness
    limit (``GRIDSVC_SQUAD_POSITION_STALE_S``, 10 min by default), else from its home
    station, and ``origin`` says which and why. Scene and squads join the road at their
    nearest road edge; the legs off the road count at ``offroad_speed_kmh``. A scene far
    from any road still gets an answer, flagged ``far_from_road``; one with no road within
    ``GRIDSVC_ETA_SCENE_MAX_ROAD_DISTANCE_M`` is refused (422 ``scene_off_network``). A
    squad whose origin has no road within ``GRIDSVC_SQUAD_MAX_ROAD_DISTANCE_M`` (a position
    or station stored before that was checked) is listed last with ``reachable: false``, no
    times and the reason, and in ``unreachable``; the others are answered as usual."""
    try:
        system = parse_crs(crs, geographic_only=True)
    except UnknownCRSError as error:
        raise APIError(
            422,
            "invalid_request",
            f"query.crs: {error}",
            fields=[{"field": "query.crs", "reason": str(error)}],
        ) from None
    holder = holder_of(request)
    if jurisdiction is not None and jurisdiction not in holder.network_of:
        raise APIError(
            422,
            "invalid_request",
            f"query.jurisdiction: unknown jurisdiction {jurisdiction!r}",
            fields=[{"field": "query.jurisdiction", "reason": "unknown jurisdiction"}],
        )
    x, y = to_wgs84(np.array([lng]), np.array([lat]), system)
    now = datetime.now(UTC)
    try:
        found = await squads_eta(
            holder=holder,
            lng=float(x[0]),
            lat=float(y[0]),
            now=now,
            route_squad_id=route,
            statuses={"available"} if available_only else None,
            jurisdiction=jurisdiction,
        )
    except EtaUnavailable as error:
        raise APIError(503, "eta_unavailable", str(error)) from None
    except SceneOffNetwork as error:
        error.fields = [
            {"field": f"query.{name}", "reason": "no road within reach"} for name in ("lat", "lng")
        ]
        raise
    except UnknownSquadError as error:
        raise APIError(
            404, "not_found", str(error), fields=[{"field": "query.route", "reason": "unknown squad"}]
        ) from None
    road = found["scene_road"]
    return {
        "scene": {
            "lat": lat,
            "lng": lng,
            "crs": system.name,
            "wgs84": {"lat": float(y[0]), "lng": float(x[0])},
            "road": road,
            "note": found["note"],
        },
        "computed_at": now,
        "road_network_id": found["road_network_id"],
        "offroad_speed_kmh": found["offroad_speed_kmh"],
        "squads": found["squads"],
        "route": found["route"],
        "unreachable": found["unreachable"],
    }
