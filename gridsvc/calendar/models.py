"""Pydantic I/O of the calendar API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class CalendarDay(BaseModel):
    jurisdiction_code: str = Field(description="a jurisdiction code, or * for every jurisdiction")
    day: date
    working: bool = Field(description="false: holiday; true: working day (e.g. 调休 make-up day)")
    name: str | None = None


class CalendarDayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working: bool
    name: str | None = Field(default=None, max_length=100)
