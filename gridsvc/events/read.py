"""The read model of an event: one function builds it from a database row, and the shapes
the outside world is sent (API answers, the intake answer, hotline callbacks) are cut from it.

Every reader passes a :class:`~gridsvc.events.models.Viewer`, so that what a role may not see
is decided here, once (:func:`redact_reporter`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gridsvc.events import privacy
from gridsvc.events.lifecycle import STATE_NAMES_ZH, allowed_actions
from gridsvc.events.models import (
    CENTRE,
    EVENT_VIEW_FIELDS,
    EventView,
    SlaStatus,
    SlaView,
    Viewer,
)

FEEDBACK_NAMES_ZH = {"signed_for": "签收", "handled": "办结", "returned": "退单", "closed": "结案"}


def redact_reporter(reporter: dict[str, Any] | None, viewer: Viewer) -> dict[str, Any] | None:
    """The caller's details as ``viewer`` may see them (D12), the one place every reader
    goes through: the centre sees the caller as stored; outside it, the name and number
    masked (a consented caller's name in full, the number only through the audited reveal),
    nothing when confidential. The rule itself: :func:`gridsvc.events.privacy.redact_reporter`.
    """
    return privacy.redact_reporter(reporter, viewer)


def as_seen_by(view: EventView, viewer: Viewer) -> EventView:
    """The centre's read model of an event as another ``viewer`` sees it, for readers that
    build one view and send it to several recipients (notices). ``view`` must be the
    centre's (built with :data:`~gridsvc.events.models.CENTRE`): a redacted caller cannot be
    redacted again."""
    return dataclasses.replace(view, reporter=redact_reporter(view.reporter, viewer))


def sla_of(row: Mapping[str, Any], *, now: datetime) -> SlaView:
    """The SLA clock of the stage running now: time left and on_time / due_soon / overdue."""
    due = row.get("due_at")
    left = (due - now).total_seconds() if due and row["state"] != "closed" else None
    started = row.get("stage_started_at")
    status: SlaStatus
    if left is None:
        status = "none"
    elif left < 0:
        status = "overdue"
    elif started and left < 0.25 * (due - started).total_seconds():
        status = "due_soon"
    else:
        status = "on_time"
    return SlaView(
        stage=row.get("stage"),
        due_at=due,
        time_left_s=None if left is None else round(left),
        status=status,
        handle_due_at=row.get("handle_due_at"),
    )


def view_of(row: Mapping[str, Any], *, now: datetime, viewer: Viewer = CENTRE) -> EventView:
    """The read model of one event row (``queries.EVENT_COLUMNS``), as ``viewer`` sees it.

    A plain dataclass, not re-validated: the row's types are the table's (asyncpg decodes
    them), and a list of 3,000 open events must stay cheap to show.
    """
    values = dict(row)
    values["reporter"] = redact_reporter(values.get("reporter"), viewer)
    values["state_zh"] = STATE_NAMES_ZH.get(row["state"], row["state"])
    values["sla"] = sla_of(row, now=now)
    values["allowed_actions"] = allowed_actions(row["state"])
    return EventView(**values)


def present(view: EventView) -> dict[str, Any]:
    """An event as the API answers it (``GET /events``, ``GET /events/{id}``...): the read
    model's fields in order, the SLA clock as an object."""
    answer = {name: getattr(view, name) for name in EVENT_VIEW_FIELDS}
    answer["sla"] = view.sla.as_dict()
    answer["allowed_actions"] = list(view.allowed_actions)
    return answer


def created_body(view: EventView, created: bool) -> dict[str, Any]:
    """The intake answer (``POST /events``, ``POST /webhooks/12345``): 201 new, 200 known."""
    return {
        "id": view.id,
        "created": created,
        "state": view.state,
        "responsible": {
            "kind": view.responsible_kind,
            "code": view.responsible_code,
            "name": view.responsible_name,
        },
        "squad_id": view.squad_id,
        "duplicate_of": view.duplicate_of,
        "routing": view.routing,
        "sla": view.sla.as_dict(),
    }


def feedback_payload(view: EventView, *, kind: str, note: str | None, at: datetime) -> dict[str, Any]:
    """A status callback to the hotline (签收, 办结, 退单, 结案) for its work order."""
    return {
        "work_order_no": view.external_id,
        "event_id": view.id,
        "status": kind,
        "status_zh": FEEDBACK_NAMES_ZH[kind],
        "at": at.isoformat(),
        "text": note,
        "unit": view.responsible_name,
    }
