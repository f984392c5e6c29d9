"""Shapes of the inspections domain: 一店一档 targets, matters, inspections, joint visits,
violations; and the unified social credit code (统一社会信用代码) check."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

TargetType = Literal["company", "shop", "small_venue"]
TARGET_TYPES: tuple[str, ...] = ("company", "shop", "small_venue")

# GB 32100-2015: 18 characters from 31 (no I, O, S, V, Z); the last is a check character
# over the first 17 with these weights (3^i mod 31).
CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_check_char(first17: str) -> str:
    total = sum(CREDIT_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None."""
    if len(code) != 18:
        return f"{code!r} has {len(code)} characters, a unified social credit code has 18"
    bad = sorted({c for c in code if c not in CREDIT_CHARSET})
    if bad:
        return f"{code!r} contains {''.join(bad)!r} (allowed: digits and {CREDIT_CHARSET[10:]})"
    if not code[2:8].isdigit():
        return f"{code!r}: characters 3-8 must be the administrative division code (digits)"
    expected = credit_check_char(code[:17])
    if code[17] != expected:
        return f"{code!r}: check character is {code[17]!r}, expected {expected!r}"
    return None


class Point(BaseModel):
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)


class TargetIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(min_length=1, max_length=40, description="统一社会信用代码, 18 characters")
    address: str = Field(default="", max_length=500)
    type: TargetType
    point: Point


class TargetPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    credit_code: str | None = Field(default=None, min_length=1, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    type: TargetType | None = None
    point: Point | None = None


class TargetOut(BaseModel):
    id: int
    name: str
    credit_code: str
    address: str
    type: str
    point: Point
    grid_code: str | None


class MattersIn(BaseModel):
    matter_codes: list[str] = Field(min_length=1, max_length=200)


class InspectionIn(BaseModel):
    target_id: int = Field(gt=0)
    department: str = Field(min_length=1, max_length=60)
    matter_codes: list[str] = Field(min_length=1, max_length=200)
    planned_on: date


class InspectionOut(BaseModel):
    id: int
    target_id: int
    department: str
    matter_codes: list[str]
    planned_on: date
    joint_visit_id: int
    result: dict[str, object] | None = None


class ResultIn(BaseModel):
    violation: bool
    minor: bool = False
    matter_code: str | None = Field(default=None, max_length=60)
    note: str | None = Field(default=None, max_length=2000)


class LenientIn(BaseModel):
    matter_code: str = Field(min_length=1, max_length=60)


class EventTargetIn(BaseModel):
    target_id: int = Field(gt=0)
    violation_found: bool | None = Field(default=None, description="the finding when closed")
