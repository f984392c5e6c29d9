"""Pydantic shapes of the squads API (coordinates in degrees, times in seconds)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gridsvc.geo.crs import UnknownCRSError, parse_crs

Status = Literal["available", "busy", "off_duty", "offline"]
# 在岗 / 忙碌 / 休息 / 离线: the names squads and operators see.
STATUS_ZH = {"available": "在岗", "busy": "忙碌", "off_duty": "休息", "offline": "离线"}
StationRule = Literal["given", "osm:fire_station", "osm:townhall", "osm:police", "centroid_snapped"]


def _checked_crs(value: str) -> str:
    try:
        return parse_crs(value, geographic_only=True).name
    except UnknownCRSError as error:
        raise ValueError(str(error)) from None


class PointIn(BaseModel):
    """A point as a client sends it, in the client's coordinate system."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")
    crs: str = Field(default="wgs84", description="wgs84, gcj02, bd09 or cgcs2000")

    _crs = field_validator("crs")(_checked_crs)


class LatLng(BaseModel):
    lat: float
    lng: float


class SquadIn(BaseModel):
    """A squad (执法中队) to create."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(min_length=1, max_length=200)
    name_zh: str | None = None
    jurisdiction: str | None = Field(default=None, description="jurisdiction code")
    station: PointIn = Field(description="home station")
    station_name: str | None = None
    grid_codes: list[str] = Field(
        default_factory=list, description="codes of the enforcement grids it serves"
    )
    size: int | None = Field(default=None, ge=0, le=10_000, description="officers")
    status: Status = "available"
    phone: str | None = None


class SquadPatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_zh: str | None = None
    station: PointIn | None = None
    station_name: str | None = None
    grid_codes: list[str] | None = None
    size: int | None = Field(default=None, ge=0, le=10_000)
    status: Status | None = None
    phone: str | None = None


class PositionOut(BaseModel):
    """A squad's latest applied AVL position, and whether ETAs trust it now."""

    lat: float
    lng: float
    observed_at: datetime
    received_at: datetime
    age_s: float = Field(description="seconds since observed_at")
    trusted: bool = Field(description="younger than the staleness limit")
    accuracy_m: float | None = None
    source_crs: str


class SquadOut(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str | None
    jurisdiction: str | None
    station: LatLng = Field(description="home station, WGS84")
    station_name: str | None
    station_rule: StationRule = Field(
        description="how the station was placed: given, a tagged OSM building "
        "(osm:fire_station / osm:townhall / osm:police) or centroid_snapped"
    )
    station_source: str | None = Field(description="OSM id or file the station came from")
    grid_codes: list[str]
    size: int | None
    status: Status
    status_reason: str | None = Field(default=None, description="why, as the squad or desk said")
    status_since: datetime | None = None
    status_by: str | None = Field(default=None, description="who set the status")
    open_cases: int = Field(
        default=0, description="cases in the squad's hands now (dispatched, signed for, on scene)"
    )
    phone: str | None
    position: PositionOut | None = None


class StatusIn(BaseModel):
    """A squad's status (在岗 available, 忙碌 busy, 休息 off_duty, 离线 offline) and why.

    A reason is required for every status but ``available``: the desk must know why a
    squad is not taking cases (e.g. 正在处置现场, 轮休, 手机无信号)."""

    status: Status
    reason: str | None = Field(default=None, max_length=500)


class PositionIn(BaseModel):
    """One AVL ping.

    ``timestamp`` must carry a time zone (``...Z`` or ``+08:00``) or be Unix seconds;
    a naive local time is refused because the device's zone is unknown.
    """

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    timestamp: datetime = Field(
        description="when the device took the fix (ISO 8601 with zone, or Unix seconds)"
    )
    crs: str = Field(default="wgs84", description="wgs84, gcj02 or bd09")
    accuracy: float | None = Field(
        default=None, ge=0, le=100_000, allow_inf_nan=False, description="metres (device estimate)"
    )

    _crs = field_validator("crs")(_checked_crs)

    @field_validator("timestamp")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "timestamp needs a time zone, e.g. 2024-05-01T08:30:00+08:00 or "
                "...Z; a naive local time is ambiguous"
            )
        return value


class PositionResult(BaseModel):
    """What became of a ping.

    ``applied`` is false for a ping older than (or as old as) the squad's latest one: it
    is stored for the track but does not move the squad back.
    """

    id: int
    squad_id: int
    applied: bool
    reason: str | None = None
    observed_at: datetime
    received_at: datetime
    wgs84: LatLng
    trusted_until: datetime = Field(description="when this position becomes stale")


class SquadImportReport(BaseModel):
    created: int
    updated: int
    squads: list[str]
