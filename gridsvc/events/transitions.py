"""The lifecycle of a stored event: route, dispatch, sign for ... close, return, transfer,
suspend, resume, and 并单 duplicates following their master.

Each action is one transaction: the new state and SLA clock, its audit-trail row and, for
hotline work orders, the feedback message in the outbox (a state the hotline cares about is
never committed without the message that reports it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.events import queries, sla, targets
from gridsvc.events.dispatching import plan_dispatch
from gridsvc.events.lifecycle import ACTIONS, STAGE_OF_STATE, next_state
from gridsvc.events.models import CENTRE
from gridsvc.events.read import feedback_payload, view_of
from gridsvc.events.service import (
    EventConflict,
    EventContext,
    jurisdiction_of,
    lock_event,
    record_transition,
    store_routing,
)
from gridsvc.events.targets import Unit
from gridsvc.matters.service import get_matter
from gridsvc.outbox import service as outbox
from gridsvc.routing.service import RoutingDecision, route

# Lifecycle actions reported back to the hotline, and the status name it expects.
FEEDBACK_KIND = {"sign_for": "signed_for", "handle": "handled", "return": "returned", "close": "closed"}
# When the master of a 并单 group moves, its linked duplicates follow (each work order still
# gets its own feedback).
PROPAGATED_ACTIONS = frozenset({"sign_for", "arrive", "handle", "verify", "close"})
MAIN_PATH = ("routed", "dispatched", "signed_for", "on_scene", "handled", "verified", "closed")
MAIN_PATH_ACTIONS = ("dispatch", "sign_for", "arrive", "handle", "verify", "close")


async def transition(
    connection: asyncpg.Connection,
    context: EventContext,
    event_id: int,
    *,
    action: str,
    actor: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply one lifecycle action (caller holds the transaction); returns the updated row.

    ``event``: the row, already locked by the caller in this transaction (saves a query).
    """
    if event is None:
        event = await lock_event(connection, event_id)
    state = event["state"]
    target = next_state(state=state, action=action, note=note, suspended_from=event["suspended_from"])
    now = context.clock.now()
    stage = STAGE_OF_STATE.get(target)
    calendar = await sla.calendar_for(connection, jurisdiction_code=jurisdiction_of(event, context))
    if target == "suspended":
        # 挂账 stops the clock: the stage and its deadline are kept as they were.
        started, due = event["stage_started_at"], event["due_at"]
    elif action == "resume" and event["stage"] == stage and event["due_at"] is not None:
        # The clock resumes with the time that was left when the case was parked.
        parked_at = await connection.fetchval(queries.LAST_SUSPENDED_AT, event_id) or now
        started, due = event["stage_started_at"], event["due_at"] + (now - parked_at)
    else:
        started = now
        due = sla.stage_due(
            stage=stage,
            start=now,
            calendar=calendar,
            settings=context.settings,
            handle_due_at=event["handle_due_at"],
        )
    suspended_from = state if target == "suspended" else None
    await connection.execute(
        queries.UPDATE_STATE,
        event_id,
        target,
        suspended_from,
        stage if target != "suspended" else event["stage"],
        started,
        due,
    )
    record = await record_transition(
        connection,
        event_id,
        actor=actor,
        action=action,
        from_state=state,
        to_state=target,
        note=note,
        data=data,
    )
    event.update(
        state=target, stage=stage, due_at=due, stage_started_at=started, suspended_from=suspended_from
    )
    if event["integration_id"] is not None and action in FEEDBACK_KIND:
        await enqueue_feedback(
            connection,
            event,
            kind=FEEDBACK_KIND[action],
            note=note,
            transition_id=record["id"],
            at=record["at"],
        )
    return event


async def enqueue_feedback(
    connection: asyncpg.Connection,
    event: dict[str, Any],
    *,
    kind: str,
    note: str | None,
    transition_id: int,
    at: datetime,
) -> None:
    """Queue the hotline's status callback, cut from the event's read model."""
    payload = feedback_payload(view_of(event, now=at, viewer=CENTRE), kind=kind, note=note, at=at)
    key = f"{event['integration_id']}:{event['external_id']}:{kind}:{transition_id}"
    await outbox.enqueue_feedback(
        connection,
        event_id=event["id"],
        integration_id=event["integration_id"],
        kind=kind,
        payload=payload,
        idempotency_key=key,
    )


