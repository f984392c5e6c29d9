"""Dispatch recommendations: who to send, ranked by responsibility, availability, load and ETA.

A squad can take a case when it is 在岗 (``available``) and carries fewer than
``max_open_cases`` open cases (in its hands: dispatched, signed for, on scene). The
responsible unit comes first (属地: the squads serving the event's enforcement grid); when it
cannot take the case (忙碌 / 休息 / 离线, or full) the recommendation moves on to the nearest
squad that can, as cross-township reinforcement, and says why. Squads that cannot take it
follow, for an operator who decides otherwise. Without a road graph the ranking still works,
by responsibility, availability and load only, and says so.

The why is structured (``why.code`` + ``why.params``, for the pages' dictionaries) and also
written out in Chinese (``reason_zh``, for the audit trail and API users) and English.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gridsvc.eta.live import EtaHolder, EtaUnavailable
from gridsvc.eta.service import SceneOffNetwork, squads_eta
from gridsvc.squads.models import STATUS_ZH
from gridsvc.squads.workload import open_caseloads

_STATUS_ORDER = {"available": 0, "busy": 1, "off_duty": 2, "offline": 3}
_SQUADS = "SELECT id, code, name, name_zh, status, status_reason, grid_codes FROM squads ORDER BY code"


async def candidates(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    holder: EtaHolder | None,
    event: Mapping[str, Any],
    max_open_cases: int,
) -> dict[str, Any]:
    """Ranked candidate squads for an event (``lng``/``lat`` WGS84, ``responsible_code``),
    with the recommendation (``recommended``, None when no squad can take it) and why."""
    squads = [dict(r) for r in await connection.fetch(_SQUADS)]
    loads = await open_caseloads(connection)
    grid = event.get("responsible_code") if event.get("responsible_kind") == "squad" else None
    enforcement = ((event.get("grids") or {}).get("enforcement") or {}).get("code")
    home_grid = grid or enforcement
    eta_by_squad: dict[int, dict[str, Any]] = {}
    note = None
    # the note for the pages' dictionaries (eta_note.<code> with params): the panel is Chinese
    note_why: dict[str, Any] | None = None
    if event.get("lng") is not None and holder is not None:
        try:
            result = await squads_eta(
                holder=holder, lng=event["lng"], lat=event["lat"], now=datetime.now(UTC)
            )
            eta_by_squad = {a["squad"]["id"]: a for a in result["squads"]}
            note = result.get("note")
            road = result.get("scene_road") or {}
            if note and road.get("far_from_road"):
                note_why = {
                    "code": "far_from_road",
                    "params": {"m": round(road["offroad_m"]), "kmh": result["offroad_speed_kmh"]},
                }
        except (EtaUnavailable, SceneOffNetwork) as error:
            note = f"no ETA: {error}"
            note_why = {"code": "no_eta", "params": {}}
    elif event.get("lng") is None:
        note = "no ETA: the event has no coordinates"
        note_why = {"code": "no_eta_unlocated", "params": {}}
    ranked = []
    for squad in squads:
        eta = eta_by_squad.get(squad["id"])
        open_cases = loads.get(squad["id"], 0)
        blocked = _blocked(squad["status"], open_cases, max_open_cases)
        ranked.append(
            {
                "id": squad["id"],
                "code": squad["code"],
                "name": squad["name_zh"] or squad["name"],
                "status": squad["status"],
                "status_reason": squad["status_reason"],
                "open_cases": open_cases,
                "can_take": blocked is None,
                "blocked": blocked,
                "serves_grid": home_grid in (squad["grid_codes"] or []),
                "eta_s": eta["eta_s"] if eta else None,
                "distance_m": eta["distance_m"] if eta else None,
                "origin": eta["origin"]["kind"] if eta else None,
            }
        )
    ranked.sort(
        key=lambda c: (
            not c["can_take"],
            not c["serves_grid"],
            _STATUS_ORDER.get(c["status"], 9),
            c["open_cases"] if not c["can_take"] else 0,
            c["eta_s"] if c["eta_s"] is not None else float("inf"),
            c["code"],
        )
    )
    recommended = next((c for c in ranked if c["can_take"]), None)
    why = explain(ranked, recommended, max_open_cases=max_open_cases)
    if recommended is not None:
        recommended = {**recommended, "why": why, "reason_zh": why["text_zh"], "reason": why["text"]}
    return {
        "grid": home_grid,
        "note": note,
        "note_why": note_why,
        "max_open_cases": max_open_cases,
        "candidates": ranked,
        "recommended": recommended,
        "why": why,
    }


def _blocked(status: str, open_cases: int, max_open_cases: int) -> str | None:
    """Why a squad cannot take a case now (None: it can): its status, or ``full``."""
    if status != "available":
        return status
    if open_cases >= max_open_cases:
        return "full"
    return None


def _state_zh(c: Mapping[str, Any], max_open_cases: int) -> str:
    if c["blocked"] == "full":
        return f"在办{c['open_cases']}件，已达上限{max_open_cases}件"
    reason = f"：{c['status_reason']}" if c.get("status_reason") else ""
    return f"{STATUS_ZH.get(c['status'], c['status'])}{reason}"


def _state_en(c: Mapping[str, Any], max_open_cases: int) -> str:
    if c["blocked"] == "full":
        return f"{c['open_cases']} open cases, at the limit of {max_open_cases}"
    reason = f": {c['status_reason']}" if c.get("status_reason") else ""
    return f"{c['status']}{reason}"


def explain(
    ranked: list[dict[str, Any]], recommended: Mapping[str, Any] | None, *, max_open_cases: int
) -> dict[str, Any]:
    """Why the recommendation is what it is: ``code`` and ``params`` (for the pages'
    dictionaries, key ``why.<code>``), and the same in Chinese (``text_zh``) and English.

    Codes: ``local`` (the responsible squad takes it), ``local_blocked`` (it cannot: its
    status or load; the next one that can is recommended), ``no_local`` (no squad serves the
    grid), ``none`` (no squad can take it: the desk decides).
    """
    local = [c for c in ranked if c["serves_grid"]]
    blocked_local = [c for c in local if not c["can_take"]]
    params: dict[str, Any] = {"max": max_open_cases}
    if recommended is not None:
        eta = recommended["eta_s"]
        params.update(
            name=recommended["name"],
            open=recommended["open_cases"],
            eta_min=round(eta / 60) if eta is not None else None,
        )
        eta_zh = f"，约{params['eta_min']}分钟到达" if eta is not None else ""
        eta_en = f", about {params['eta_min']} min away" if eta is not None else ""
    if blocked_local:
        params["local"] = "、".join(c["name"] for c in blocked_local)
        params["local_state"] = "；".join(_state_zh(c, max_open_cases) for c in blocked_local)
        params["blocked"] = [
            {
                "name": c["name"],
                "blocked": c["blocked"],
                "reason": c.get("status_reason"),
                "open": c["open_cases"],
            }
            for c in blocked_local
        ]
        local_en = "; ".join(f"{c['name']} {_state_en(c, max_open_cases)}" for c in blocked_local)
    if recommended is None:
        code = "none"
        text_zh = "没有在岗且未满负荷的中队，请值班员指定"
        text = "no squad is available below the load limit: the desk decides"
        if blocked_local:
            text_zh = f"属地中队{params['local']}（{params['local_state']}）；" + text_zh
            text = f"local squad {local_en}; " + text
    elif recommended["serves_grid"]:
        code = "local"
        text_zh = f"属地中队{params['name']}在岗，在办{params['open']}件（上限{max_open_cases}件）{eta_zh}"
        text = (
            f"the local squad {params['name']} is available with {params['open']} open cases "
            f"(limit {max_open_cases}){eta_en}"
        )
    elif blocked_local:
        code = "local_blocked"
        text_zh = (
            f"属地中队{params['local']}（{params['local_state']}），"
            f"改荐{params['name']}（在岗，在办{params['open']}件{eta_zh}）"
        )
        text = (
            f"local squad {local_en}: {params['name']} is recommended instead "
            f"(available, {params['open']} open cases{eta_en})"
        )
    else:
        code = "no_local"
        text_zh = f"无属地中队服务该网格，推荐{params['name']}（在岗，在办{params['open']}件{eta_zh}）"
        text = (
            f"no squad serves this grid: {params['name']} is recommended "
            f"(available, {params['open']} open cases{eta_en})"
        )
    return {"code": code, "params": params, "text_zh": text_zh, "text": text}


def best(ranked: dict[str, Any]) -> dict[str, Any] | None:
    """The squad to send (with ``why``): the first that can take the case, its own
    township's before others; None when none can."""
    recommended: dict[str, Any] | None = ranked["recommended"]
    return recommended


SquadChooser = Callable[[Any, Mapping[str, Any]], Awaitable[dict[str, Any] | None]]


def squad_chooser(holder: EtaHolder | None, *, max_open_cases: int) -> SquadChooser:
    """The squad an event should get: :func:`best` of :func:`candidates`, with ETAs from
    ``holder`` (None: ranked by responsibility, status and load only). Events get it through
    their context, so the dispatch decision itself stays in one place (events/dispatching.py)."""

    async def choose(connection: Any, event: Mapping[str, Any]) -> dict[str, Any] | None:
        return best(await candidates(connection, holder=holder, event=event, max_open_cases=max_open_cases))

    return choose
