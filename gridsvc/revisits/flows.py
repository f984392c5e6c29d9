"""回访 and 重办: the hotline's satisfaction result for a work order, and what it sets off.

* :func:`record_revisit` (``POST /webhooks/12345/revisits``): the result and the citizen's
  comment are stored per case (``events.satisfaction``...) and per callback (``revisits``),
  with a ``revisit`` line in the audit trail. A repeated delivery of the same callback (same
  回访 number, or the same content without one) answers the first result and changes nothing.
* 不满意 on a handled, verified or closed case reopens it as **重办** (:func:`reopen`): back to
  the same unit (squad, grid head or department unchanged) as ``dispatched``, the case's
  ``redo_count`` one up, a new handling deadline from the matter's time limit on the
  jurisdiction's working-day calendar, a ``redo`` audit line, and the unit's notices queued as
  on a dispatch. ``GRIDSVC_REVISIT_AUTO_REDO=false`` leaves the decision to an operator.
* An operator may decide otherwise: :func:`decline` closes a reopened case again with a
  reason (the hotline gets that 结案 and the reason; the counter goes back down), and
  :func:`redo_by_operator` reopens a case the citizen did not (or not yet) complain about.

Everything one callback or decision changes is one transaction with its audit lines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from gridsvc.errors import Conflict, NotFound
from gridsvc.events import sla
from gridsvc.events.service import (
    EventContext,
    handling_limit_of,
    jurisdiction_of,
    lock_event,
    record_transition,
)
from gridsvc.events.transitions import enqueue_feedback
from gridsvc.jobs import queue
from gridsvc.live.notices import FANOUT
from gridsvc.matters.service import get_matter
from gridsvc.revisits import queries
from gridsvc.revisits.models import SATISFACTION_ZH, RevisitIn

# States a case must have reached for a 重办 (the unit said it was done).
REOPENABLE = frozenset({"handled", "verified", "closed"})
# States of a reopened case an operator may still decline (the unit has not handled it again).
DECLINABLE = frozenset({"dispatched", "signed_for", "on_scene", "returned", "suspended"})


class WorkOrderNotFound(NotFound, LookupError):
    """The hotline names a work order it never sent (404)."""


class RedoConflict(Conflict, ValueError):
    """A 重办 or its refusal that the case's state does not allow (409)."""

    error_code = "redo_conflict"


@dataclass(frozen=True)
class RevisitResult:
    revisit: dict[str, Any]
    event_id: int
    state: str
    created: bool

    def body(self) -> dict[str, Any]:
        revisit = dict(self.revisit)
        revisit.pop("revisit_key", None)
        revisit["satisfaction_zh"] = SATISFACTION_ZH[revisit["satisfaction"]]
        return {
            "event_id": self.event_id,
            "state": self.state,
            "reopened": revisit["outcome"] == "reopened",
            "duplicate": not self.created,
            "revisit": revisit,
        }


def revisit_key(body: RevisitIn) -> str:
    """What makes two deliveries the same callback."""
    if body.revisit_id:
        return "id:" + body.revisit_id
    content = [
        body.work_order_no,
        body.satisfaction,
        body.comment or "",
        body.visited_at.isoformat() if body.visited_at else "",
    ]
    return "sha256:" + hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


async def record_revisit(
    connection: asyncpg.Connection,
    context: EventContext,
    *,
    integration: dict[str, Any],
    body: RevisitIn,
    actor: str,
) -> RevisitResult:
    """Store one 回访 callback and reopen the case when the citizen is not satisfied."""
    key = revisit_key(body)
    async with connection.transaction():
        event_id = await connection.fetchval(
            queries.EVENT_OF_WORK_ORDER, integration["id"], body.work_order_no
        )
        if event_id is None:
            raise WorkOrderNotFound(
                f"no work order {body.work_order_no!r} from integration {integration['name']!r}",
                fields=[{"field": "body.work_order_no", "reason": "no such work order of this hotline"}],
            )
        # The case's lock orders concurrent deliveries: the second one finds the first's row.
        event = await lock_event(connection, event_id)
        known = await connection.fetchrow(queries.BY_KEY, integration["id"], key)
        if known is not None:
            return RevisitResult(dict(known), event_id, event["state"], created=False)
        now = context.clock.now()
        state_before = event["state"]
        await connection.execute(
            queries.SET_SATISFACTION, event_id, body.satisfaction, body.comment, body.visited_at or now
        )
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="revisit",
            from_state=state_before,
            to_state=state_before,
            note=body.comment,
            data={
                "satisfaction": body.satisfaction,
                "satisfaction_zh": SATISFACTION_ZH[body.satisfaction],
                "revisit_id": body.revisit_id,
            },
        )
        outcome, reason = _decide(body.satisfaction, state_before, context)
        redo_count, handle_due = event["redo_count"], None
        if outcome == "reopened":
            note = f"回访不满意，重办：{body.comment}" if body.comment else "回访不满意，重办"
            event = await reopen(connection, context, event, actor=actor, note=note)
            redo_count, handle_due = event["redo_count"], event["handle_due_at"]
        row = await connection.fetchrow(
            queries.INSERT,
            event_id,
            integration["id"],
            key,
            body.work_order_no,
            body.satisfaction,
            body.comment,
            body.visited_at,
            outcome,
            reason,
            state_before,
            redo_count,
            handle_due,
        )
        return RevisitResult(dict(row), event_id, event["state"], created=True)


