"""Answering "how fast can each squad be there?" from the live ETA state."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import numpy as np

from gridsvc.eta.engine import Snap
from gridsvc.eta.live import EtaHolder, EtaUnavailable
from gridsvc.observability.metrics import timed_eta


class UnknownSquadError(LookupError):
    """A squad id the ETA state does not know."""


def _road(snap: Snap, index: int, far_m: float) -> dict[str, Any]:
    offroad = float(snap.offroad_m[index])
    return {"lat": float(snap.lat[index]), "lng": float(snap.lng[index]),
            "offroad_m": round(offroad, 1), "far_from_road": offroad > far_m}


@timed_eta  # gridsvc_eta_duration_seconds, for /eta and dispatch recommendations alike
async def squads_eta(*, holder: EtaHolder, lng: float, lat: float, now: datetime,
                     route_squad_id: int | None = None,
                     statuses: set[str] | None = None) -> dict[str, Any]:
    """Every squad's ETA to a WGS84 scene point, fastest first.

    Returns the parts of :class:`gridsvc.eta.models.EtaResult` that depend on the graph
    (scene road point, squads, route). Raises :class:`EtaUnavailable` without roads and
    :class:`UnknownSquadError` for an unknown ``route_squad_id``.
    """
    engine = holder.engine
    if engine is None or holder.network is None:
        raise EtaUnavailable(holder.unavailable)
    if route_squad_id is not None and route_squad_id not in holder.squads:
        raise UnknownSquadError(f"squad {route_squad_id} does not exist")
    chosen = [c for c in holder.choose_origins(now)
              if statuses is None or c[0].status in statuses]
    origins = await holder.origins(chosen)
    scene = engine.snapper.snap(np.array([lng]), np.array([lat]))
    result = engine.eta(origins, scene) if len(chosen) else None
    far_m = holder.settings.eta_far_from_road_m
    answers: list[dict[str, Any]] = []
    for i, (squad, kind, why) in enumerate(chosen):
        assert result is not None
        offroad_m = float(origins.snap.offroad_m[i] + scene.offroad_m[0])
        origin: dict[str, Any] = {"kind": kind, "reason": why, "road": _road(origins.snap, i,
                                                                               far_m)}
        if kind == "live" and squad.live is not None:
            origin.update(lat=squad.live.lat, lng=squad.live.lng,
                          observed_at=squad.live.observed_at,
                          age_s=round((now - squad.live.observed_at).total_seconds(), 1))
        else:
            origin.update(lat=squad.station_lat, lng=squad.station_lng)
        answers.append({
            "squad": {"id": squad.id, "code": squad.code, "name": squad.name,
                      "name_zh": squad.name_zh, "status": squad.status},
            "eta_s": round(float(result.total_s[i, 0]), 1),
            "drive_s": round(float(result.drive_s[i, 0]), 1),
            "distance_m": round(float(result.drive_m[i, 0]), 1),
            "offroad_m": round(offroad_m, 1),
            "offroad_s": round(offroad_m / engine.offroad_mps, 1),
            "origin": origin,
        })
    answers.sort(key=lambda a: (a["eta_s"], a["squad"]["code"]))
    road = _road(scene, 0, far_m)
    note = None
    if road["far_from_road"]:
        note = (f"the scene is {road['offroad_m']:.0f} m from the nearest drivable road; that "
                f"last leg is counted at {holder.settings.eta_offroad_speed_kmh:g} km/h")
    route = None
    if route_squad_id is not None:
        route = await _route(holder, chosen, origins.snap, scene, route_squad_id, answers,
                             end=(lng, lat))
    return {"scene_road": road, "note": note, "squads": answers, "route": route,
            "road_network_id": holder.network["id"],
            "offroad_speed_kmh": holder.settings.eta_offroad_speed_kmh}


async def _route(holder: EtaHolder, chosen: list[Any], snap: Snap, scene: Snap,
                 squad_id: int, answers: list[dict[str, Any]],
                 end: tuple[float, float]) -> dict[str, Any] | None:
    engine = holder.engine
    assert engine is not None
    index = next((i for i, c in enumerate(chosen) if c[0].id == squad_id), None)
    if index is None:
        return None  # filtered out by status
    squad, kind, _why = chosen[index]
    road = await asyncio.to_thread(engine.route, snap.take([index]), scene)
    start = ((squad.live.lng, squad.live.lat) if kind == "live" and squad.live
             else (squad.station_lng, squad.station_lat))
    coordinates = [list(start), *road.tolist(), list(end)]
    answer = next(a for a in answers if a["squad"]["id"] == squad_id)
    return {"type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coordinates},
            "properties": {"squad_id": squad_id, "squad_code": squad.code, "origin": kind,
                           "eta_s": answer["eta_s"], "distance_m": answer["distance_m"],
                           "crs": "EPSG:4326",
                           "note": "first and last segments are the off-road legs"}}
