"""Pydantic shapes of ``GET /reports/hotspots``.

Cells are H3 ints inside the package; here, at the API's edge, they are hex strings.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RESOLUTIONS = (8, 9)
Direction = Literal["up", "down", "flat", "new"]


class Trend(BaseModel):
    """The period's weekly mean against the mean of the previous weeks."""

    weekly_mean: float = Field(description="events per week in the period")
    previous_mean: float = Field(description="events per week over the previous weeks")
    change: float = Field(description="weekly_mean - previous_mean")
    ratio: float | None = Field(description="weekly_mean / previous_mean; null when that is 0")
    direction: Direction = Field(
        description="up: ratio >= 1.25; down: ratio <= 0.8; new: none before; flat: otherwise"
    )


class ClassCount(BaseModel):
    matter_class: str | None = Field(description="major class code, e.g. 'CG-01'; null: no matter")
    name: str | None = Field(description="the class's Chinese name")
    count: int = Field(description="events in the period")
    weekly: list[int] = Field(description="per week of the period")
    previous: list[int] = Field(description="per previous week, oldest first")
    trend: Trend


class Cell(BaseModel):
    cell: str = Field(description="H3 cell index, hex")
    centre: tuple[float, float] = Field(description="[lng, lat] WGS84")
    boundary: list[tuple[float, float]] = Field(description="closed ring of [lng, lat]")
    count: int = Field(description="events in the period")
    weekly: list[int] = Field(description="per week of the period")
    previous: list[int] = Field(description="per previous week, oldest first")
    trend: Trend
    classes: list[ClassCount] = Field(description="the cell's events per matter class")


class Hotspots(BaseModel):
    """The period is widened to whole ISO weeks (Monday to Sunday, jurisdiction time zone)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="Monday of the first week")
    to: date = Field(description="Sunday of the last week")
    res: int = Field(description="H3 resolution (8 or 9)")
    matter_class: str | None
    jurisdiction: str | None
    timezone: str
    weeks: list[str] = Field(description="ISO weeks of the period, e.g. 2026-W48")
    previous_weeks: list[str] = Field(description="ISO weeks before it, oldest first")
    total: int = Field(description="located events in the period (all cells)")
    classes: list[ClassCount] = Field(description="per matter class, all cells")
    cells: list[Cell] = Field(description="cells by count, largest first")
    truncated: bool = Field(description="more cells had events than `limit`")
