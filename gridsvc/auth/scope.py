"""Which objects a principal may see: events by grid, squad, department or integration;
outbox messages.

Outside its scope an object does not exist for the caller: the API answers 404 with the same
message as for an id that was never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from gridsvc.auth import queries
from gridsvc.auth.models import Principal
from gridsvc.auth.policy import ADMIN, DEPARTMENT, GRID_HEAD, INTEGRATION, OPERATOR, SQUAD
from gridsvc.errors import APIError


def sees_all(principal: Principal) -> bool:
    return principal.role in {ADMIN, OPERATOR}


class EventLike(Protocol):
    """A row (dict) or an event's read model: whatever answers ``.get(key)``."""

    def get(self, key: str, default: Any = None, /) -> Any: ...


def event_visible(principal: Principal, event: EventLike) -> bool:
    """May ``principal`` see ``event`` (a row or view with ``grids``, ``squad_id``,
    ``integration_id``, ``responsible_kind``, ``responsible_code``, ``reported_by``)?

    Those it is assigned (:func:`event_assigned`), and a grid head's or squad's own 巡查上报
    wherever it was routed: it may read it and add photos, not act on it.
    """
    return event_assigned(principal, event) or reported_it(principal, event)


def reported_it(principal: Principal, event: EventLike) -> bool:
    """Did this grid head or squad account report ``event`` from the field?"""
    return principal.role in {GRID_HEAD, SQUAD} and event.get("reported_by") == principal.user_id


def event_assigned(principal: Principal, event: EventLike) -> bool:
    """Is ``event`` within ``principal``'s own scope (it may act on it)?

    - admin, operator: every event;
    - grid_head: events in one of its community grids, or routed to it as grid head;
    - squad: events dispatched to its squad;
    - department: events its department is responsible for, in its areas (:func:`in_department_area`);
    - integration: its own work orders.
    """
    role = principal.role
    if role in {ADMIN, OPERATOR}:
        return True
    if role == GRID_HEAD:
        community = ((event.get("grids") or {}).get("community") or {}).get("code")
        if community is not None and community in principal.grid_codes:
            return True
        return (
            event.get("responsible_kind") == "grid_head"
            and event.get("responsible_code") in principal.grid_codes
        )
    if role == SQUAD:
        return principal.squad_id is not None and event.get("squad_id") == principal.squad_id
    if role == DEPARTMENT:
        return (
            principal.department_code is not None
            and event.get("responsible_kind") == "department"
            and event.get("responsible_code") == principal.department_code
            and in_department_area(principal, event.get("grids") or {})
        )
    if role == INTEGRATION:
        return (
            principal.integration_id is not None and event.get("integration_id") == principal.integration_id
        )
    return False


def in_department_area(principal: Principal, grids: dict[str, Any]) -> bool:
    """Whether a place (its grids of every layer, as stored on an event) lies in a department
    account's areas: anywhere when the account is not limited; else in one of its stations
    (the grid of layer ``specialist:<department>`` there, which names the station that
    serves it) or one of its townships (the enforcement grid there)."""
    if not principal.station_codes and not principal.township_codes:
        return True
    station = (grids.get(f"specialist:{principal.department_code}") or {}).get("code")
    township = (grids.get("enforcement") or {}).get("code")
    return station in principal.station_codes or township in principal.township_codes


@dataclass(frozen=True)
class EventFilter:
    """The SQL side of :func:`event_visible`: parameters of ``GET /events``'s query.

    ``None`` fields do not filter; ``nothing`` means the principal sees no event at all.
    """

    grid_codes: list[str] | None = None
    squad_id: int | None = None
    integration_id: int | None = None
    department_code: str | None = None
    station_codes: list[str] | None = None
    township_codes: list[str] | None = None
    reported_by: int | None = None  # ... or reported by this account (grid heads, squads)
    nothing: bool = False