async def dispatch(
    connection: asyncpg.Connection,
    context: EventContext,
    event_id: int,
    *,
    actor: str,
    squad_id: int | None,
    note: str | None,
    unit: Unit | None = None,
    action: str = "dispatch",
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """派遣 (or 改派 to ``unit``, checked already) a stored event, as :func:`plan_dispatch`
    decides. The responsible code and name follow ``unit``; the audit row says from/to."""
    if event is None:
        event = await lock_event(connection, event_id)
    before = {k: event[f"responsible_{k}"] for k in ("kind", "code", "name")}
    if unit is not None:
        event.update(responsible_kind=unit.kind, responsible_code=unit.code, responsible_name=unit.name)
        if squad_id is None:
            squad_id = unit.squad_id
    now = context.clock.now()
    matter = await get_matter(connection, code=event["matter_code"]) if event["matter_code"] else None
    plan = await plan_dispatch(connection, context, event=event, matter=matter, squad_id=squad_id, now=now)
    await connection.execute(
        queries.SET_DISPATCH,
        event_id,
        plan.squad_id,
        now,
        plan.handle_due_at,
        unit.kind if unit else None,
        unit.code if unit else None,
        unit.name if unit else None,
    )
    data = plan.audit_data()
    if unit is not None:
        data["target"] = unit.as_dict()
        data["from"], data["to"] = before, unit.as_dict()
    event.update(squad_id=plan.squad_id, dispatched_at=now, handle_due_at=plan.handle_due_at)
    return await transition(
        connection, context, event_id, action=action, actor=actor, note=note, data=data, event=event
    )


async def _unit_of_request(
    connection: asyncpg.Connection,
    event: dict[str, Any],
    *,
    action: str,
    squad_id: int | None,
    target: dict[str, Any] | None,
) -> Unit | None:
    """The unit a 派遣/改派/分拨 names, checked against the event's jurisdiction (422 when it
    is not a real unit there). 改派 to a squad alone makes that squad responsible."""
    unit = await targets.resolve_target(connection, event=event, target=target) if target else None
    if squad_id is not None and action in {"dispatch", "transfer"}:
        sent = await targets.resolve_squad(connection, event=event, squad_id=squad_id)
        if unit is not None and unit.squad_id is not None and unit.squad_id != squad_id:
            raise targets.UnknownTarget(
                field="body.squad_id", kind="squad", code=str(squad_id), valid=[f"{unit.squad_id}"]
            )
        if unit is None and action == "transfer":
            unit = sent
    return unit


async def apply_action(
    connection: asyncpg.Connection,
    *,
    context: EventContext,
    event_id: int,
    action: str,
    actor: str,
    note: str | None = None,
    squad_id: int | None = None,
    target: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Apply a lifecycle action (and follow it on linked duplicates), in one transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    unit: Unit | None = None
    event: dict[str, Any] | None = None
    async with connection.transaction():
        if action in {"dispatch", "transfer"} or (action == "route" and target is not None):
            event = await lock_event(connection, event_id)
            # The state is checked before the target: an illegal action is 409 whatever it names.
            next_state(state=event["state"], action=action, note=note, suspended_from=event["suspended_from"])
            unit = await _unit_of_request(connection, event, action=action, squad_id=squad_id, target=target)
        if action in {"dispatch", "transfer"}:
            await dispatch(
                connection,
                context,
                event_id,
                actor=actor,
                squad_id=squad_id,
                note=note,
                unit=unit,
                action=action,
                event=event,
            )
        elif action == "route" and target is not None:
            assert unit is not None and event is not None
            before = {k: event[f"responsible_{k}"] for k in ("kind", "code", "name")}
            decision = RoutingDecision(
                unit.kind,
                unit.code,
                unit.name,
                "operator",
                note or "routed by an operator",
                grids=(event["routing"] or {}).get("grids") or {},
                reason_zh=f"值班员分拨：{unit.name}",
            )
            await store_routing(
                connection, event_id, decision, matter_code=event["matter_code"], at=context.clock.now()
            )
            await transition(
                connection,
                context,
                event_id,
                action=action,
                actor=actor,
                note=note,
                data={"target": unit.as_dict(), "from": before, "to": unit.as_dict(), **(data or {})},
            )
        elif action == "route":
            await reroute(connection, context, event_id, actor=actor, note=note)
        else:
            await transition(connection, context, event_id, action=action, actor=actor, note=note, data=data)
        if action in PROPAGATED_ACTIONS:
            await bring_duplicates_along(connection, context, event_id, actor=actor)


async def bring_duplicates_along(
    connection: asyncpg.Connection,
    context: EventContext,
    master_id: int,
    *,
    actor: str,
    only: int | None = None,
) -> None:
    """Move linked duplicates (or just ``only``) forward on the main path to their master's
    state, each step with its own hotline callback; a 处置 carries the master's reply."""
    master = await lock_event(connection, master_id)
    if master["state"] not in MAIN_PATH:
        return
    target = MAIN_PATH.index(master["state"])
    reply: str | None = None
    for row in await connection.fetch(queries.LINKED_DUPLICATES, master_id):
        if only is not None and row["id"] != only:
            continue
        linked = await lock_event(connection, row["id"])
        if linked["state"] not in MAIN_PATH:
            continue
        for step in range(MAIN_PATH.index(linked["state"]), target):
            action = MAIN_PATH_ACTIONS[step]
            follow = {"following": master_id}
            if action == "dispatch":
                await dispatch(
                    connection,
                    context,
                    row["id"],
                    actor=actor,
                    squad_id=master["squad_id"],
                    note=f"并单：随事件 {master_id}",
                )
                continue
            if action == "handle" and reply is None:
                reply = (
                    await connection.fetchval(queries.LAST_REPLY, master_id)
                    or f"并单: 同事件{master_id}已处置"
                )
            await transition(
                connection,
                context,
                row["id"],
                action=action,
                actor=actor,
                note=reply if action == "handle" else None,
                data=follow,
            )


async def reroute(
    connection: asyncpg.Connection,
    context: EventContext,
    event_id: int,
    *,
    actor: str,
    note: str | None,
    triage_ok: bool = False,
) -> None:
    """Route again by the rules (after a return, or once an operator placed the event).

    When the rules still find nobody: an error for an explicit route request; with
    ``triage_ok`` the new explanation is stored and the event stays in the triage queue.
    """
    event = await lock_event(connection, event_id)
    matter = await get_matter(connection, code=event["matter_code"]) if event["matter_code"] else None
    now = context.clock.now()
    decision = await route(
        connection,
        overlay=context.overlay,
        lng=event["lng"],
        lat=event["lat"],
        matter=matter,
        at=now,
        no_owner_fallback=context.settings.routing_no_owner_fallback,
    )
    if decision.is_triage:
        if triage_ok:
            await store_routing(connection, event_id, decision, matter_code=event["matter_code"], at=now)
            return
        raise EventConflict(
            f"the rules find no responsible unit ({decision.reason}); route it with an explicit target"
        )
    await store_routing(connection, event_id, decision, matter_code=event["matter_code"], at=now)
    await transition(
        connection,
        context,
        event_id,
        action="route",
        actor=actor,
        note=note or decision.reason_zh or decision.reason,
        data=None if note else {"say": decision.why},
    )


async def set_location(
    connection: asyncpg.Connection,
    *,
    context: EventContext,
    event_id: int,
    lng: float,
    lat: float,
    crs: str,
    actor: str,
    note: str | None,
) -> None:
    """Give an address-only (or misplaced) event its WGS84 point and route it by the rules."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        if event["state"] not in {"received", "returned"}:
            raise EventConflict(
                f"event {event_id} is {event['state']}: only received or returned events can be placed"
            )
        await connection.execute(queries.SET_LOCATION, event_id, lng, lat, crs)
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="locate",
            from_state=event["state"],
            to_state=event["state"],
            note=note,
            data={"lng": lng, "lat": lat},
        )
        await reroute(connection, context, event_id, actor=actor, note=note, triage_ok=True)
