"""Events: intake, routing, dispatch, the lifecycle with its audit trail, SLA and feedback.

Every change to an event happens in one transaction with its audit-trail row and, for hotline
work orders, the feedback message in the outbox: a state the hotline cares about is never
committed without the message that reports it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gridsvc.errors import Conflict, NotFound
from gridsvc.events import queries, sla
from gridsvc.events.lifecycle import (
    ACTIONS,
    STAGE_OF_STATE,
    STATE_NAMES_ZH,
    allowed_actions,
    next_state,
)
from gridsvc.grids.lookup import Overlay
from gridsvc.matters.service import get_matter
from gridsvc.routing.service import RoutingDecision, route
from gridsvc.settings import Settings

# Lifecycle actions reported back to the hotline, and the status name it expects.
FEEDBACK_KIND = {"sign_for": "signed_for", "handle": "handled", "return": "returned",
                 "close": "closed"}
# When the master of a 并单 group moves, its linked duplicates follow (each work order still
# gets its own feedback).
PROPAGATED_ACTIONS = frozenset({"sign_for", "arrive", "handle", "verify", "close"})
MAIN_PATH = ("routed", "dispatched", "signed_for", "on_scene", "handled", "verified", "closed")
MAIN_PATH_ACTIONS = ("dispatch", "sign_for", "arrive", "handle", "verify", "close")

SquadChooser = Callable[[asyncpg.Connection, dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass
class EventContext:
    """What the event functions need besides a connection."""

    settings: Settings
    overlay: Overlay
    choose_squad: SquadChooser | None = None


class EventNotFound(NotFound, LookupError):
    """No such event (404)."""


class EventConflict(Conflict, ValueError):
    """A request that contradicts the event's data (not its state): answered with 409."""


@dataclass
class NewEvent:
    """An event to create; coordinates already converted to WGS84 (EPSG:4326) degrees."""

    source: str
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
    reporter: dict[str, Any] | None = None
    reported_at: datetime | None = None
    integration_id: int | None = None
    external_id: str | None = None


async def create_event(connection: asyncpg.Connection, *, context: EventContext, new: NewEvent,
                       actor: str) -> tuple[int, bool]:
    """Store, route and (where configured) dispatch a new event: ``(event_id, created)``."""
    event_id, created, _ = await intake(connection, context=context, new=new, actor=actor)
    return event_id, created


