"""Dispatch recommendations: the responsible unit's squads ranked by availability and ETA.

The squads serving the event's enforcement grid come first (属地: the township's own squad),
available before busy before off duty, each group by road ETA from its trusted position; the
other squads follow as cross-township reinforcements. Without a road graph the ranking still
works, by responsibility and status only, and says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gridsvc.eta.live import EtaHolder, EtaUnavailable
from gridsvc.eta.service import SceneOffNetwork, squads_eta

_STATUS_ORDER = {"available": 0, "busy": 1, "off_duty": 2}
_SQUADS = "SELECT id, code, name, name_zh, status, grid_codes FROM squads ORDER BY code"


async def candidates(
    connection: asyncpg.Connection | asyncpg.Pool, *, holder: EtaHolder | None, event: Mapping[str, Any]
) -> dict[str, Any]:
    """Ranked candidate squads for an event (``lng``/``lat`` WGS84, ``responsible_code``)."""
    squads = [dict(r) for r in await connection.fetch(_SQUADS)]
    grid = event.get("responsible_code") if event.get("responsible_kind") == "squad" else None
    enforcement = ((event.get("grids") or {}).get("enforcement") or {}).get("code")
    home_grid = grid or enforcement
    eta_by_squad: dict[int, dict[str, Any]] = {}
    note = None
    if event.get("lng") is not None and holder is not None:
        try:
            result = await squads_eta(
                holder=holder, lng=event["lng"], lat=event["lat"], now=datetime.now(UTC)
            )
            eta_by_squad = {a["squad"]["id"]: a for a in result["squads"]}
            note = result.get("note")
        except (EtaUnavailable, SceneOffNetwork) as error:
            note = f"no ETA: {error}"
    elif event.get("lng") is None:
        note = "no ETA: the event has no coordinates"
    ranked = []
    for squad in squads:
        eta = eta_by_squad.get(squad["id"])
        ranked.append(
            {
                "id": squad["id"],
                "code": squad["code"],
                "name": squad["name_zh"] or squad["name"],
                "status": squad["status"],
                "serves_grid": home_grid in (squad["grid_codes"] or []),
                "eta_s": eta["eta_s"] if eta else None,
                "distance_m": eta["distance_m"] if eta else None,
                "origin": eta["origin"]["kind"] if eta else None,
            }
        )
    ranked.sort(
        key=lambda c: (
            not c["serves_grid"],
            _STATUS_ORDER.get(c["status"], 3),
            c["eta_s"] if c["eta_s"] is not None else float("inf"),
            c["code"],
        )
    )
    return {"grid": home_grid, "note": note, "candidates": ranked}


def best(ranked: dict[str, Any]) -> dict[str, Any] | None:
    """The squad to send: the first available one (its own township's before others)."""
    return next((c for c in ranked["candidates"] if c["status"] == "available"), None)


SquadChooser = Callable[[Any, Mapping[str, Any]], Awaitable[dict[str, Any] | None]]


def squad_chooser(holder: EtaHolder | None) -> SquadChooser:
    """The squad an event should get: :func:`best` of :func:`candidates`, with ETAs from
    ``holder`` (None: ranked by responsibility and status only). Events get it through their
    context, so the dispatch decision itself stays in one place (events/dispatching.py)."""

    async def choose(connection: Any, event: Mapping[str, Any]) -> dict[str, Any] | None:
        return best(await candidates(connection, holder=holder, event=event))

    return choose
