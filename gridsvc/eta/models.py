"""Pydantic shapes of the ETA API (seconds, metres, WGS84 degrees)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class LatLng(BaseModel):
    lat: float
    lng: float


class RoadPoint(BaseModel):
    """Where a point joins the road graph (its nearest road edge, not node)."""

    lat: float
    lng: float
    offroad_m: float = Field(description="metres between the point and the road")
    far_from_road: bool = Field(description="offroad_m above GRIDSVC_ETA_FAR_FROM_ROAD_M")


class Scene(BaseModel):
    lat: float
    lng: float
    crs: str
    wgs84: LatLng
    road: RoadPoint
    note: str | None = Field(default=None, description="e.g. why the scene is far from roads")


class Origin(BaseModel):
    """Where the squad's trip starts."""

    kind: Literal["live", "station"]
    reason: str | None = Field(default=None, description="why the station, when it is")
    lat: float
    lng: float
    observed_at: datetime | None = Field(default=None, description="of the live position")
    age_s: float | None = None
    road: RoadPoint | None = Field(description="null when no road is within reach")


class SquadBrief(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str | None
    status: Literal["available", "busy", "off_duty"]


class SquadEta(BaseModel):
    """Times and distances are null for a squad that cannot be reached (``reachable``)."""

    squad: SquadBrief
    eta_s: float | None = Field(description="total seconds: off-road legs + driving")
    drive_s: float | None = Field(description="seconds on the road")
    distance_m: float | None = Field(description="road metres along the fastest path")
    offroad_m: float | None = Field(description="metres off the road, both ends")
    offroad_s: float | None = Field(description="seconds for the off-road legs")
    origin: Origin
    reachable: bool = Field(
        default=True, description="false: its origin has no road within GRIDSVC_SQUAD_MAX_ROAD_DISTANCE_M"
    )
    unreachable_reason: str | None = None


class EtaResult(BaseModel):
    scene: Scene
    computed_at: datetime
    road_network_id: int
    offroad_speed_kmh: float
    squads: list[SquadEta] = Field(description="sorted by eta_s, fastest first; unreachable squads last")
    unreachable: list[SquadBrief] = Field(
        default_factory=list,
        description="squads left out: no road within reach of their "
        "origin (see each one's unreachable_reason)",
    )
    route: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Feature (LineString, WGS84) of the ?route squad"
    )
