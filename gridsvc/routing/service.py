"""Who is responsible for a matter at a place, and why (属地管理 + 清单之外无执法).

Rules, in order:

1. no coordinates (address only) → the county dispatch centre's triage queue;
2. no enforcement grid at the point (outside the jurisdiction's grids) → triage;
3. matter unknown or not given → triage;
4. grid-level matters (first reports, follow-ups) → the community grid's head;
5. matter on the township's delegation list in force at the time → the township squad of the
   enforcement grid (主办), with the owning department's station as co-handler (协办) when the
   department has a specialist grid there;
6. otherwise ("no enforcement outside the list") → the county department that owns the
   matter, at its specialist-grid station when there is one (the decision names the station's
   grid, and the department accounts limited to that station receive the case);
7. a non-delegated matter with no owning department → 属地兜底: the township squad of the
   enforcement grid (``no_owner_fallback="township_squad"``, the default) or triage
   (``"triage"``; GRIDSVC_ROUTING_NO_OWNER_FALLBACK).

Every decision carries its explanation: the grids of every layer at the point (ids of the
versions in force), the delegation list version consulted, and the rule that decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from gridsvc.delegations.service import delegation_at
from gridsvc.grids.lookup import NONE, Overlay

TRIAGE = "triage"


@dataclass
class RoutingDecision:
    responsible_kind: str  # squad | department | grid_head | triage
    responsible_code: str | None
    responsible_name: str | None
    rule: str
    reason: str
    grids: dict[str, dict[str, Any]] = field(default_factory=dict)
    reason_zh: str = ""
    delegation: dict[str, Any] | None = None
    co_handlers: list[dict[str, Any]] = field(default_factory=list)
    # a department's station receiving the case: {layer, grid, name}
    station: dict[str, Any] | None = None
    # the names the reason is made of, for the pages' dictionaries (route.<rule> with these
    # params), so the English page need not show the Chinese reason nor the Chinese one codes
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def why(self) -> dict[str, Any]:
        return {"code": self.rule, "params": self.params}

    @property
    def is_triage(self) -> bool:
        return self.responsible_kind == TRIAGE

    def explanation(self, *, matter_code: str | None, at: datetime) -> dict[str, Any]:
        delegation = None
        if self.delegation is not None:
            delegation = {
                k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.delegation.items()
            }
        return {
            "rule": self.rule,
            "reason": self.reason,
            "reason_zh": self.reason_zh or None,
            "why": self.why,
            "matter_code": matter_code,
            "at": at.isoformat(),
            "grids": self.grids,
            "delegation": delegation,
            "responsible": {
                "kind": self.responsible_kind,
                "code": self.responsible_code,
                "name": self.responsible_name,
                "station": self.station,
            },
            "co_handlers": self.co_handlers,
        }


def grids_at(overlay: Overlay, lng: float, lat: float) -> dict[str, dict[str, Any]]:
    """Every layer's grid at a WGS84 point: ``{layer: {id, code, name, responsible}}``."""
    located = overlay.locate(np.array([lng]), np.array([lat]))
    found = {}
    for layer, positions in located.items():
        position = int(positions[0])
        if position != NONE:
            ref = overlay.layers[layer].grids[position]
            found[layer] = {
                "id": ref.id,
                "code": ref.code,
                "name": ref.name_zh or ref.name,
                "responsible": ref.responsible,
            }
    return found


async def _squad_name(connection: asyncpg.Connection, enforcement: dict[str, Any]) -> str | None:
    """The township squad's name as the squad register has it (its Chinese name first), else
    the name the grid file gave (which may be a Latin place name with 综合执法中队)."""
    registered = await connection.fetchval(
        "SELECT coalesce(name_zh, name) FROM squads WHERE $1 = ANY(grid_codes) ORDER BY id LIMIT 1",
        enforcement["code"],
    )
    return registered or enforcement["responsible"].get("name")


async def _department(connection: asyncpg.Connection, code: str) -> dict[str, Any] | None:
    row = await connection.fetchrow("SELECT code, name, name_zh FROM departments WHERE code = $1", code)
    return dict(row) if row else None


