"""The intake flow: locate → route → link duplicates → dispatch → store, in one statement.

Every way a new event arrives goes through :func:`intake`: the 12345 webhook (and the demo
feed, which posts to it), ``POST /events`` (operators, patrols) and whistles
(:mod:`gridsvc.whistles.flows`). Each entry point only parses its input into a
:class:`NewEvent` (coordinates already WGS84) and answers the read model it gets back.

Dispatch is decided by :func:`gridsvc.events.dispatching.plan_dispatch`, the same function
an operator's 派遣 uses; the squad chooser comes from the dispatch package
(:func:`gridsvc.dispatch.service.squad_chooser`), wired in by :func:`context_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from gridsvc.auth.models import Principal
from gridsvc.clock import SYSTEM
from gridsvc.dispatch.service import squad_chooser
from gridsvc.events import merging, queries
from gridsvc.events.dispatching import auto_dispatches, plan_dispatch
from gridsvc.events.models import CENTRE, DuplicateCandidate, EventRecord, EventView, TransitionRecord, Viewer
from gridsvc.events.read import view_of
from gridsvc.events.service import EventContext, duplicate_candidates, grids_of, text_of
from gridsvc.events.transitions import bring_duplicates_along
from gridsvc.geocode import service as geocode
from gridsvc.matters.service import cached_matter
from gridsvc.routing.service import route


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
    reported_by: int | None = None  # the field account of a 巡查上报


@dataclass(frozen=True)
class Intake:
    """What intake did: the event's read model, and whether it is new (False: the hotline's
    work-order number was known already and nothing changed)."""

    view: EventView
    created: bool


def viewer_of(principal: Principal | None) -> Viewer:
    """The read-model viewer of an authenticated principal (None: the centre itself)."""
    if principal is None:
        return CENTRE
    return Viewer(
        role=principal.role,
        name=principal.name,
        grid_codes=principal.grid_codes,
        squad_id=principal.squad_id,
        integration_id=principal.integration_id,
    )


def context_of(state: Any, *, viewer: Viewer = CENTRE) -> EventContext:
    """The event context of a running app (``app.state``): settings, the current grid
    overlay, the squad chooser over the live ETA holder, the clock, who is served."""
    return EventContext(
        settings=state.settings,
        overlay=state.overlay.current,
        choose_squad=squad_chooser(
            getattr(state, "eta", None), max_open_cases=state.settings.dispatch_max_open_cases
        ),
        clock=getattr(state, "clock", SYSTEM),
        viewer=viewer,
    )


async def _locate_by_address(
    connection: asyncpg.Connection, *, new: NewEvent, min_confidence: float
) -> TransitionRecord | None:
    """Place an address-only event by the offline geocoder when its best match is confident
    (``new`` gets the point); the audit row says what matched and how sure. Otherwise the
    event stays unlocated and the row lists the candidates the operator may pick from."""
    if new.lng is not None or new.lat is not None or not (new.address or "").strip():
        return None
    assert new.address is not None
    best, answer = await geocode.locate(connection, address=new.address, min_confidence=min_confidence)
    if answer.build_id is None:
        return None  # no index built: nothing to say
    candidates = [c.model_dump() for c in answer.candidates[:3]]
    if best is None:
        return TransitionRecord(
            actor="system",
            action="geocode",
            from_state="received",
            to_state="received",
            note="地址未能自动定位："
            + ("；".join(f"{c.text}，{c.confidence:.2f}" for c in answer.candidates[:3]) or "无候选"),
            data={"address": new.address, "candidates": candidates},
        )
    new.lng, new.lat, new.source_crs = best.lng, best.lat, "geocoder"
    return TransitionRecord(
        actor="system",
        action="locate",
        from_state="received",
        to_state="received",
        note=f"按地址定位：{best.text}，{best.confidence:.2f}",
        data={"address": new.address, "lng": best.lng, "lat": best.lat, "candidate": candidates[0]},
    )


async def intake(
    connection: asyncpg.Connection, *, context: EventContext, new: NewEvent, actor: str
) -> Intake:
    """Store, route and (where the matter says so) dispatch a new event.

    Everything is decided first (routing, 并单 link, squad, deadlines), then the event and its
    audit trail are written by one statement (``queries.INSERT_EVENT``), which answers the
    stored row: intake costs a handful of round trips. A 并单 link is made here only for a
    matter configured for it (:func:`gridsvc.events.merging.automatic_link`).
    """
    settings = context.settings
    matter = await cached_matter(connection, code=new.matter_code) if new.matter_code else None
    now = context.clock.now()
    located = await _locate_by_address(connection, new=new, min_confidence=settings.geocode_min_confidence)
    decision = await route(
        connection,
        overlay=context.overlay,
        lng=new.lng,
        lat=new.lat,
        matter=matter,
        at=now,
        no_owner_fallback=settings.routing_no_owner_fallback,
    )
    grids = grids_of(decision)
    trail = [
        TransitionRecord(
            actor=actor, action="receive", from_state=None, to_state="received", data={"source": new.source}
        )
    ]
    if located is not None:
        trail.append(located)
    state, stage = "received", "route"
    due = now + timedelta(minutes=settings.sla_route_minutes)
    duplicate_of = squad_id = dispatched_at = handle_due = None
    if not decision.is_triage:
        state, stage = "routed", "dispatch"
        due = now + timedelta(minutes=settings.sla_dispatch_minutes)
        trail.append(
            TransitionRecord(
                actor="system",
                action="route",
                from_state="received",
                to_state="routed",
                note=decision.reason_zh or decision.reason,
                data={"say": decision.why},
            )
        )
        # Candidates are sought here only for a matter that may merge on its own; the rest
        # are offered to the operator on the event's detail.
        found: list[DuplicateCandidate] = []
        if matter is not None and matter.get("auto_merge"):
            found = await duplicate_candidates(
                connection,
                settings,
                event_id=0,
                matter_code=matter["code"],
                lng=new.lng,
                lat=new.lat,
                text=text_of(new.title, new.description),
                at=now,
            )
        linked = merging.automatic_link(matter, found, threshold=settings.duplicate_auto_similarity)
        if linked is not None:
            duplicate_of = linked.event_id
            trail.append(
                TransitionRecord(
                    actor="system",
                    action="link_duplicate",
                    from_state="routed",
                    to_state="routed",
                    note=f"并单：事项设为自动并单，已关联在办事件 {duplicate_of}",
                    data={
                        "say": {"code": "auto_merged", "params": {"id": duplicate_of}},
                        "duplicate_of": duplicate_of,
                        "confirmed": False,
                        "candidate": {
                            "distance_m": linked.distance_m,
                            "minutes_apart": linked.minutes_apart,
                            "similarity": linked.similarity,
                        },
                    },
                )
            )
    if auto_dispatches(matter, routed=not decision.is_triage):
        planned = {
            "responsible_kind": decision.responsible_kind,
            "responsible_code": decision.responsible_code,
            "grids": grids,
            "lng": new.lng,
            "lat": new.lat,
            "condition_position": new.condition_position,
        }
        plan = await plan_dispatch(connection, context, event=planned, matter=matter, squad_id=None, now=now)
        squad_id, handle_due, dispatched_at = plan.squad_id, plan.handle_due_at, now
        state, stage = "dispatched", "sign_for"
        due = now + timedelta(minutes=settings.sla_sign_for_minutes)
        trail.append(
            TransitionRecord(
                actor="system",
                action="dispatch",
                from_state="routed",
                to_state="dispatched",
                note="自动派遣（该事项设为自动派遣）",
                # the same data as an operator's dispatch (one decision): the page knows a
                # system dispatch by its actor
                data=plan.audit_data(),
            )
        )
    record = EventRecord(
        source=new.source,
        integration_id=new.integration_id,
        external_id=new.external_id,
        title=new.title,
        description=new.description,
        matter_code=matter["code"] if matter else None,
        matter_text=new.matter_text or (new.matter_code if matter is None else None),
        condition_position=new.condition_position,
        address=new.address,
        lng=new.lng,
        lat=new.lat,
        source_crs=new.source_crs,
        source_lng=new.source_lng,
        source_lat=new.source_lat,
        reporter=new.reporter or {},
        reported_at=new.reported_at,
        received_at=now,
        state=state,
        stage=stage,
        due_at=due,
        responsible_kind=decision.responsible_kind,
        responsible_code=decision.responsible_code,
        responsible_name=decision.responsible_name,
        co_handlers=decision.co_handlers,
        grids=grids,
        routing=decision.explanation(matter_code=new.matter_code, at=now),
        squad_id=squad_id,
        duplicate_of=duplicate_of,
        dispatched_at=dispatched_at,
        handle_due_at=handle_due,
        reported_by=new.reported_by,
        trail=trail,
    )
    row = await connection.fetchrow(queries.INSERT_EVENT, record.model_dump(mode="json"))
    if row is None:  # a work-order number seen before: the event as it is
        existing = await connection.fetchval(queries.EVENT_BY_WORK_ORDER, new.integration_id, new.external_id)
        row = await connection.fetchrow(queries.EVENT_BY_ID, existing)
        return Intake(view=view_of(row, now=now, viewer=context.viewer), created=False)
    if duplicate_of is not None:
        # Linked on its own: it catches up with its original at once, each step with its own
        # callback (its own 签收; 办结 with the original's reply).
        async with connection.transaction():
            await bring_duplicates_along(connection, context, duplicate_of, actor="system", only=row["id"])
        row = await connection.fetchrow(queries.EVENT_BY_ID, row["id"])
    return Intake(view=view_of(row, now=now, viewer=context.viewer), created=True)