async def intake(connection: asyncpg.Connection, *, context: EventContext, new: NewEvent,
                 actor: str) -> tuple[int, bool, dict[str, Any] | None]:
    """Store, route and (where configured) dispatch a new event.

    Everything is decided first (routing, 并单 link, squad, deadlines), then the event and its
    audit trail are written by one statement, so intake costs a handful of round trips. Returns
    ``(event_id, created, summary)``; ``created`` is False (and ``summary`` None) when the
    hotline's work-order number was already known: nothing changes.
    """
    matter = await cached_matter(connection, code=new.matter_code) if new.matter_code else None
    now = datetime.now(UTC)
    decision = await route(connection, overlay=context.overlay, lng=new.lng, lat=new.lat,
                           matter=matter, at=now)
    explanation = decision.explanation(matter_code=new.matter_code, at=now)
    grids = {layer: {"id": g["id"], "code": g["code"], "name": g["name"]}
             for layer, g in decision.grids.items()}
    trail: list[tuple[str, str, str | None, str, str | None, dict[str, Any]]] = [
        (actor, "receive", None, "received", None, {"source": new.source})]
    state, stage = "received", "route"
    due = now + timedelta(minutes=context.settings.sla_route_minutes)
    duplicate_of = squad_id = dispatched_at = handle_due = None
    if not decision.is_triage:
        state, stage = "routed", "dispatch"
        due = now + timedelta(minutes=context.settings.sla_dispatch_minutes)
        trail.append(("system", "route", "received", "routed", decision.reason, {}))
        if matter is not None and new.lng is not None and new.lat is not None:
            duplicate_of = await connection.fetchval(
                queries.DUPLICATE_CANDIDATE, 0, matter["code"], new.lng, new.lat,
                context.settings.duplicate_window_h * 3600, context.settings.duplicate_radius_m,
                context.settings.duplicate_radius_m / 110_000.0)
            if duplicate_of is not None:
                trail.append(("system", "link_duplicate", "routed", "routed",
                              f"并单: linked to open event {duplicate_of}",
                              {"duplicate_of": duplicate_of}))
        if matter is not None and matter["auto_dispatch"]:
            planned = {"responsible_kind": decision.responsible_kind,
                       "responsible_code": decision.responsible_code, "grids": grids,
                       "lng": new.lng, "lat": new.lat}
            chosen = None
            if decision.responsible_kind == "squad" and context.choose_squad is not None:
                chosen = await context.choose_squad(connection, planned)
            squad_id = chosen["id"] if chosen else None
            amount, unit = _handling_limit_of(matter, new.condition_position, context.settings)
            calendar = await sla.calendar_for(connection,
                                              jurisdiction_code=_jurisdiction_of(planned, context))
            handle_due = sla.deadline(now, amount, unit, calendar)
            dispatched_at = now
            state, stage = "dispatched", "sign_for"
            due = now + timedelta(minutes=context.settings.sla_sign_for_minutes)
            data: dict[str, Any] = {"squad_id": squad_id,
                                    "handle_limit": {"amount": amount, "unit": unit}}
            if chosen:
                data["recommendation"] = chosen
            trail.append(("system", "dispatch", "routed", "dispatched",
                          "auto-dispatch (matter configured for it)", data))
    event_id = await connection.fetchval(
        queries.INSERT_EVENT, new.source, new.integration_id, new.external_id, new.title,
        new.description, matter["code"] if matter else None,
        new.matter_text or (new.matter_code if matter is None else None),
        new.condition_position, new.address, new.lng, new.lat, new.source_crs, new.source_lng,
        new.source_lat, new.reporter or {}, new.reported_at, now, state, stage, due,
        decision.responsible_kind, decision.responsible_code, decision.responsible_name,
        decision.co_handlers, grids, explanation, squad_id, duplicate_of, dispatched_at,
        handle_due,
        [t[0] for t in trail], [t[1] for t in trail], [t[2] for t in trail],
        [t[3] for t in trail], [t[4] for t in trail], [t[5] for t in trail],
    )
    if event_id is None:
        existing = await connection.fetchval(queries.EVENT_BY_WORK_ORDER, new.integration_id,
                                             new.external_id)
        return int(existing), False, None
    summary = present({
        "id": event_id, "state": state, "stage": stage, "stage_started_at": now, "due_at": due,
        "handle_due_at": handle_due, "responsible_kind": decision.responsible_kind,
        "responsible_code": decision.responsible_code,
        "responsible_name": decision.responsible_name, "squad_id": squad_id,
        "duplicate_of": duplicate_of, "routing": explanation}, now=now)
    return int(event_id), True, summary


_matters: dict[str, tuple[float, dict[str, Any] | None]] = {}
_MATTER_CACHE_SECONDS = 10.0


async def cached_matter(connection: asyncpg.Connection, *, code: str) -> dict[str, Any] | None:
    """The matter with its conditions, kept 10 s: intake reads it for every work order, and
    an operator's change to a matter may take that long to apply to new events."""
    hit = _matters.get(code)
    if hit is not None and time.monotonic() - hit[0] < _MATTER_CACHE_SECONDS:
        return hit[1]
    matter = await get_matter(connection, code=code)
    _matters[code] = (time.monotonic(), matter)
    return matter


def _handling_limit_of(matter: dict[str, Any] | None, position: int | None,
                       settings: Settings) -> tuple[float, str]:
    conditions = (matter or {}).get("conditions") or []
    condition = next((c for c in conditions if c["position"] == (position or 1)), None)
    return sla.handling_limit(condition, settings)


async def _store_routing(connection: asyncpg.Connection, event_id: int, decision: RoutingDecision,
                         *, matter_code: str | None, at: datetime) -> None:
    await connection.execute(
        queries.UPDATE_ROUTING, event_id, decision.responsible_kind, decision.responsible_code,
        decision.responsible_name, decision.co_handlers,
        {layer: {"id": g["id"], "code": g["code"], "name": g["name"]}
         for layer, g in decision.grids.items()},
        decision.explanation(matter_code=matter_code, at=at),
    )


