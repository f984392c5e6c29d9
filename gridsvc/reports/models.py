"""Pydantic I/O of the leaders' summary (``GET /reports/summary``).

The contract is shared with the dashboard (reports-ui): change it only together.
Rates are fractions 0..1 and ``None`` when their denominator is 0, so "no data" never reads
as 0 % or 100 %. Definitions: README "Reports".
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

By = Literal["township", "department", "squad", "grid", "matter"]
BY_VALUES: tuple[str, ...] = ("township", "department", "squad", "grid", "matter")

# The figures that are counts and those that are rates (the change of both is a difference).
COUNT_FIELDS: tuple[str, ...] = (
    "received",
    "signed_for",
    "signed_in_time",
    "closed",
    "closed_in_time",
    "revisited",
    "returns",
    "extensions",
    "duban",
)
RATE_FIELDS: tuple[str, ...] = (
    "response_rate",
    "arrive_p50_min",
    "arrive_p90_min",
    "on_time_close_rate",
    "resolution_rate",
    "satisfaction_rate",
    "redo_rate",
    "whistle_score",
)


class SummaryFigures(BaseModel):
    """The figures of one unit (or the total) over one period."""

    received: int = Field(description="events received (受理) in the period")
    signed_for: int = Field(description="of those, signed for (签收)")
    signed_in_time: int = Field(description="of those, signed for within the 签收 time limit")
    response_rate: float | None = Field(description="响应率 = signed_in_time / received")
    arrive_p50_min: float | None = Field(description="median minutes from receipt to arrival")
    arrive_p90_min: float | None = Field(description="90th percentile minutes receipt→arrival")
    closed: int = Field(description="events closed (办结) in the period")
    closed_in_time: int = Field(description="of those, closed by their due time")
    on_time_close_rate: float | None = Field(description="按时办结率 = closed_in_time / closed")
    resolution_rate: float | None = Field(description="解决率 from 回访 results")
    satisfaction_rate: float | None = Field(description="满意率 from 回访 results")
    redo_rate: float | None = Field(description="重办率 = redone after 回访 / revisited")
    revisited: int = Field(description="回访 results recorded in the period")
    returns: int = Field(description="退单 (returned to dispatch) in the period")
    extensions: int = Field(description="延期 granted in the period")
    duban: int = Field(description="督办 opened in the period")
    whistle_score: float | None = Field(default=None, description="吹哨报到 score (departments only)")


class SummaryRow(SummaryFigures):
    """One unit's figures with the previous period of the same length and the change."""

    key: str = Field(description="the unit's code (township code, department code, ...)")
    name: str = Field(description="display name, Chinese where we have it")
    previous: SummaryFigures = Field(description="the same figures over the previous period")
    change: dict[str, float | None] = Field(
        description="this period minus the previous one, for each count and rate "
        "(None when either side is None)"
    )


class Summary(BaseModel):
    """``GET /reports/summary``: one row per unit and the total."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="first day (jurisdiction time zone)")
    to: date = Field(description="last day, inclusive")
    by: str = Field(description="township | department | squad | grid | matter")
    jurisdiction: str | None = Field(default=None, description="jurisdiction code, if filtered")
    rows: list[SummaryRow]
    total: SummaryRow
