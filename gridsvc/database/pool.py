"""asyncpg connections with gridsvc's codecs (PostGIS geometry <-> shapely, jsonb <-> dict)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import orjson
import shapely
from shapely.geometry.base import BaseGeometry


def _encode_geometry(geometry: BaseGeometry) -> bytes:
    wkb: bytes = shapely.to_wkb(geometry, include_srid=True, hex=False)
    return wkb


def _decode_geometry(data: bytes) -> BaseGeometry:
    return shapely.from_wkb(data)


def _loads(text: str) -> Any:
    """jsonb text to Python with orjson: 3-4x faster than json, and decoding the jsonb
    columns was the largest part of a work-queue page of 100 events. (An integer beyond 64
    bits, which only a free-form payload could hold, comes back as a float.)"""
    return orjson.loads(text)


async def init_connection(connection: asyncpg.Connection) -> None:
    """Register codecs on every new connection (the pool's ``init`` hook)."""
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=_loads, schema="pg_catalog")
    await connection.set_type_codec("json", encoder=json.dumps, decoder=_loads, schema="pg_catalog")
    has_postgis = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'geometry')"
    )
    if has_postgis:
        await connection.set_type_codec(
            "geometry",
            encoder=_encode_geometry,
            decoder=_decode_geometry,
            format="binary",
            schema="public",
        )


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, pgbouncer: bool = False
) -> asyncpg.Pool:
    """``pgbouncer``: ``url`` is a PgBouncer in transaction pooling (``GRIDSVC_DATABASE_PGBOUNCER``).

    There each transaction may run on another server connection, where the named prepared
    statements asyncpg caches per connection do not exist ("prepared statement
    __asyncpg_stmt_1__ does not exist"; PgBouncer < 1.21 cannot track them), so the cache is
    off: every query is prepared unnamed, in the same round trip as its execution.
    """
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        command_timeout=300,
        statement_cache_size=0 if pgbouncer else 100,
    )
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    connection: asyncpg.Connection = await asyncpg.connect(url)
    await init_connection(connection)
    return connection


def record_to_dict(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(record) if record is not None else None