def _decide(satisfaction: str, state: str, context: EventContext) -> tuple[str, str]:
    """('reopened' | 'recorded', why) for a 回访 result on a case in ``state``."""
    if satisfaction != "dissatisfied":
        return "recorded", f"{SATISFACTION_ZH[satisfaction]}: nothing to do again"
    if state not in REOPENABLE:
        return "recorded", f"不满意, but the case is still open ({state}): its unit is on it"
    if not context.settings.revisit_auto_redo:
        return "recorded", "不满意: waiting for an operator to decide on 重办 (auto 重办 is off)"
    return "reopened", "不满意: reopened as 重办 to the same unit"


async def reopen(
    connection: asyncpg.Connection,
    context: EventContext,
    event: dict[str, Any],
    *,
    actor: str,
    note: str,
) -> dict[str, Any]:
    """重办: ``event`` (locked by the caller, in a transaction) back to its unit as
    dispatched, with a new handling deadline; returns the updated row."""
    if event["state"] not in REOPENABLE:
        raise RedoConflict(
            f"event {event['id']} is {event['state']}: only a handled, verified or closed case "
            f"is done again (重办)",
            extra={"state": event["state"]},
        )
    now = context.clock.now()
    matter = await get_matter(connection, code=event["matter_code"]) if event["matter_code"] else None
    amount, unit = handling_limit_of(matter, event["condition_position"], context.settings)
    calendar = await sla.calendar_for(connection, jurisdiction_code=jurisdiction_of(event, context))
    handle_due = sla.deadline(now, amount, unit, calendar)
    sign_for_due = sla.stage_due(
        stage="sign_for", start=now, calendar=calendar, settings=context.settings, handle_due_at=handle_due
    )
    redo_count = await connection.fetchval(queries.REOPEN, event["id"], now, sign_for_due, handle_due)
    record = await record_transition(
        connection,
        event["id"],
        actor=actor,
        action="redo",
        from_state=event["state"],
        to_state="dispatched",
        note=note,
        data={
            "redo_count": redo_count,
            "handle_limit": {"amount": amount, "unit": unit},
            "handle_due_at": handle_due.isoformat(),
            "squad_id": event["squad_id"],
            "responsible": {
                "kind": event["responsible_kind"],
                "code": event["responsible_code"],
                "name": event["responsible_name"],
            },
        },
    )
    # The unit hears of it as of a dispatch (the notices trigger covers dispatch/transfer).
    await queue.enqueue(connection, FANOUT, {"transition_id": record["id"], "event_id": event["id"]})
    return await lock_event(connection, event["id"])


async def redo_by_operator(
    connection: asyncpg.Connection, context: EventContext, *, event_id: int, actor: str, note: str
) -> None:
    """An operator's 重办 of a handled, verified or closed case."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        await reopen(connection, context, event, actor=actor, note=note)


async def decline(
    connection: asyncpg.Connection, context: EventContext, *, event_id: int, actor: str, reason: str
) -> None:
    """An operator declines the reopening of a case: closed again with ``reason``."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        last = await connection.fetchrow(queries.LAST_REDO, event_id)
        if last is None or last["action"] != "redo":
            raise RedoConflict(
                f"event {event_id} has no 重办 to decline"
                + (" (the last one is declined already)" if last is not None else ""),
                extra={"state": event["state"]},
            )
        if event["state"] not in DECLINABLE:
            raise RedoConflict(
                f"event {event_id} is {event['state']}: a 重办 can only be declined before the "
                f"unit handles the case again",
                extra={"state": event["state"]},
            )
        now = context.clock.now()
        await connection.execute(queries.DECLINE, event_id, now)
        record = await record_transition(
            connection,
            event_id,
            actor=actor,
            action="decline_redo",
            from_state=event["state"],
            to_state="closed",
            note=reason,
            data={"redo": last["id"]},
        )
        await connection.execute(queries.MARK_DECLINED, event_id, actor, now, reason)
        closed = await lock_event(connection, event_id)
        if closed["integration_id"] is not None:
            await enqueue_feedback(
                connection, closed, kind="closed", note=reason, transition_id=record["id"], at=record["at"]
            )
