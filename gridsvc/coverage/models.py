"""Pydantic shapes of the coverage API (seconds, km², percentages)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Within(BaseModel):
    cells_pct: float | None = Field(description="% of H3 cells reached within the limit")
    area_pct: float | None = Field(description="% of area (cell areas summed) reached")


class Shares(BaseModel):
    cells: int
    area_km2: float
    median_s: float | None = Field(description="median arrival time, seconds")
    max_s: float | None = Field(description="slowest cell, seconds")
    within: dict[str, Within] = Field(description="keys 15min, 30min, 60min")


class GridCoverage(Shares):
    code: str
    name: str
    name_zh: str | None
    squads: list[str] = Field(description="codes of the squads that serve this grid")


class CoverageSummary(BaseModel):
    """Fastest squad from its home station to every H3 cell, summarised."""

    jurisdiction: str
    layer: str
    computed_at: datetime
    h3_resolution: int
    road_network_id: int
    thresholds_min: list[int]
    total: Shares
    grids: list[GridCoverage]
