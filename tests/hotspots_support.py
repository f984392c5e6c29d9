"""Seeded events at known points and times for the hotspot tests (API and browser).

Each world lives in weeks of its own, far in the past (a random Monday between 1990 and 2015),
so the counts are exactly the world's whatever other tests stored. Points are the centres of
known H3 cells in Vaduz: A and B share a resolution-8 parent, C lies in another one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import h3

VADUZ = (9.5209, 47.1410)  # town hall square (lng, lat)
ESCHEN = (9.5225, 47.2110)


def centre(cell: str) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(cell)
    return lng, lat


@dataclass
class Places:
    """Three res-9 cells: ``a`` and ``b`` children of the same res-8 cell, ``c`` elsewhere."""

    a: str
    b: str
    c: str

    @classmethod
    def pick(cls) -> Places:
        a = h3.latlng_to_cell(VADUZ[1], VADUZ[0], 9)
        b = next(x for x in h3.cell_to_children(h3.cell_to_parent(a, 8), 9) if x != a)
        c = h3.latlng_to_cell(ESCHEN[1], ESCHEN[0], 9)
        assert h3.cell_to_parent(c, 8) != h3.cell_to_parent(a, 8)
        return cls(a=a, b=b, c=c)


@dataclass
class World:
    monday: date  # Monday of the world's period week (one week)
    zone: ZoneInfo
    places: Places
    matters: tuple[str, str]  # two matters of different classes
    ids: list[int] = field(default_factory=list)

    @property
    def classes(self) -> tuple[str, str]:
        return tuple("-".join(m.split("-")[:2]) for m in self.matters)  # type: ignore[return-value]

    def day(self, week: int, weekday: int = 2, hour: int = 12, minute: int = 0) -> datetime:
        """Local time in week ``week`` relative to the period (0: the period, -1: the week
        before ...), ``weekday`` 0 = Monday."""
        d = self.monday + timedelta(weeks=week, days=weekday)
        return datetime.combine(d, time(hour, minute), self.zone)


async def matters_of_two_classes(db: asyncpg.Connection) -> tuple[str, str]:
    first = await db.fetchval("SELECT code FROM matters WHERE kind = 'event' ORDER BY code LIMIT 1")
    other = await db.fetchval(
        "SELECT code FROM matters WHERE kind = 'event' "
        "AND split_part(code, '-', 1) || '-' || split_part(code, '-', 2) "
        "<> split_part($1, '-', 1) || '-' || split_part($1, '-', 2) ORDER BY code LIMIT 1",
        first,
    )
    return first, other


async def new_world(db: asyncpg.Connection, zone: str = "Europe/Vaduz") -> World:
    start = date(1990, 1, 1) + timedelta(weeks=random.randrange(52 * 25))  # noqa: S311 - not a secret
    monday = start - timedelta(days=start.weekday())
    return World(
        monday=monday, zone=ZoneInfo(zone), places=Places.pick(), matters=await matters_of_two_classes(db)
    )


async def seed(
    db: asyncpg.Connection,
    world: World,
    cell: str,
    at: datetime,
    *,
    matter: int = 0,
    grids: dict[str, Any] | None = None,
    count: int = 1,
    where: tuple[float, float] | None = None,
) -> None:
    """``count`` events at the centre of ``cell`` (or at ``where``) received ``at``."""
    lng, lat = where or centre(cell)
    for _ in range(count):
        world.ids.append(
            await db.fetchval(
                "INSERT INTO events (source, title, matter_code, geom, received_at, grids) "
                "VALUES ('operator', '热点测试', $1, ST_SetSRID(ST_MakePoint($2, $3), 4326), $4, $5::jsonb) "
                "RETURNING id",
                world.matters[matter],
                lng,
                lat,
                at,
                grids or {},
            )
        )


async def clear(db: asyncpg.Connection, world: World) -> None:
    await db.execute("DELETE FROM events WHERE id = ANY($1::bigint[])", world.ids)


async def grids_at(db: asyncpg.Connection, where: tuple[float, float]) -> dict[str, Any]:
    """The point's community and enforcement grids as an event stores them (id, code, name)."""
    rows = await db.fetch(
        "SELECT layer, id, code, coalesce(name_zh, name) AS name FROM current_grids "
        "WHERE layer IN ('community', 'enforcement') "
        "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
        *where,
    )
    return {r["layer"]: {"id": r["id"], "code": r["code"], "name": r["name"]} for r in rows}
