"""What the live pages are sent: compact event and squad summaries, counters, coverage.

An event summary, cut from the event's read model (:class:`gridsvc.events.models.EventView`),
carries everything a map marker or an inbox card needs (state, SLA clock, point, title, who is
responsible), so a pushed update needs no extra fetch. The read model itself (with ``grids``,
``routing``...) is kept beside it for the scope check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import h3

from gridsvc.events import supervision
from gridsvc.events.lifecycle import OPEN_STATES
from gridsvc.events.models import CENTRE, EventView, Viewer
from gridsvc.events.queries import EVENT_COLUMNS
from gridsvc.events.read import view_of
from gridsvc.squads import service as squads

EVENTS_BY_IDS = f"""
SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN matters m ON m.code = e.matter_code
WHERE e.id = ANY($1::bigint[])
"""  # noqa: S608 - a constant column list, no values

OPEN_EVENTS = f"""
SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN matters m ON m.code = e.matter_code
WHERE e.state = ANY($1::text[])
ORDER BY e.id DESC
LIMIT $2
"""  # noqa: S608

SQUADS = """
SELECT s.id, s.code, s.name, s.name_zh, s.status, s.status_reason, ST_X(s.station) AS station_lng,
       ST_Y(s.station) AS station_lat, s.grid_codes, s.phone,
       (SELECT count(*) FROM events e WHERE e.squad_id = s.id
          AND e.state IN ('dispatched', 'signed_for', 'on_scene'))::int AS open_cases
FROM squads s WHERE ($1::bigint IS NULL OR s.id = $1) ORDER BY s.code
"""

COVERAGE_CELLS = """
SELECT c.cell, c.time_s, s.code AS squad_code
FROM coverage_runs r
JOIN jurisdictions j ON j.id = r.jurisdiction_id
JOIN coverage_cells c ON c.run_id = r.id
LEFT JOIN squads s ON s.id = c.squad_id
WHERE r.is_current AND j.code = $1
"""

ASSIGNMENT_STATES = ("dispatched", "signed_for", "on_scene")

# The SSE stream builds one message per change for every subscriber, so its read model shows
# the caller as any role outside the centre sees it (masked, nothing when confidential; an
# unknown role is outside: gridsvc.events.privacy). The desk opens the event for the caller.
STREAM = Viewer(role="stream", name="live stream")


def event_summary(view: EventView) -> dict[str, Any]:
    """The marker / card fields of an event's read model."""
    sla = view.sla
    return {
        "id": view.id,
        "state": view.state,
        "state_zh": view.state_zh,
        "title": view.title,
        "source": view.source,
        "external_id": view.external_id,
        "address": view.address,
        "matter_code": view.matter_code,
        "matter_name": view.matter_name or view.matter_text,
        "lat": view.lat,
        "lng": view.lng,
        "responsible": {
            "kind": view.responsible_kind,
            "code": view.responsible_code,
            "name": view.responsible_name,
        },
        "squad_id": view.squad_id,
        "community": view.community_code(),
        "enforcement": view.enforcement_code(),
        "sla": {
            "status": sla.status,
            "stage": sla.stage,
            "due_at": sla.due_at,
            "stage_started_at": view.stage_started_at,
            "handle_due_at": sla.handle_due_at,
        },
        "allowed_actions": view.allowed_actions,
        "received_at": view.received_at,
        "updated_at": view.updated_at,
        "description": view.description,
        "reporter": view.reporter,
        "reported_by": view.reported_by,
    }


async def event_views(
    connection: asyncpg.Connection | asyncpg.Pool, ids: list[int], *, viewer: Viewer = CENTRE
) -> list[EventView]:
    """Read models (SLA computed now) of these events, in id order; unknown ids are left out."""
    now = datetime.now(UTC)
    rows = await connection.fetch(EVENTS_BY_IDS, ids)
    return sorted((view_of(r, now=now, viewer=viewer) for r in rows), key=lambda v: v.id)


async def open_event_views(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    states: tuple[str, ...] | None = None,
    limit: int = 3000,
    viewer: Viewer = CENTRE,
) -> list[EventView]:
    now = datetime.now(UTC)
    wanted = list(states or sorted(OPEN_STATES))
    rows = await connection.fetch(OPEN_EVENTS, wanted, limit)
    return [view_of(r, now=now, viewer=viewer) for r in rows]


async def squad_summaries(
    connection: asyncpg.Connection | asyncpg.Pool, *, stale_after_s: float, squad_id: int | None = None
) -> list[dict[str, Any]]:
    """Squads with status and where they are: the live position while it is trusted, else
    the home station (``position.kind`` says which)."""
    rows = await connection.fetch(SQUADS, squad_id)
    positions = await squads.latest_positions(connection, squad_id=squad_id)
    now = datetime.now(UTC)
    out = []
    for row in rows:
        live = squads.position_view(positions.get(row["id"]), stale_after_s=stale_after_s, now=now)
        if live is not None and live["trusted"]:
            position = {
                "kind": "live",
                "lat": live["lat"],
                "lng": live["lng"],
                "observed_at": live["observed_at"],
                "age_s": live["age_s"],
            }
        else:
            position = {
                "kind": "station",
                "lat": row["station_lat"],
                "lng": row["station_lng"],
                "observed_at": live["observed_at"] if live else None,
                "age_s": live["age_s"] if live else None,
            }
        out.append(
            {
                "id": row["id"],
                "code": row["code"],
                "name": row["name_zh"] or row["name"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "open_cases": row["open_cases"],
                "grid_codes": list(row["grid_codes"] or []),
                "phone": row["phone"],
                "position": position,
            }
        )
    return out


async def coverage_geojson(
    connection: asyncpg.Connection | asyncpg.Pool, *, jurisdiction: str, resolution: int = 8
) -> dict[str, Any]:
    """Arrival-time coverage as hexagons, coarsened to ``resolution`` (fastest cell wins), so
    the page draws a few hundred polygons instead of tens of thousands."""
    best: dict[int, tuple[float, str | None]] = {}
    for row in await connection.fetch(COVERAGE_CELLS, jurisdiction):
        cell = int(row["cell"])
        parent = (
            h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), resolution))
            if h3.get_resolution(h3.int_to_str(cell)) > resolution
            else cell
        )
        known = best.get(parent)
        if known is None or row["time_s"] < known[0]:
            best[parent] = (float(row["time_s"]), row["squad_code"])
    features = []
    for cell, (seconds, squad) in best.items():
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"minutes": round(seconds / 60.0, 1), "squad": squad},
            }
        )
    return {"type": "FeatureCollection", "features": features}


async def counters(connection: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """The operator's counter strip: open, overdue, triage, closed today, whistles awaiting
    报到 (departments summoned that have not acknowledged yet)."""
    from gridsvc.whistles.service import awaiting_ack_count

    values = await supervision.counters(connection)
    if isinstance(connection, asyncpg.Pool):
        async with connection.acquire() as one:
            values["whistles_awaiting_ack"] = await awaiting_ack_count(one)
    else:
        values["whistles_awaiting_ack"] = await awaiting_ack_count(connection)
    return values


CHANGED_EVENTS = "SELECT id FROM events WHERE updated_at >= $1 ORDER BY id LIMIT $2"


async def changed_event_ids(
    connection: asyncpg.Connection | asyncpg.Pool, *, since: datetime, limit: int
) -> list[int]:
    """Ids of the events changed since ``since`` (database clock), at most ``limit``."""
    return [int(r["id"]) for r in await connection.fetch(CHANGED_EVENTS, since, limit)]
