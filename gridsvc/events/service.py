"""Events: what the other event modules share, and the reads.

Writes live beside the flow they belong to: intake in :mod:`gridsvc.events.flows`, the
lifecycle (route, dispatch, sign for ... close, 并单) in :mod:`gridsvc.events.transitions`,
the dispatch decision in :mod:`gridsvc.events.dispatching`, 延期 and 督办 in
:mod:`gridsvc.events.supervision`. Every change to an event happens in one transaction with
its audit-trail row and, for hotline work orders, the feedback message in the outbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gridsvc.clock import SYSTEM, Clock
from gridsvc.errors import Conflict, NotFound
from gridsvc.events import queries, search, sla
from gridsvc.events.models import CENTRE, DuplicateCandidate, EventView, Viewer
from gridsvc.events.read import present, view_of
from gridsvc.grids.lookup import Overlay
from gridsvc.routing.service import RoutingDecision
from gridsvc.settings import Settings

# Viewers who see 并单 candidates (other events, outside any one unit's scope).
DESK_ROLES = frozenset({"admin", "operator"})

# (connection, event or planned event) -> the recommended squad, or None
SquadChooser = Callable[[asyncpg.Connection, Mapping[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass
class EventContext:
    """What the event functions need besides a connection (built per request by
    :func:`gridsvc.events.flows.context_of`)."""

    settings: Settings
    overlay: Overlay
    choose_squad: SquadChooser | None = None
    clock: Clock = SYSTEM
    viewer: Viewer = field(default=CENTRE)


class EventNotFound(NotFound, LookupError):
    """No such event (404)."""


class EventConflict(Conflict, ValueError):
    """A request that contradicts the event's data (not its state): answered with 409."""


def handling_limit_of(
    matter: Mapping[str, Any] | None, position: int | None, settings: Settings
) -> tuple[float, str]:
    """The matter's handling time limit for its filing condition ``position`` (1 = first)."""
    conditions = (matter or {}).get("conditions") or []
    condition = next((c for c in conditions if c["position"] == (position or 1)), None)
    return sla.handling_limit(condition, settings)


def grids_of(decision: RoutingDecision) -> dict[str, Any]:
    """The grids a routing decision found, as stored on the event (layer -> id, code, name)."""
    return {
        layer: {"id": g["id"], "code": g["code"], "name": g["name"]} for layer, g in decision.grids.items()
    }


async def store_routing(
    connection: asyncpg.Connection,
    event_id: int,
    decision: RoutingDecision,
    *,
    matter_code: str | None,
    at: datetime,
) -> None:
    await connection.execute(
        queries.UPDATE_ROUTING,
        event_id,
        decision.responsible_kind,
        decision.responsible_code,
        decision.responsible_name,
        decision.co_handlers,
        grids_of(decision),
        decision.explanation(matter_code=matter_code, at=at),
    )


