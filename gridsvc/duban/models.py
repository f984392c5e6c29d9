"""Shapes of 督办: the levels in force, one 督办 as read everywhere (API, /ops, inbox, the
webhook notice), the reply that answers it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Audience = Literal["unit", "township", "county"]
AUDIENCES: tuple[str, ...] = ("unit", "township", "county")
AUDIENCE_ZH = {"unit": "责任单位", "township": "乡镇分管领导", "county": "县级督查"}
LEVEL_ZH = {1: "一级督办", 2: "二级督办", 3: "三级督办"}
STAGE_ZH = {
    "route": "分拨",
    "dispatch": "派遣",
    "sign_for": "签收",
    "arrive": "到场",
    "handle": "处置",
    "verify": "核查",
    "close": "结案",
}


def level_zh(level: int) -> str:
    return LEVEL_ZH.get(level, f"{level}级督办")


@dataclass(frozen=True)
class Level:
    """Level ``level`` is raised once the stage has run ``factor`` × its time limit."""

    level: int
    factor: float
    audience: str


def parse_levels(text: str) -> list[Level]:
    """``"1:unit,2:township,3:county"`` -> levels 1..n (the setting's form). Factors must
    grow with the level: a higher level never comes first."""
    levels = []
    for number, part in enumerate(text.split(","), start=1):
        factor, audience = (p.strip() for p in part.split(":"))
        if audience not in AUDIENCES:
            raise ValueError(f"level {number}: audience {audience!r} is not one of {', '.join(AUDIENCES)}")
        levels.append(Level(level=number, factor=float(factor), audience=audience))
    check_levels(levels)
    return levels


def check_levels(levels: list[Level]) -> None:
    factors = [lv.factor for lv in sorted(levels, key=lambda lv: lv.level)]
    if any(f < 1 for f in factors):
        raise ValueError("a 督办 level's factor is at least 1 (the deadline itself)")
    if factors != sorted(factors) or len(set(factors)) != len(factors):
        raise ValueError(f"factors must grow with the level, got {factors}")


@dataclass(frozen=True)
class LevelSet:
    """The levels that apply to a matter and stage, and which configuration row set gave them."""

    matter_code: str  # '*': any
    stage: str  # '*': any
    levels: list[Level]
    source: str  # 'configured' | 'default'


@dataclass(frozen=True)
class Recipient:
    user_id: int
    name: str
    display_name: str | None
    role: str
    notice_id: int | None = None
    notice_status: str | None = None  # the webhook notice's: pending, delivered, dead


@dataclass(frozen=True)
class DubanEvent:
    """What a 督办 says about its event (the event's own read model is GET /events/{id})."""

    id: int
    title: str
    external_id: str | None
    address: str | None
    state: str
    matter_code: str | None
    matter_name: str | None
    responsible_kind: str | None
    responsible_code: str | None
    responsible_name: str | None
    township_code: str | None


@dataclass(frozen=True)
class DubanView:
    """One 督办 (an escalations row with its level, recipients and reply)."""

    id: int
    event_id: int
    level: int
    level_zh: str
    audience: str | None
    audience_zh: str | None
    stage: str
    stage_zh: str
    factor: float | None
    due_at: datetime
    raised_at: datetime
    overdue_minutes: int
    reply: str | None
    replied_by: str | None
    replied_at: datetime | None
    event: DubanEvent
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def replied(self) -> bool:
        return self.replied_at is not None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["replied"] = self.replied
        out["reply_url"] = f"/duban/{self.id}/reply"
        return out


class ReplyIn(BaseModel):
    """The written reply a 督办 needs (督办回复)."""

    text: str = Field(min_length=1, max_length=4000, description="what was done, and by when")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("a 督办 reply must say something (the text is blank)")
        return text.strip()
