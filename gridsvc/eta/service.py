"""Answering "how fast can each squad be there?" from the live ETA state."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import numpy as np

from gridsvc.errors import Invalid
from gridsvc.eta.engine import EtaEngine
from gridsvc.eta.live import EtaHolder, EtaUnavailable
from gridsvc.eta.snap import Snap, reachable
from gridsvc.observability.metrics import timed_eta


class UnknownSquadError(LookupError):
    """A squad id the ETA state does not know."""


class SceneOffNetwork(Invalid):
    """The scene has no road within ``GRIDSVC_ETA_SCENE_MAX_ROAD_DISTANCE_M``."""

    error_code = "scene_off_network"


def _road(snap: Snap, index: int, far_m: float) -> dict[str, Any]:
    offroad = float(snap.offroad_m[index])
    return {
        "lat": float(snap.lat[index]),
        "lng": float(snap.lng[index]),
        "offroad_m": round(offroad, 1),
        "far_from_road": offroad > far_m,
    }


@timed_eta  # gridsvc_eta_duration_seconds, for /eta and dispatch recommendations alike
async def squads_eta(
    *,
    holder: EtaHolder,
    lng: float,
    lat: float,
    now: datetime,
    route_squad_id: int | None = None,
    statuses: set[str] | None = None,
    jurisdiction: str | None = None,
) -> dict[str, Any]:
    """Every squad's ETA to a WGS84 scene point, fastest first, on the road network of the
    scene's jurisdiction (``jurisdiction``, else the one the point lies in): the squads
    computed on that network answer.

    Returns the parts of :class:`gridsvc.eta.models.EtaResult` that depend on the graph
    (scene road point, squads, route). Raises :class:`EtaUnavailable` without roads and
    :class:`UnknownSquadError` for an unknown ``route_squad_id``.
    """
    state = holder.state_at(lng, lat, jurisdiction=jurisdiction)
    if state is None:
        where = f" for {jurisdiction or holder.jurisdiction_at(lng, lat) or 'this place'}"
        raise EtaUnavailable(
            holder.unavailable
            if not holder.states
            else f"no road network is loaded{where}: import one with "
            "`gridsvc roads import FILE --jurisdiction CODE`"
        )
    engine = state.engine
    if route_squad_id is not None and route_squad_id not in holder.squads:
        raise UnknownSquadError(f"squad {route_squad_id} does not exist")
    scene = engine.snapper.snap(np.array([lng]), np.array([lat]))
    scene_limit = holder.settings.eta_scene_max_road_distance_m
    if not reachable(scene, scene_limit)[0]:
        raise SceneOffNetwork(
            f"the scene ({lat}, {lng}) is off the road network: no road within "
            f"{scene_limit / 1000:g} km (GRIDSVC_ETA_SCENE_MAX_ROAD_DISTANCE_M)"
        )
    everyone = [c for c in holder.choose_origins(now, state) if statuses is None or c[0].status in statuses]
    # An origin with no road within reach (a bad stored ping or station) is answered as
    # unreachable; the engine sees only the others, so one bad point cannot fail them.
    reach = [holder.reachable(_snap_of(c)) for c in everyone]
    chosen = [c for c, ok in zip(everyone, reach, strict=True) if ok]
    origins = await holder.origins(chosen, state)
    result = engine.eta(origins, scene) if len(chosen) else None
    far_m = holder.settings.eta_far_from_road_m
    answers: list[dict[str, Any]] = []
    unreachable = [
        _unreachable(c, now, holder.settings.squad_max_road_distance_m)
        for c, ok in zip(everyone, reach, strict=True)
        if not ok
    ]
    for i, (squad, kind, why) in enumerate(chosen):
        assert result is not None
        offroad_m = float(origins.snap.offroad_m[i] + scene.offroad_m[0])
        origin: dict[str, Any] = {"kind": kind, "reason": why, "road": _road(origins.snap, i, far_m)}
        if kind == "live" and squad.live is not None:
            origin.update(
                lat=squad.live.lat,
                lng=squad.live.lng,
                observed_at=squad.live.observed_at,
                age_s=round((now - squad.live.observed_at).total_seconds(), 1),
            )
        else:
            origin.update(lat=squad.station_lat, lng=squad.station_lng)
        answers.append(
            {
                "squad": {
                    "id": squad.id,
                    "code": squad.code,
                    "name": squad.name,
                    "name_zh": squad.name_zh,
                    "status": squad.status,
                },
                "eta_s": round(float(result.total_s[i, 0]), 1),
                "drive_s": round(float(result.drive_s[i, 0]), 1),
                # NaN: the CCH gives metres to the fastest few squads only (eta_cch_distance_top)
                "distance_m": _metres(result.drive_m[i, 0]),
                "offroad_m": round(offroad_m, 1),
                "offroad_s": round(offroad_m / engine.offroad_mps, 1),
                "origin": origin,
                "reachable": True,
                "unreachable_reason": None,
            }
        )
    answers.sort(key=lambda a: (a["eta_s"], a["squad"]["code"]))
    answers += sorted(unreachable, key=lambda a: a["squad"]["code"])
    road = _road(scene, 0, far_m)
    note = None
    if road["far_from_road"]:
        note = (
            f"the scene is {road['offroad_m']:.0f} m from the nearest drivable road; that "
            f"last leg is counted at {holder.settings.eta_offroad_speed_kmh:g} km/h"
        )
    route = None
    if route_squad_id is not None:
        route = await _route(engine, chosen, origins.snap, scene, route_squad_id, answers, end=(lng, lat))
    return {
        "scene_road": road,
        "note": note,
        "squads": answers,
        "route": route,
        "unreachable": [a["squad"] for a in unreachable],
        "road_network_id": state.network["id"],
        "offroad_speed_kmh": holder.settings.eta_offroad_speed_kmh,
    }


def _metres(value: float) -> float | None:
    return round(float(value), 1) if np.isfinite(value) else None


def _snap_of(choice: tuple[Any, str, str | None]) -> Snap:
    squad, kind, _why = choice
    return squad.live.snap if kind == "live" and squad.live else squad.station_snap


def _unreachable(choice: tuple[Any, str, str | None], now: datetime, limit_m: float) -> dict[str, Any]:
    """The answer for a squad whose origin has no road within ``limit_m``: no times."""
    squad, kind, why = choice
    origin: dict[str, Any] = {"kind": kind, "reason": why, "road": None}
    if kind == "live" and squad.live is not None:
        origin.update(
            lat=squad.live.lat,
            lng=squad.live.lng,
            observed_at=squad.live.observed_at,
            age_s=round((now - squad.live.observed_at).total_seconds(), 1),
        )
        where = "live position"
    else:
        origin.update(lat=squad.station_lat, lng=squad.station_lng)
        where = "home station"
    offroad = float(_snap_of(choice).offroad_m[0])
    distance = (
        f"the nearest road is {offroad:.0f} m away"
        if np.isfinite(offroad)
        else "no road can be reached from there"
    )
    return {
        "squad": {
            "id": squad.id,
            "code": squad.code,
            "name": squad.name,
            "name_zh": squad.name_zh,
            "status": squad.status,
        },
        "eta_s": None,
        "drive_s": None,
        "distance_m": None,
        "offroad_m": None,
        "offroad_s": None,
        "origin": origin,
        "reachable": False,
        "unreachable_reason": (
            f"its {where} ({origin['lat']}, {origin['lng']}) is off the "
            f"road network: {distance}, more than {limit_m:g} m"
        ),
    }


async def _route(
    engine: EtaEngine,
    chosen: list[Any],
    snap: Snap,
    scene: Snap,
    squad_id: int,
    answers: list[dict[str, Any]],
    end: tuple[float, float],
) -> dict[str, Any] | None:
    index = next((i for i, c in enumerate(chosen) if c[0].id == squad_id), None)
    if index is None:
        return None  # filtered out by status, or no road within reach
    squad, kind, _why = chosen[index]
    road = await asyncio.to_thread(engine.route, snap.take([index]), scene)
    start = (
        (squad.live.lng, squad.live.lat)
        if kind == "live" and squad.live
        else (squad.station_lng, squad.station_lat)
    )
    coordinates = [list(start), *road.tolist(), list(end)]
    answer = next(a for a in answers if a["squad"]["id"] == squad_id)
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coordinates},
        "properties": {
            "squad_id": squad_id,
            "squad_code": squad.code,
            "origin": kind,
            "eta_s": answer["eta_s"],
            "distance_m": answer["distance_m"],
            "crs": "EPSG:4326",
            "note": "first and last segments are the off-road legs",
        },
    }