def events_filter(principal: Principal) -> EventFilter:
    role = principal.role
    if role in {ADMIN, OPERATOR}:
        return EventFilter()
    if role == GRID_HEAD:
        return EventFilter(grid_codes=list(principal.grid_codes), reported_by=principal.user_id)
    # A squad or integration account without its id must not fall through to "no filter".
    if role == SQUAD and principal.squad_id is not None:
        return EventFilter(squad_id=principal.squad_id, reported_by=principal.user_id)
    if role == INTEGRATION and principal.integration_id is not None:
        return EventFilter(integration_id=principal.integration_id)
    if role == DEPARTMENT and principal.department_code is not None:
        return EventFilter(
            department_code=principal.department_code,
            station_codes=list(principal.station_codes),
            township_codes=list(principal.township_codes),
        )
    return EventFilter(nothing=True)


def not_found(kind: str, object_id: int) -> APIError:
    return APIError(404, "not_found", f"{kind} {object_id} does not exist")


async def check_event(
    connection: asyncpg.Connection | asyncpg.Pool,
    principal: Principal,
    event_id: int,
    *,
    acting: bool = False,
) -> None:
    """404 unless the event exists and ``principal`` may see it (no query for the desk);
    ``acting``: may act on it (a field report sent to someone else is not the reporter's
    to sign for, extend or call back)."""
    if sees_all(principal):
        return
    row = await connection.fetchrow(queries.EVENT_SCOPE, event_id)
    allowed = event_assigned if acting else event_visible
    if row is None or not allowed(principal, dict(row)):
        raise not_found("event", event_id)


def summoned(principal: Principal, departments: list[str], event: EventLike) -> bool:
    """Whether ``principal`` is an account of one of the ``departments`` a whistle summons,
    for a scene (the whistle's event) in its areas: who is told of the summons."""
    return (
        principal.role == DEPARTMENT
        and principal.department_code in departments
        and in_department_area(principal, event.get("grids") or {})
    )


async def visible_whistles(
    connection: asyncpg.Connection | asyncpg.Pool, principal: Principal, whistles: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The whistles (as the whistles service presents them) ``principal`` may see: all for
    the desk; for a department account those that summon its department, with the scene in
    its areas (:func:`in_department_area`); none for anyone else."""
    if sees_all(principal):
        return whistles
    if principal.role != DEPARTMENT or principal.department_code is None:
        return []
    mine = [
        w for w in whistles if any(d["department"] == principal.department_code for d in w["departments"])
    ]
    if not mine or not (principal.station_codes or principal.township_codes):
        return mine
    rows = await connection.fetch(queries.EVENT_GRIDS, [w["event_id"] for w in mine])
    grids = {r["id"]: r["grids"] or {} for r in rows}
    return [w for w in mine if in_department_area(principal, grids.get(w["event_id"], {}))]


def integration_scope(principal: Principal) -> int | None:
    """The integration id outbox queries filter on (None: every message)."""
    if principal.role == INTEGRATION:
        # ids are positive: -1 matches nothing, never "no filter"
        return principal.integration_id if principal.integration_id is not None else -1
    return None


async def check_outbox_message(
    connection: asyncpg.Connection | asyncpg.Pool, principal: Principal, message_id: int
) -> None:
    if principal.role != INTEGRATION:
        return
    owner = await connection.fetchval(queries.OUTBOX_INTEGRATION, message_id)
    if owner is None or owner != principal.integration_id:
        raise APIError(404, "not_found", f"no dead message {message_id}")


async def jurisdiction_codes(
    connection: asyncpg.Connection | asyncpg.Pool, principal: Principal
) -> list[str] | None:
    """The jurisdictions a principal's views default to and are limited to (None: every
    one): the desk and unlimited department accounts see every jurisdiction; a grid head
    those of its grids, a squad its own, a limited department account those of its
    stations and townships (each with its ancestors)."""
    if sees_all(principal):
        return None
    if principal.role == DEPARTMENT and not (principal.station_codes or principal.township_codes):
        return None
    grids = [*principal.grid_codes, *principal.station_codes, *principal.township_codes]
    squad = principal.squad_id if principal.role == SQUAD else None
    rows = await connection.fetch(queries.SCOPE_JURISDICTIONS, grids, squad)
    return [r["code"] for r in rows]
