"""Pydantic input of the whistles API (吹哨报到); answers are built by the service."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from gridsvc.events.models import Location

DepartmentCode = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_-]+$")]


class WhistleIn(BaseModel):
    """A township summons county departments for a matter at a place (吹哨)."""

    township_code: str = Field(
        min_length=1, max_length=100, description="the township's enforcement grid code, e.g. LI-VADUZ"
    )
    matter_code: str | None = Field(
        default=None, max_length=40, description="the matter (事项) from the catalogue, if known"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    address: str | None = Field(default=None, max_length=500)
    location: Location = Field(description="the scene; it must lie in the township's grid")
    departments: list[DepartmentCode] = Field(
        min_length=1, max_length=30, description="county departments summoned (codes)"
    )
    ack_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="报到 (acknowledge) within this many minutes"
    )
    arrive_minutes: int = Field(
        default=120,
        ge=1,
        le=7 * 24 * 60,
        description="到场 (on scene) within this many minutes of the summons",
    )
    summoned_by: str | None = Field(
        default=None, min_length=1, max_length=100, description="who blows the whistle (default: the caller)"
    )

    @field_validator("departments")
    @classmethod
    def _no_duplicates(cls, departments: list[str]) -> list[str]:
        seen: set[str] = set()
        for code in departments:
            if code in seen:
                raise ValueError(f"department {code!r} is listed twice")
            seen.add(code)
        return departments

    @field_validator("arrive_minutes")
    @classmethod
    def _arrive_after_ack(cls, minutes: int, info: ValidationInfo) -> int:
        ack = info.data.get("ack_minutes")
        if ack is not None and minutes < ack:
            raise ValueError(
                f"arrive_minutes ({minutes}) is shorter than ack_minutes ({ack}): 到场 comes after 报到"
            )
        return minutes


class AckIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ArriveIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)
    position: Location | None = Field(default=None, description="where the phone was on arrival")