async def route(
    connection: asyncpg.Connection,
    *,
    overlay: Overlay,
    lng: float | None,
    lat: float | None,
    matter: dict[str, Any] | None,
    at: datetime,
    no_owner_fallback: str = "township_squad",
) -> RoutingDecision:
    """Decide the responsible unit for ``matter`` at the WGS84 point (lng, lat) at time ``at``;
    ``no_owner_fallback`` decides rule 7 (``township_squad`` or ``triage``)."""
    if lng is None or lat is None:
        return RoutingDecision(
            TRIAGE,
            None,
            "指挥中心分拨",
            "no_location",
            "no coordinates, only an address: an operator must place it",
            reason_zh="只有地址没有坐标：需值班员在地图上定位",
        )
    grids = grids_at(overlay, lng, lat)
    enforcement = grids.get("enforcement")
    if enforcement is None:
        return RoutingDecision(
            TRIAGE,
            None,
            "指挥中心分拨",
            "outside_grids",
            "the point lies in no enforcement grid of any jurisdiction",
            grids=grids,
            reason_zh="位置不在任何综合执法网格内",
        )
    if matter is None:
        return RoutingDecision(
            TRIAGE,
            None,
            "指挥中心分拨",
            "unknown_matter",
            "the matter is missing or not in the catalogue",
            grids=grids,
            reason_zh="事项缺失或不在事项清单中",
        )
    if matter["handling_level"] == "grid":
        community = grids.get("community")
        if community is None:
            return RoutingDecision(
                TRIAGE,
                None,
                "指挥中心分拨",
                "no_community_grid",
                "a grid-level matter outside every community grid",
                grids=grids,
                reason_zh="网格级事项，但位置不在任何社区网格内",
            )
        head = community["responsible"]
        return RoutingDecision(
            "grid_head",
            community["code"],
            head.get("name"),
            "grid_level",
            f"grid-level matter: handled by the head of {community['name']}",
            grids=grids,
            reason_zh=f"网格级事项：由{community['name']}网格长处置",
            params={"grid": community["name"]},
        )
    delegation = await delegation_at(
        connection, enforcement_code=enforcement["code"], matter_code=matter["code"], at=at
    )
    owner = matter.get("owner_department")
    station = grids.get(f"specialist:{owner}") if owner else None
    if delegation is not None and delegation["delegated"]:
        co_handlers = []
        if station is not None:
            co_handlers.append(
                {
                    "kind": "department",
                    "code": owner,
                    "grid": station["code"],
                    "station": station["responsible"].get("station"),
                }
            )
        return RoutingDecision(
            "squad",
            enforcement["code"],
            await _squad_name(connection, enforcement),
            "delegated",
            f"on the delegation list v{delegation['version']} of {enforcement['name']}: "
            "the township squad handles it",
            grids=grids,
            delegation=delegation,
            co_handlers=co_handlers,
            reason_zh=f"在{enforcement['name']}赋权事项清单第{delegation['version']}版内："
            "由属地综合执法中队处置",
            params={"township": enforcement["name"], "version": delegation["version"]},
        )
    if owner is None and no_owner_fallback == "township_squad":
        why = (
            "not on the township's delegation list"
            if delegation is not None
            else "the township has no delegation list in force"
        )
        why_zh = "不在乡镇赋权事项清单内" if delegation is not None else "乡镇无生效的赋权清单"
        squad = await _squad_name(connection, enforcement)
        return RoutingDecision(
            "squad",
            enforcement["code"],
            squad,
            "territorial_fallback",
            f"{why} and no owning department known: territorial fallback, the township squad of "
            f"{enforcement['name']} handles it",
            grids=grids,
            delegation=delegation,
            reason_zh=f"{why_zh}，且无主管部门：属地兜底，由{enforcement['name']}属地综合执法中队"
            f"{'（' + squad + '）' if squad else ''}处置",
            params={"township": enforcement["name"], "squad": squad or "", "listed": delegation is not None},
        )
    if owner is None:
        return RoutingDecision(
            TRIAGE,
            None,
            "指挥中心分拨",
            "no_owner",
            "not delegated to the township and no owning department known",
            grids=grids,
            delegation=delegation,
            reason_zh="未赋权乡镇，且无主管部门：按配置不作属地兜底，转指挥中心分拨",
            params={"township": enforcement["name"]},
        )
    department = await _department(connection, owner)
    name = department["name_zh"] if department else owner
    where = f" at {station['responsible'].get('station') or station['name']}" if station else ""
    why = (
        "not on the township's delegation list"
        if delegation is not None
        else "the township has no delegation list in force"
    )
    why_zh = "不在乡镇赋权事项清单内" if delegation is not None else "乡镇无生效的赋权清单"
    received_by = None
    if station is not None:
        received_by = {
            "layer": f"specialist:{owner}",
            "grid": station["code"],
            "name": station["responsible"].get("station") or station["name"],
        }
    return RoutingDecision(
        "department",
        owner,
        name + where,
        "not_delegated",
        f"{why} (no enforcement outside the list): the owning department {name} handles it",
        grids=grids,
        delegation=delegation,
        reason_zh=f"{why_zh}（清单之外无执法）：由主管部门{name}处置"
        + (f"，{received_by['name']}承办" if received_by else ""),
        station=received_by,
        params={
            "department": name,
            "station": received_by["name"] if received_by else "",
            "listed": delegation is not None,
        },
    )
