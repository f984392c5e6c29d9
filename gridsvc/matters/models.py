"""Pydantic I/O of the matters API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gridsvc.filenames import FileName


class Condition(BaseModel):
    position: int = Field(description="1..n within the matter")
    filing_condition: str | None = Field(description="立案条件")
    closing_condition: str | None = Field(description="结案条件")
    time_limit_text: str | None = Field(description="处置时限 as written in the standard")
    limit_amount: float | None = Field(description="parsed amount; null when not parseable")
    limit_unit: Literal["clock_hours", "working_hours", "working_days", "calendar_days"] | None


class Matter(BaseModel):
    code: str = Field(description="EV-<major>-<minor> (事件) or PT-<major>-<minor> (部件)")
    kind: str
    major_code: str
    major_name: str
    minor_code: str
    name: str
    handling_unit: str | None = Field(description="处置单位 as written")
    supervising_department: str | None = Field(description="主管部门 as written")
    owner_department: str | None = Field(
        description="department code that gets the matter when it is not delegated"
    )
    owner_department_manual: bool = Field(description="owner set by a person, kept on re-import")
    handling_level: Literal["township", "grid"]
    auto_dispatch: bool
    auto_merge: bool = Field(
        description="并单: intake links a same-matter duplicate on its own (above the threshold)"
    )
    related_matters: list[str] = Field(
        description="并单: matters whose open events are offered as candidates too"
    )
    source: FileName | None
    imported_at: datetime
    updated_at: datetime
    conditions: list[Condition]


class MatterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_dispatch: bool | None = None
    handling_level: Literal["township", "grid"] | None = None
    owner_department: str | None = Field(default=None, description="a department code; null clears the owner")
    auto_merge: bool | None = None
    related_matters: list[str] | None = Field(
        default=None,
        max_length=50,
        description="matter codes offered as 并单 candidates too (replaces the set)",
    )


class Department(BaseModel):
    code: str
    name: str
    name_zh: str