async def record_transition(
    connection: asyncpg.Connection,
    event_id: int,
    *,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> asyncpg.Record:
    return await connection.fetchrow(
        queries.INSERT_TRANSITION, event_id, actor, action, from_state, to_state, note, data or {}
    )


async def lock_event(connection: asyncpg.Connection, event_id: int) -> dict[str, Any]:
    row = await connection.fetchrow(queries.LOCK_EVENT, event_id)
    if row is None:
        raise EventNotFound(f"event {event_id} does not exist")
    return dict(row)


def jurisdiction_of(event: Mapping[str, Any], context: EventContext) -> str | None:
    """The jurisdiction (for its calendar) of the enforcement grid the event lies in."""
    enforcement = (event.get("grids") or {}).get("enforcement")
    if not enforcement:
        return None
    index = context.overlay.layers.get("enforcement")
    if index is not None:
        for grid in index.grids:
            if grid.id == enforcement["id"]:
                return grid.jurisdiction_code
    return None


# -- reads: the read model (gridsvc.events.read) of stored events --------------------------


def text_of(title: str | None, description: str | None) -> str:
    """The text compared for 并单 similarity (as ``queries.DUPLICATE_CANDIDATES`` builds it)."""
    return f"{title or ''} {description or ''}"


async def duplicate_candidates(
    connection: asyncpg.Connection | asyncpg.Pool,
    settings: Settings,
    *,
    event_id: int,
    matter_code: str | None,
    lng: float | None,
    lat: float | None,
    text: str,
    at: datetime,
) -> list[DuplicateCandidate]:
    """The 并单 candidates of an event (``event_id`` 0: one not stored yet), best first
    (:mod:`gridsvc.events.merging` says which they are)."""
    if matter_code is None or lng is None or lat is None:
        return []
    rows = await connection.fetch(
        queries.DUPLICATE_CANDIDATES,
        event_id,
        matter_code,
        lng,
        lat,
        text,
        at,
        settings.duplicate_window_h * 3600,
        settings.duplicate_radius_m,
        settings.duplicate_radius_m / 110_000.0,
        settings.duplicate_candidates_max,
    )
    return [DuplicateCandidate(**dict(r)) for r in rows]


async def candidates_of(
    connection: asyncpg.Connection | asyncpg.Pool, settings: Settings, event: Mapping[str, Any]
) -> list[DuplicateCandidate]:
    """The 并单 candidates of a stored event; none when it is closed or already linked."""
    if event["state"] == "closed" or event["duplicate_of"] is not None:
        return []
    return await duplicate_candidates(
        connection,
        settings,
        event_id=event["id"],
        matter_code=event["matter_code"],
        lng=event["lng"],
        lat=event["lat"],
        text=text_of(event["title"], event["description"]),
        at=event["received_at"],
    )


async def event_view(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    event_id: int,
    viewer: Viewer = CENTRE,
    now: datetime | None = None,
) -> EventView:
    row = await connection.fetchrow(queries.EVENT_BY_ID, event_id)
    if row is None:
        raise EventNotFound(f"event {event_id} does not exist")
    return view_of(row, now=now or datetime.now(UTC), viewer=viewer)


async def get_event(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    event_id: int,
    with_history: bool = True,
    viewer: Viewer = CENTRE,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The API answer of one event: its read model, with the audit trail, linked
    duplicates and 延期 requests unless ``with_history`` is False. With ``settings``, and for
    a viewer of the dispatch centre, the 并单 candidates too (``duplicate_candidates``)."""
    view = await event_view(connection, event_id=event_id, viewer=viewer)
    if settings is not None and viewer.role in DESK_ROLES:
        keys = (
            "id",
            "state",
            "duplicate_of",
            "matter_code",
            "lng",
            "lat",
            "title",
            "description",
            "received_at",
        )
        found = await candidates_of(connection, settings, {k: view[k] for k in keys})
        view = dataclasses.replace(view, duplicate_candidates=found)
    answer = present(view)
    if with_history:
        answer["history"] = [dict(r) for r in await connection.fetch(queries.TRANSITIONS, event_id)]
        answer["duplicates"] = [dict(r) for r in await connection.fetch(queries.DUPLICATES_OF, event_id)]
        answer["extensions"] = [dict(r) for r in await connection.fetch(queries.EXTENSIONS, event_id)]
    return answer


async def search_events(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    query: search.EventSearch,
    scope: search.Scope,
    viewer: Viewer = CENTRE,
    now: datetime,
) -> list[dict[str, Any]]:
    """One page of the work queue: the events ``query`` selects within ``scope``, as
    ``viewer`` sees them (the SLA clock read at ``now``)."""
    text, params = search.list_query(
        query, scope=scope, viewer=viewer, now=now, columns=queries.EVENT_COLUMNS
    )
    rows = await connection.fetch(text, *params)
    return [present(view_of(r, now=now, viewer=viewer)) for r in rows]


async def count_events(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    query: search.EventSearch,
    scope: search.Scope,
    viewer: Viewer = CENTRE,
    now: datetime,
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """How many events ``query`` lists, and the counts per value of each filter."""
    text, params = search.counts_query(query, scope=scope, viewer=viewer, now=now)
    return search.counts_of(list(await connection.fetch(text, *params)))


async def home_timezone(connection: asyncpg.Connection | asyncpg.Pool) -> str:
    """The time zone of the jurisdiction most layers belong to (exports' wall-clock times)."""
    zone: str | None = await connection.fetchval(queries.HOME_TIMEZONE)
    return zone or sla.DEFAULT_TIMEZONE
