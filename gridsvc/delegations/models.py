"""Pydantic I/O of the delegation lists API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gridsvc.filenames import FileName


class DelegationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enforcement_code: str = Field(
        min_length=1, max_length=100, description="the township's enforcement grid code, e.g. LI-VADUZ"
    )
    name: str | None = Field(default=None, max_length=200)
    effective_from: str = Field(
        description="YYYY-MM-DD (local midnight of the township) or an ISO datetime", examples=["2026-07-01"]
    )
    matter_codes: list[str] = Field(description="the delegated matters, e.g. EV-01-01")


class DelegationVersion(BaseModel):
    id: int
    enforcement_code: str
    version: int
    name: str
    effective_from: datetime
    effective_to: datetime | None
    source: FileName | None
    created_at: datetime
    items: int = Field(description="number of delegated matters")


class DelegatedMatter(BaseModel):
    matter_code: str
    kind: str
    name: str
    major_name: str
    owner_department: str | None


class DelegationList(DelegationVersion):
    matters: list[DelegatedMatter]


class DelegationCreated(DelegationVersion):
    timezone: str
    added: list[str]
    removed: list[str]
    previous: dict[str, Any] | None
    duplicates: list[dict[str, Any]]
    warnings: list[str]