async def record_transition(connection: asyncpg.Connection, event_id: int, *, actor: str, action: str,
                  from_state: str | None, to_state: str, note: str | None = None,
                  data: dict[str, Any] | None = None) -> asyncpg.Record:
    return await connection.fetchrow(queries.INSERT_TRANSITION, event_id, actor, action,
                                     from_state, to_state, note, data or {})


async def lock_event(connection: asyncpg.Connection, event_id: int) -> dict[str, Any]:
    row = await connection.fetchrow(queries.LOCK_EVENT, event_id)
    if row is None:
        raise EventNotFound(f"event {event_id} does not exist")
    return dict(row)


def _jurisdiction_of(event: dict[str, Any], context: EventContext) -> str | None:
    enforcement = (event.get("grids") or {}).get("enforcement")
    if not enforcement:
        return None
    index = context.overlay.layers.get("enforcement")
    if index is not None:
        for grid in index.grids:
            if grid.id == enforcement["id"]:
                return grid.jurisdiction_code
    return None


async def _transition(connection: asyncpg.Connection, context: EventContext, event_id: int, *,
                      action: str, actor: str, note: str | None = None,
                      data: dict[str, Any] | None = None,
                      event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply one lifecycle action (caller holds the transaction); returns the updated row.

    ``event``: the row, already locked by the caller in this transaction (saves a query).
    """
    if event is None:
        event = await lock_event(connection, event_id)
    state = event["state"]
    target = next_state(state=state, action=action, note=note,
                        suspended_from=event["suspended_from"])
    now = datetime.now(UTC)
    stage = STAGE_OF_STATE.get(target)
    calendar = await sla.calendar_for(connection, jurisdiction_code=_jurisdiction_of(event, context))
    if target == "suspended":
        # 挂账 stops the clock: the stage and its deadline are kept as they were.
        started, due = event["stage_started_at"], event["due_at"]
    elif action == "resume" and event["stage"] == stage and event["due_at"] is not None:
        # The clock resumes with the time that was left when the case was parked.
        parked_at = await connection.fetchval(queries.LAST_SUSPENDED_AT, event_id) or now
        started, due = event["stage_started_at"], event["due_at"] + (now - parked_at)
    else:
        started = now
        due = sla.stage_due(stage=stage, start=now, calendar=calendar, settings=context.settings,
                            handle_due_at=event["handle_due_at"])
    suspended_from = state if target == "suspended" else None
    await connection.execute(queries.UPDATE_STATE, event_id, target, suspended_from,
                             stage if target != "suspended" else event["stage"], started, due)
    record = await record_transition(connection, event_id, actor=actor, action=action, from_state=state,
                           to_state=target, note=note, data=data)
    if event["integration_id"] is not None and action in FEEDBACK_KIND:
        await _enqueue_feedback(connection, event, kind=FEEDBACK_KIND[action], note=note,
                                transition_id=record["id"], at=record["at"])
    event.update(state=target, stage=stage, due_at=due)
    return event


async def _enqueue_feedback(connection: asyncpg.Connection, event: dict[str, Any], *, kind: str,
                            note: str | None, transition_id: int, at: datetime) -> None:
    payload = {
        "work_order_no": event["external_id"], "event_id": event["id"], "status": kind,
        "status_zh": {"signed_for": "签收", "handled": "办结", "returned": "退单",
                      "closed": "结案"}[kind],
        "at": at.isoformat(), "text": note, "unit": event["responsible_name"],
    }
    key = f"{event['integration_id']}:{event['external_id']}:{kind}:{transition_id}"
    await connection.execute(queries.INSERT_OUTBOX, event["id"], event["integration_id"], kind,
                             payload, key)


async def _dispatch(connection: asyncpg.Connection, context: EventContext, event_id: int, *,
                    actor: str, squad_id: int | None, note: str | None,
                    target: dict[str, Any] | None = None, action: str = "dispatch",
                    event: dict[str, Any] | None = None,
                    matter: dict[str, Any] | None = None) -> dict[str, Any]:
    if event is None:
        event = await lock_event(connection, event_id)
    if target is not None:
        event.update(responsible_kind=target["kind"], responsible_code=target["code"],
                     responsible_name=target.get("name") or target["code"])
    chosen: dict[str, Any] | None = None
    if squad_id is None and event["responsible_kind"] == "squad" and context.choose_squad:
        chosen = await context.choose_squad(connection, event)
        squad_id = chosen["id"] if chosen else None
    now = datetime.now(UTC)
    if matter is None and event["matter_code"]:
        matter = await get_matter(connection, code=event["matter_code"])
    amount, unit = _handling_limit_of(matter, event["condition_position"], context.settings)
    calendar = await sla.calendar_for(connection, jurisdiction_code=_jurisdiction_of(event, context))
    handle_due = sla.deadline(now, amount, unit, calendar)
    await connection.execute(
        queries.SET_DISPATCH, event_id, squad_id, now, handle_due,
        target["kind"] if target else None, target["code"] if target else None,
        (target.get("name") or target["code"]) if target else None)
    data: dict[str, Any] = {"squad_id": squad_id, "handle_limit": {"amount": amount, "unit": unit}}
    if chosen:
        data["recommendation"] = chosen
    if target:
        data["target"] = target
    event.update(squad_id=squad_id, dispatched_at=now, handle_due_at=handle_due)
    return await _transition(connection, context, event_id, action=action, actor=actor, note=note,
                             data=data, event=event)


async def apply_action(connection: asyncpg.Connection, *, context: EventContext, event_id: int,
                       action: str, actor: str, note: str | None = None,
                       squad_id: int | None = None, target: dict[str, Any] | None = None,
                       data: dict[str, Any] | None = None) -> None:
    """Apply a lifecycle action (and follow it on linked duplicates), in one transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    async with connection.transaction():
        if action in {"dispatch", "transfer"}:
            await _dispatch(connection, context, event_id, actor=actor, squad_id=squad_id,
                            note=note, target=target, action=action)
        elif action == "route" and target is not None:
            event = await lock_event(connection, event_id)
            decision = RoutingDecision(target["kind"], target["code"],
                                       target.get("name") or target["code"], "operator",
                                       note or "routed by an operator",
                                       grids=(event["routing"] or {}).get("grids") or {})
            await _store_routing(connection, event_id, decision,
                                 matter_code=event["matter_code"], at=datetime.now(UTC))
            await _transition(connection, context, event_id, action=action, actor=actor,
                              note=note, data={"target": target, **(data or {})})
        elif action == "route":
            await _reroute(connection, context, event_id, actor=actor, note=note)
        else:
            await _transition(connection, context, event_id, action=action, actor=actor,
                              note=note, data=data)
        if action in PROPAGATED_ACTIONS:
            await _bring_duplicates_along(connection, context, event_id, actor=actor, note=note)


async def _bring_duplicates_along(connection: asyncpg.Connection, context: EventContext,
                                  master_id: int, *, actor: str, note: str | None) -> None:
    """Move every linked duplicate forward on the main path to its master's state."""
    master = await lock_event(connection, master_id)
    if master["state"] not in MAIN_PATH:
        return
    target = MAIN_PATH.index(master["state"])
    for row in await connection.fetch(queries.LINKED_DUPLICATES, master_id):
        linked = await lock_event(connection, row["id"])
        if linked["state"] not in MAIN_PATH:
            continue
        for step in range(MAIN_PATH.index(linked["state"]), target):
            action = MAIN_PATH_ACTIONS[step]
            follow = {"following": master_id}
            if action == "dispatch":
                await _dispatch(connection, context, row["id"], actor=actor,
                                squad_id=master["squad_id"], note=f"并单: with event {master_id}")
            else:
                await _transition(connection, context, row["id"], action=action, actor=actor,
                                  note=note if action == "handle" else None, data=follow)


async def _reroute(connection: asyncpg.Connection, context: EventContext, event_id: int, *,
                   actor: str, note: str | None, triage_ok: bool = False) -> None:
    """Route again by the rules (after a return, or once an operator placed the event).

    When the rules still find nobody: an error for an explicit route request; with
    ``triage_ok`` the new explanation is stored and the event stays in the triage queue.
    """
    event = await lock_event(connection, event_id)
    matter = await get_matter(connection, code=event["matter_code"]) if event["matter_code"] else None
    now = datetime.now(UTC)
    decision = await route(connection, overlay=context.overlay, lng=event["lng"], lat=event["lat"],
                           matter=matter, at=now)
    if decision.is_triage:
        if triage_ok:
            await _store_routing(connection, event_id, decision,
                                 matter_code=event["matter_code"], at=now)
            return
        raise EventConflict(f"the rules find no responsible unit ({decision.reason}); "
                            "route it with an explicit target")
    await _store_routing(connection, event_id, decision, matter_code=event["matter_code"], at=now)
    await _transition(connection, context, event_id, action="route", actor=actor,
                      note=note or decision.reason)


async def unlink_duplicate(connection: asyncpg.Connection, *, event_id: int, actor: str,
                           note: str | None) -> None:
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        if event["duplicate_of"] is None:
            raise EventConflict(f"event {event_id} is not linked to another event")
        await connection.execute(queries.SET_DUPLICATE_OF, event_id, None)
        await record_transition(connection, event_id, actor=actor, action="unlink_duplicate",
                      from_state=event["state"], to_state=event["state"], note=note,
                      data={"was_duplicate_of": event["duplicate_of"]})


def present(event: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """An event as the API shows it: with time left, SLA status and allowed actions."""
    now = now or datetime.now(UTC)
    due = event.get("due_at")
    left = (due - now).total_seconds() if due and event["state"] != "closed" else None
    if left is None:
        status = "none"
    elif left < 0:
        status = "overdue"
    elif event.get("stage_started_at") and left < 0.25 * (due - event["stage_started_at"]).total_seconds():
        status = "due_soon"
    else:
        status = "on_time"
    view = dict(event)
    view["state_zh"] = STATE_NAMES_ZH.get(event["state"], event["state"])
    view["sla"] = {"stage": event.get("stage"), "due_at": due, "time_left_s":
                   None if left is None else round(left), "status": status,
                   "handle_due_at": event.get("handle_due_at")}
    view["allowed_actions"] = allowed_actions(event["state"])
    return view


async def get_event(connection: asyncpg.Connection | asyncpg.Pool, *, event_id: int,
                    with_history: bool = True) -> dict[str, Any]:
    row = await connection.fetchrow(queries.EVENT_BY_ID, event_id)
    if row is None:
        raise EventNotFound(f"event {event_id} does not exist")
    view = present(dict(row))
    if with_history:
        view["history"] = [dict(r) for r in await connection.fetch(queries.TRANSITIONS, event_id)]
        view["duplicates"] = [dict(r) for r in await connection.fetch(queries.DUPLICATES_OF, event_id)]
        view["extensions"] = [dict(r) for r in await connection.fetch(queries.EXTENSIONS, event_id)]
    return view


async def list_events(connection: asyncpg.Connection | asyncpg.Pool, *, states: list[str] | None,
                      responsible_kind: str | None, overdue: bool | None,
                      responsible_code: str | None, before_id: int | None,
                      limit: int, grid_codes: list[str] | None = None,
                      squad_id: int | None = None,
                      integration_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first. ``grid_codes`` / ``squad_id`` / ``integration_id`` restrict the list to
    what a grid head, squad or hotline may see (None: no restriction)."""
    rows = await connection.fetch(queries.LIST_EVENTS, states, responsible_kind, overdue,
                                  responsible_code, before_id, limit, grid_codes, squad_id,
                                  integration_id)
    now = datetime.now(UTC)
    return [present(dict(r), now=now) for r in rows]


async def set_location(connection: asyncpg.Connection, *, context: EventContext, event_id: int,
                       lng: float, lat: float, crs: str, actor: str, note: str | None) -> None:
    """Give an address-only (or misplaced) event its WGS84 point and route it by the rules."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        if event["state"] not in {"received", "returned"}:
            raise EventConflict(f"event {event_id} is {event['state']}: only received or "
                                "returned events can be placed")
        await connection.execute(
            "UPDATE events SET geom = ST_SetSRID(ST_MakePoint($2, $3), 4326), source_crs = $4, "
            "updated_at = now() WHERE id = $1", event_id, lng, lat, crs)
        await record_transition(connection, event_id, actor=actor, action="locate", from_state=event["state"],
                      to_state=event["state"], note=note, data={"lng": lng, "lat": lat})
        await _reroute(connection, context, event_id, actor=actor, note=note, triage_ok=True)
