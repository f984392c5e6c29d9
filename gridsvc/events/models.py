"""Pydantic I/O of the events API."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")
    crs: str = Field(default="wgs84", description="wgs84, gcj02, bd09 or cgcs2000")


class Reporter(BaseModel):
    """The caller. Outside the dispatch centre it is shown masked or not at all
    (:mod:`gridsvc.events.privacy`)."""

    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    consent_to_contact: bool = Field(
        default=False,
        description="the caller agreed to be called back by the handling unit "
        "(a grid head or squad may then reveal the number, audited)",
    )
    confidential: bool = Field(
        default=False,
        description="保密: the caller asked for confidentiality; nobody outside "
        "the dispatch centre sees the reporter",
    )


class EventIn(BaseModel):
    """An event entered by an operator or found on patrol."""

    source: Literal["operator", "patrol"] = "operator"
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    matter_code: str | None = Field(default=None, max_length=40)
    condition: int | None = Field(
        default=None, ge=1, le=50, description="which filing condition of the matter (1 = first)"
    )
    location: Location | None = None
    address: str | None = Field(default=None, max_length=500)
    reporter: Reporter | None = None
    reported_at: datetime | None = None
    visit_id: int | None = Field(
        default=None,
        description="a squad's patrol report: the patrol visit it was made on (default: the "
        "squad's visit of the day whose community grid holds the position)",
    )


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
    note: str | None = Field(
        default=None,
        max_length=5000,
        description="reason (return, transfer, suspend...) or reply text (handle)",
    )
    squad_id: int | None = Field(default=None, description="dispatch/transfer: the squad sent")
    target: Target | None = Field(default=None, description="route/transfer: the unit chosen")
    position: Location | None = Field(default=None, description="arrive: where the phone was")
    override_reason: str | None = Field(
        default=None, max_length=1000, description="why the recommendation was not followed"
    )


class DuplicateIn(BaseModel):
    """并单: the original this event is a duplicate of (an operator's confirmation)."""

    event_id: int = Field(gt=0, description="the original (master) event")
    note: str | None = Field(default=None, max_length=1000)


class ExtensionIn(BaseModel):
    minutes: int = Field(gt=0, le=60 * 24 * 90)
    reason: str = Field(min_length=1, max_length=2000)


class ExtensionDecisionIn(BaseModel):
    approved: bool
    note: str | None = Field(default=None, max_length=2000)


class LocationIn(BaseModel):
    location: Location
    note: str | None = None


class RevealIn(BaseModel):
    reason: str | None = Field(
        default=None, max_length=500, description="why the number is needed (kept in the audit trail)"
    )


class EventCreated(BaseModel):
    id: int
    created: bool
    state: str
    responsible: dict[str, Any]
    routing: dict[str, Any]


# -- what the flow writes --------------------------------------------------------------------


class TransitionRecord(BaseModel):
    """One audit-trail row written together with a new event."""

    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventRecord(BaseModel):
    """A new event as intake decided it: the one parameter of ``queries.INSERT_EVENT``
    (sent as jsonb, expanded by ``jsonb_to_record`` in SQL)."""

    source: str
    integration_id: int | None = None
    external_id: str | None = None
    title: str
    description: str | None = None
    matter_code: str | None = None
    matter_text: str | None = None
    condition_position: int | None = None
    address: str | None = None
    lng: float | None = None
    lat: float | None = None
    source_crs: str | None = None
    source_lng: float | None = None
    source_lat: float | None = None
    reporter: dict[str, Any] = Field(default_factory=dict)
    reported_at: datetime | None = None
    received_at: datetime
    state: str
    stage: str | None
    due_at: datetime | None
    responsible_kind: str | None
    responsible_code: str | None
    responsible_name: str | None
    co_handlers: list[Any] = Field(default_factory=list)
    grids: dict[str, Any] = Field(default_factory=dict)
    routing: dict[str, Any] = Field(default_factory=dict)
    squad_id: int | None = None
    duplicate_of: int | None = None
    dispatched_at: datetime | None = None
    handle_due_at: datetime | None = None
    reported_by: int | None = None
    trail: list[TransitionRecord]


# -- the read model --------------------------------------------------------------------------


class Viewer(BaseModel):
    """Who an event is shown to. The read model is built for a viewer, so that what a role
    must not see (e.g. a caller's number, D12) is left out in one place."""

    model_config = ConfigDict(frozen=True)

    role: str = "admin"
    name: str | None = None
    grid_codes: tuple[str, ...] = ()
    squad_id: int | None = None
    integration_id: int | None = None


# The dispatch centre itself (background work, hotline callbacks, the system's own reads).
CENTRE = Viewer(role="admin", name="system")


SlaStatus = Literal["none", "overdue", "due_soon", "on_time"]


@dataclass(slots=True, kw_only=True)
class SlaView:
    """The SLA clock of the stage running now."""

    stage: str | None
    due_at: datetime | None
    time_left_s: int | None
    status: SlaStatus
    handle_due_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "due_at": self.due_at,
            "time_left_s": self.time_left_s,
            "status": self.status,
            "handle_due_at": self.handle_due_at,
        }


