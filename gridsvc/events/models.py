"""Pydantic I/O of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")
    crs: str = Field(default="wgs84", description="wgs84, gcj02, bd09 or cgcs2000")


class Reporter(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)


class EventIn(BaseModel):
    """An event entered by an operator or found on patrol."""

    source: Literal["operator", "patrol"] = "operator"
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    matter_code: str | None = Field(default=None, max_length=40)
    condition: int | None = Field(default=None, ge=1, le=50,
                                  description="which filing condition of the matter (1 = first)")
    location: Location | None = None
    address: str | None = Field(default=None, max_length=500)
    reporter: Reporter | None = None
    reported_at: datetime | None = None


class WorkOrderIn(BaseModel):
    """A 12345 hotline work order (工单) as the hotline pushes it."""

    work_order_no: str = Field(min_length=1, max_length=64, description="the hotline's 工单号")
    title: str = Field(min_length=1, max_length=200)
    content: str | None = Field(default=None, max_length=5000)
    matter_code: str | None = Field(default=None, max_length=40)
    matter_name: str | None = Field(default=None, max_length=200)
    location: Location | None = None
    address: str | None = Field(default=None, max_length=500)
    reporter: Reporter | None = None
    reported_at: datetime | None = None


class Target(BaseModel):
    kind: Literal["squad", "department", "grid_head"]
    code: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)


class ActionIn(BaseModel):
    note: str | None = Field(default=None, max_length=5000,
                             description="reason (return, transfer, suspend...) or reply text (handle)")
    squad_id: int | None = Field(default=None, description="dispatch/transfer: the squad sent")
    target: Target | None = Field(default=None, description="route/transfer: the unit chosen")
    position: Location | None = Field(default=None, description="arrive: where the phone was")
    override_reason: str | None = Field(default=None, max_length=1000,
                                        description="why the recommendation was not followed")


class ExtensionIn(BaseModel):
    minutes: int = Field(gt=0, le=60 * 24 * 90)
    reason: str = Field(min_length=1, max_length=2000)


class ExtensionDecisionIn(BaseModel):
    approved: bool
    note: str | None = Field(default=None, max_length=2000)


class LocationIn(BaseModel):
    location: Location
    note: str | None = None


class EventCreated(BaseModel):
    id: int
    created: bool
    state: str
    responsible: dict[str, Any]
    routing: dict[str, Any]
