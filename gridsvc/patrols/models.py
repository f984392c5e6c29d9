"""Shapes of the patrols API (weekly plans, visits, check-in, coverage)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gridsvc.squads.models import _checked_crs  # one CRS rule for every position


class Point(BaseModel):
    lat: float
    lng: float


class VisitOut(BaseModel):
    id: int
    plan_id: int
    grid_code: str
    grid_name: str
    grid_name_zh: str | None
    township: str | None = Field(description="the enforcement grid (township) of the community grid")
    day: date
    seq: int
    planned_at: datetime
    point: Point = Field(description="where the squad stops: a road point inside the community grid (WGS84)")
    status: Literal["planned", "arrived", "done", "missed"]
    arrived_at: datetime | None
    checked_in_at: datetime | None
    done_at: datetime | None
    done_by: Literal["avl", "check_in"] | None
    carried_from: int | None = Field(description="the missed visit this one carries over")
    carried: bool = Field(default=False, description="a missed visit carried over to this day")
    original_day: date | None = Field(
        default=None, description="carried: the day the visit was first planned for"
    )
    carried_from_week: str | None = Field(
        default=None,
        description="listed in a later week's plan: the week of the plan that holds it (and counts it)",
    )
    added_by: str
    findings: list[int] = Field(description="ids of patrol events reported during this visit")


class DayOut(BaseModel):
    day: date
    distance_m: float
    duration_s: float = Field(description="station to station, dwell included")
    nearest_neighbour_distance_m: float
    visits: list[VisitOut]


class Shift(BaseModel):
    start: str
    end: str


class Unplanned(BaseModel):
    grid_code: str
    reason: str


class PlanOut(BaseModel):
    id: int
    squad_id: int
    squad_code: str
    squad_name: str
    squad_name_zh: str | None
    jurisdiction: str
    week: str
    solver: str
    shift: Shift
    dwell_s: int
    station: Point
    distance_m: float
    duration_s: float
    nearest_neighbour_distance_m: float = Field(
        description="the same visits of each day in greedy nearest-neighbour order, summed"
    )
    unplanned: list[Unplanned]
    planned_at: datetime
    days: list[DayOut]
    visits: list[VisitOut]


class TodayOut(BaseModel):
    """A squad's route of one day, for its phone."""

    plan_id: int | None
    squad_code: str | None
    day: date
    station: Point | None
    visits: list[VisitOut]
    route: list[list[float]] = Field(description="[lng, lat] along the roads, station to station")


class VisitAdd(BaseModel):
    grid_code: str = Field(min_length=1, max_length=100)
    day: date
    seq: int | None = Field(default=None, ge=1, le=500, description="place in the day's order (1 = first)")


class VisitPatch(BaseModel):
    day: date | None = None
    seq: int | None = Field(default=None, ge=1, le=500)
    planned_at: datetime | None = Field(
        default=None, description="a wished time: sets the day and the place in the day's order"
    )


class CheckIn(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    crs: str = Field(default="wgs84", description="wgs84, gcj02 or bd09")
    accuracy: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    timestamp: datetime | None = Field(default=None, description="the fix's time; default: now")

    _crs = field_validator("crs")(_checked_crs)


class FrequencyIn(BaseModel):
    visits_per_week: int = Field(ge=1, le=7)


class CoverageFigures(BaseModel):
    planned: int
    visited: int
    missed: int
    carried: int
    share: float | None
    grids_planned: int
    grids_visited: int


class SquadCoverage(CoverageFigures):
    squad_id: int
    squad_code: str


class TownshipCoverage(CoverageFigures):
    township: str


class CoverageOut(BaseModel):
    jurisdiction: str
    week: str
    total: CoverageFigures | None
    townships: list[TownshipCoverage]
    squads: list[SquadCoverage]
