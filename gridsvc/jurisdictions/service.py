"""Jurisdictions: the city -> county -> township hierarchy that grids belong to."""

from __future__ import annotations

from typing import Any

import asyncpg
from shapely.geometry import MultiPolygon

from gridsvc.jurisdictions import queries

LEVELS = ("province", "city", "county", "township")


async def upsert(
    connection: asyncpg.Connection,
    *,
    code: str,
    name: str,
    level: str,
    boundary: MultiPolygon | None,
    name_zh: str | None = None,
    parent_code: str | None = None,
    timezone: str = "Asia/Shanghai",
    source: str | None = None,
) -> int:
    """Create or update a jurisdiction; ``boundary`` in EPSG:4326. Returns its id."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    jurisdiction_id: int = await connection.fetchval(
        queries.UPSERT, code, name, name_zh, level, parent_code, boundary, timezone, source
    )
    return jurisdiction_id


async def get(connection: asyncpg.Connection | asyncpg.Pool, *, code: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(queries.BY_CODE, code)
    return dict(row) if row else None


async def list_all(
    connection: asyncpg.Connection | asyncpg.Pool, *, level: str | None = None
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.LIST, level)]


async def with_layers(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """The jurisdictions that own grid layers, counties first: code, name (Chinese first), level."""
    return [dict(r) for r in await connection.fetch(queries.WITH_LAYERS)]


async def boundaries(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Every jurisdiction with a boundary: id, code, level, boundary (EPSG:4326)."""
    return [dict(r) for r in await connection.fetch(queries.BOUNDARIES)]
