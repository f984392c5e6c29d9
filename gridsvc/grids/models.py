"""Pydantic I/O of the grids API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gridsvc.filenames import FileName, Report


class Responsible(BaseModel):
    role: str = Field(description="grid_head, squad or department")
    name: str | None = None
    phone: str | None = None
    department: str | None = None
    station: str | None = None
    enforcement_code: str | None = Field(
        default=None, description="community grids: the enforcement grid they belong to"
    )


class GridSummary(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str | None = None
    layer: str
    jurisdiction: str
    responsible: Responsible


class NearestGrid(BaseModel):
    grid: GridSummary
    distance_m: float = Field(description="geodesic distance to the grid's edge, metres (WGS84)")


class LayerAnswer(BaseModel):
    grid: GridSummary | None = Field(description="the grid containing the point, or null")
    nearest: NearestGrid | None = Field(
        default=None, description="when no grid contains the point: the nearest one"
    )


class PointIn(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")
    id: str | None = Field(default=None, max_length=200, description="echoed back")


class ResolvedPoint(BaseModel):
    lat: float
    lng: float
    crs: str
    wgs84: dict[str, float] = Field(description="the point converted to WGS84 (lat, lng)")
    id: str | None = None


class LookupResult(BaseModel):
    point: ResolvedPoint
    layers: dict[str, LayerAnswer]


class BatchLookupIn(BaseModel):
    crs: str = Field(default="wgs84", description="wgs84, gcj02, bd09 or cgcs2000 (EPSG:4490)")
    points: list[PointIn] = Field(min_length=1)
    nearest: bool = Field(default=True, description="add the nearest grid where none contains")


class BatchLookupOut(BaseModel):
    results: list[LookupResult]


class LayerInfo(BaseModel):
    name: str
    kind: str
    department: str | None
    jurisdiction: str
    jurisdiction_name: str
    version: int
    valid_from: datetime
    h3_resolution: int
    source_file: FileName | None
    source_crs: str | None
    grid_count: int
    cell_count: int
    straddling_cell_count: int


class LayerVersionInfo(BaseModel):
    id: int
    jurisdiction: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    h3_resolution: int
    source_file: FileName | None
    source_crs: str | None
    grid_count: int
    report: Report


class GridDetail(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str | None
    layer: str
    jurisdiction: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    area_m2: float
    responsible: Responsible
    enforcement_link: str | None
    properties: dict[str, Any]
    geometry: dict[str, Any] = Field(description="GeoJSON MultiPolygon, EPSG:4326")
