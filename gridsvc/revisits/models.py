"""Pydantic I/O of 回访 (the hotline's satisfaction callback) and 重办."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]
# The words the hotline writes (and the codes, accepted as well) -> the stored code.
SATISFACTION_CODES: dict[str, Satisfaction] = {
    "满意": "satisfied",
    "基本满意": "basically_satisfied",
    "不满意": "dissatisfied",
    "satisfied": "satisfied",
    "basically_satisfied": "basically_satisfied",
    "dissatisfied": "dissatisfied",
}
SATISFACTION_ZH: dict[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
}


class RevisitIn(BaseModel):
    """A 回访 result as the hotline pushes it (``POST /webhooks/12345/revisits``)."""

    work_order_no: str = Field(min_length=1, max_length=64, description="the hotline's 工单号")
    satisfaction: Satisfaction = Field(
        description="满意 / 基本满意 / 不满意 (or satisfied / basically_satisfied / dissatisfied)"
    )
    comment: str | None = Field(default=None, max_length=2000, description="the citizen's words")
    revisit_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the hotline's 回访 number: a second delivery with the same number is the "
        "same callback (without it: the same work order, result, comment and visited_at)",
    )
    visited_at: datetime | None = Field(default=None, description="when the citizen was called back")

    @field_validator("satisfaction", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() in SATISFACTION_CODES:
            return SATISFACTION_CODES[value.strip()]
        if isinstance(value, str):
            raise ValueError(f"{value!r} is not one of 满意, 基本满意, 不满意")
        return value

    @field_validator("visited_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("visited_at needs a time zone (e.g. +08:00)")
        return value


class RedoIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="why the case is done again (重办)")


class DeclineIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why the reopening is declined")
