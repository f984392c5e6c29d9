"""Who an event may be sent to: the targets of 派遣, 改派 and 分拨, checked against the units
that exist in the event's jurisdiction.

A target names a squad (its code, e.g. ``SQ-LI-VADUZ``, or the enforcement grid it serves,
``LI-VADUZ``), a county department (``ecology``) or a grid head (the community grid's code).
Anything else is refused with 422 naming the field and listing the valid codes closest to what
was sent. The unit's own name is taken from the register, never from the request, so the
responsible unit an event names is always one that exists.

Squads are stored as routing stores them: kind ``squad``, the code of the enforcement grid the
squad serves (the event's own when it serves it), the squad's name, and the squad itself as the
one dispatched.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from gridsvc.errors import Invalid

CLOSEST_SHOWN = 5

_JURISDICTION_OF_GRID = """
SELECT l.jurisdiction_id FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id JOIN layers l ON l.id = v.layer_id
WHERE g.id = $1
"""

# The jurisdiction, its parent (the county of a township) and its children (the townships of
# a county): squads and grids are registered at either level.
_NEAR_JURISDICTIONS = """
SELECT id FROM jurisdictions
WHERE id = $1 OR parent_id = $1 OR id = (SELECT parent_id FROM jurisdictions WHERE id = $1)
"""

_SQUADS = """
SELECT id, code, coalesce(name_zh, name) AS name, grid_codes FROM squads
WHERE $1::bigint[] IS NULL OR jurisdiction_id IS NULL OR jurisdiction_id = ANY($1)
ORDER BY code
"""

_GRIDS = """
SELECT code, coalesce(name_zh, name) AS name, head_name, squad_name FROM current_grids
WHERE layer = $1 AND ($2::bigint[] IS NULL OR jurisdiction_id = ANY($2))
ORDER BY code
"""

_DEPARTMENTS = "SELECT code, name_zh AS name FROM departments ORDER BY code"

_SQUAD_BY_ID = "SELECT id, code, coalesce(name_zh, name) AS name, grid_codes FROM squads WHERE id = $1"


@dataclass(frozen=True)
class Unit:
    """A responsible unit as an event stores it, and the squad it sends (squads only)."""

    kind: str
    code: str
    name: str
    squad_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "name": self.name}


class UnknownTarget(Invalid):
    """A target that is not a unit of the event's jurisdiction (422, with the closest codes)."""

    error_code = "unknown_target"

    def __init__(self, *, field: str, kind: str, code: str, valid: list[str]) -> None:
        closest = closest_codes(code, valid)
        where = "in the event's jurisdiction" if kind != "department" else "among the county departments"
        reason = f"no {kind} {code!r} {where}" + (f"; closest: {', '.join(closest)}" if closest else "")
        super().__init__(
            f"{field}: {reason}",
            fields=[{"field": field, "reason": reason, "closest": closest}],
            extra={"closest": closest},
        )


def closest_codes(code: str, valid: list[str]) -> list[str]:
    """The valid codes most like ``code`` (case-insensitive), best first."""
    by_lower = {v.lower(): v for v in valid}
    ranked = difflib.get_close_matches(code.lower(), list(by_lower), n=CLOSEST_SHOWN, cutoff=0.0)
    return [by_lower[r] for r in ranked]


async def _jurisdictions(connection: asyncpg.Connection, event: Mapping[str, Any]) -> list[int] | None:
    """The jurisdictions whose units may take the event (None: it lies in none; any unit)."""
    enforcement = (event.get("grids") or {}).get("enforcement")
    if not enforcement:
        return None
    home = await connection.fetchval(_JURISDICTION_OF_GRID, enforcement["id"])
    if home is None:
        return None
    return [r["id"] for r in await connection.fetch(_NEAR_JURISDICTIONS, home)]


def _home_grid(squad: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    grids = list(squad["grid_codes"] or [])
    own = ((event.get("grids") or {}).get("enforcement") or {}).get("code")
    if own in grids:
        return str(own)
    return grids[0] if grids else str(squad["code"])


def squad_unit(squad: Mapping[str, Any], event: Mapping[str, Any]) -> Unit:
    return Unit("squad", _home_grid(squad, event), str(squad["name"]), int(squad["id"]))


async def resolve_target(
    connection: asyncpg.Connection,
    *,
    event: Mapping[str, Any],
    target: Mapping[str, Any],
    field: str = "body.target.code",
) -> Unit:
    """The unit ``target`` (``kind``, ``code``) names, or :class:`UnknownTarget`."""
    kind, code = str(target["kind"]), str(target["code"]).strip()
    scope = await _jurisdictions(connection, event)
    if kind == "department":
        departments = await connection.fetch(_DEPARTMENTS)
        found = next((d for d in departments if d["code"] == code), None)
        if found is None:
            raise UnknownTarget(field=field, kind=kind, code=code, valid=[d["code"] for d in departments])
        return Unit("department", code, found["name"])
    if kind == "grid_head":
        communities = await connection.fetch(_GRIDS, "community", scope)
        grid = next((g for g in communities if g["code"] == code), None)
        if grid is None:
            raise UnknownTarget(
                field=field, kind="grid head", code=code, valid=[g["code"] for g in communities]
            )
        return Unit("grid_head", code, grid["head_name"] or f"{grid['name']}网格长")
    if kind != "squad":
        raise UnknownTarget(
            field="body.target.kind", kind="unit kind", code=kind, valid=["squad", "department", "grid_head"]
        )
    squads = await connection.fetch(_SQUADS, scope)
    squad = next((s for s in squads if s["code"] == code), None)
    if squad is not None:
        return squad_unit(squad, event)
    grids = await connection.fetch(_GRIDS, "enforcement", scope)
    grid = next((g for g in grids if g["code"] == code), None)
    if grid is None:
        valid = [s["code"] for s in squads] + [g["code"] for g in grids]
        raise UnknownTarget(field=field, kind=kind, code=code, valid=valid)
    serving = next((s for s in squads if code in (s["grid_codes"] or [])), None)
    if serving is not None:
        # The grid's squad, but the recommendation still chooses who goes (squad_id None).
        return Unit("squad", code, str(serving["name"]))
    return Unit("squad", code, grid["squad_name"] or grid["name"])


async def resolve_squad(
    connection: asyncpg.Connection,
    *,
    event: Mapping[str, Any],
    squad_id: int,
    field: str = "body.squad_id",
) -> Unit:
    """The squad ``squad_id`` as a unit of the event's jurisdiction, or :class:`UnknownTarget`."""
    squads = await connection.fetch(_SQUADS, await _jurisdictions(connection, event))
    squad = next((s for s in squads if s["id"] == squad_id), None)
    if squad is None:
        exists = await connection.fetchrow(_SQUAD_BY_ID, squad_id)
        valid = [f"{s['id']} ({s['code']})" for s in squads]
        label = f"{squad_id}" + (f" ({exists['code']}, another jurisdiction)" if exists else "")
        raise UnknownTarget(field=field, kind="squad", code=label, valid=valid)
    return squad_unit(squad, event)