@dataclass(slots=True, kw_only=True)
class DuplicateCandidate:
    """An open event that may be the same case (并单 candidate), for the operator to confirm."""

    event_id: int
    matter_code: str | None
    title: str
    distance_m: float
    minutes_apart: float
    similarity: float


@dataclass(slots=True, kw_only=True)
class EventView:
    """An event as everyone is shown it (API, pages, notices, hotline callbacks): its stored
    columns (``queries.EVENT_COLUMNS``, in that order), then the SLA clock and the actions
    allowed now. Built only by :func:`gridsvc.events.read.view_of`.

    Read-only mapping access (``view["id"]``, ``view.get("grids")``) is kept for the scope
    rules, which accept a row or a view alike.
    """

    id: int
    source: str
    integration_id: int | None
    external_id: str | None
    title: str
    description: str | None
    matter_code: str | None
    matter_text: str | None
    condition_position: int | None
    address: str | None
    lng: float | None
    lat: float | None
    source_crs: str | None
    source_lng: float | None
    source_lat: float | None
    reporter: dict[str, Any] | None
    reported_at: datetime | None
    received_at: datetime
    state: str
    suspended_from: str | None
    responsible_kind: str | None
    responsible_code: str | None
    responsible_name: str | None
    co_handlers: list[Any]
    grids: dict[str, Any]
    routing: dict[str, Any]
    squad_id: int | None
    duplicate_of: int | None
    # 并单 candidates: only on an event's detail (None elsewhere: lists do not seek them)
    duplicate_candidates: list[DuplicateCandidate] | None = None
    stage: str | None
    stage_started_at: datetime | None
    due_at: datetime | None
    dispatched_at: datetime | None
    handle_due_at: datetime | None
    overdue_since: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    # 回访: the hotline's latest satisfaction result (satisfied / basically_satisfied /
    # dissatisfied), the citizen's comment, when; redo_count: times done again (重办)
    satisfaction: str | None
    satisfaction_comment: str | None
    revisited_at: datetime | None
    redo_count: int
    reported_by: int | None  # the field account of a 巡查上报 (it keeps seeing the event)
    matter_name: str | None
    auto_dispatch: bool | None
    state_zh: str
    sla: SlaView
    allowed_actions: list[str]

    def __getitem__(self, key: str) -> Any:
        if key not in EVENT_VIEW_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in EVENT_VIEW_FIELDS else default

    def community_code(self) -> str | None:
        return ((self.grids or {}).get("community") or {}).get("code")

    def enforcement_code(self) -> str | None:
        return ((self.grids or {}).get("enforcement") or {}).get("code")


# The read model's fields, in answer order.
EVENT_VIEW_FIELDS = tuple(f.name for f in fields(EventView))
