"""Cases and places for the department tests (API and browser): matters a department owns,
free spots in townships older tests leave alone, the grid of a layer at a point."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.live_support import BUSY_TOWNS, spot_in

# Townships of the demo whose delegation lists hold the market matters (gridsvc.demo.events)
MARKET_DELEGATED = ("LI-VADUZ", "LI-SCHAAN", "LI-TRIESEN", "LI-BALZERS", "LI-ESCHEN")


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def matter_of(db: asyncpg.Connection, department: str) -> str:
    """An event matter ``department`` owns, handled at township level, not auto-dispatched."""
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = $1 AND kind = 'event' "
        "AND handling_level = 'township' ORDER BY auto_dispatch, code LIMIT 1",
        department,
    )
    assert code is not None, f"no {department} matter in the catalogue"
    return str(code)


async def market_matter(db: asyncpg.Connection) -> str:
    """A market-supervision matter (the demo's catalogue has none; the demo's specialist layer
    of that department covers the county with its stations' areas). Of kind ``other``: it is no
    event of the imported standard, whose events name their source file."""
    await db.execute(
        "INSERT INTO matters (code, kind, major_code, major_name, minor_code, name, "
        "owner_department, source) VALUES ('OT-90-01', 'other', '90', '市场监管', '01', "
        "'无证经营食品摊贩', 'market', 'tests') ON CONFLICT (code) DO NOTHING"
    )
    return "OT-90-01"


async def quiet_spot(db: asyncpg.Connection, *, avoid: tuple[str, ...] = BUSY_TOWNS) -> dict[str, float]:
    """A free point in a township older tests leave alone (no 并单 with their events)."""
    towns = await db.fetch(
        "SELECT code FROM current_grids WHERE layer = 'enforcement' AND code LIKE 'LI-%' "
        "AND code <> ALL($1::text[]) ORDER BY code",
        list(avoid),
    )
    for town in towns:
        try:
            return await spot_in(db, town["code"], "enforcement")
        except AssertionError:
            continue
    raise AssertionError("no township with room for another case")


async def grid_at(db: asyncpg.Connection, layer: str, where: dict[str, float]) -> str:
    code = await db.fetchval(
        "SELECT code FROM current_grids WHERE layer = $1 "
        "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326))",
        layer,
        where["lng"],
        where["lat"],
    )
    assert code is not None, (layer, where)
    return str(code)


def create_event(
    base_url: str, token: str, matter: str, where: dict[str, float], *, title: str = "违章搭建"
) -> int:
    """A case entered at the desk of a running server (blocking)."""
    body = {"title": title, "matter_code": matter, "location": where}
    created = httpx.post(f"{base_url}/events", json=body, headers=as_(token), timeout=10)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def summon(base_url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Blow a whistle at the desk of a running server (blocking)."""
    created = httpx.post(f"{base_url}/whistles", json=body, headers=as_(token), timeout=10)
    assert created.status_code == 201, created.text
    return dict(created.json())
