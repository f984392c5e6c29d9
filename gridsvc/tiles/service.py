"""The offline base map: import the layers of an OSM extract, build and cache vector tiles."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cachetools import LRUCache

from gridsvc.tiles import queries
from gridsvc.tiles.models import MAX_ZOOM, BasemapInfo, TileAnswer
from gridsvc.tiles.osm import LAYERS, BasemapLayers, read_basemap

_COPY_CHUNK = 20_000
# Part of every ETag: a change of the tile SQL (layers, columns, zoom rules) must not be
# hidden behind an unchanged import id in a browser's cache.
SCHEMA_TAG = hashlib.sha256(queries.TILE.encode()).hexdigest()[:8]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BasemapImportResult:
    import_id: int
    counts: dict[str, int]


class TileRequestError(ValueError):
    """z/x/y outside the tile pyramid: ``field`` names which one."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_tile(*, z: int, x: int, y: int) -> None:
    """Refuse a tile address outside the pyramid (zoom 0..MAX_ZOOM, 0 <= x, y < 2**z).

    Raises
    ------
    TileRequestError
    """
    if not 0 <= z <= MAX_ZOOM:
        raise TileRequestError("z", f"zoom must be between 0 and {MAX_ZOOM}, got {z}")
    size = 2**z
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value < size:
            raise TileRequestError(name, f"must be between 0 and {size - 1} at zoom {z}, got {value}")


class BasemapImportError(ValueError):
    """A base-map import was refused; the current base map is unchanged."""


async def _owner(connection: asyncpg.Connection, jurisdiction: str | None) -> int | None:
    """The jurisdiction an import belongs to: the one named, else none (the installation's)."""
    if jurisdiction is None:
        return None
    found: int | None = await connection.fetchval(queries.JURISDICTION_ID, jurisdiction)
    if found is None:
        raise BasemapImportError(f"unknown jurisdiction {jurisdiction!r}")
    return found


async def import_basemap(
    connection: asyncpg.Connection,
    *,
    source: Path,
    jurisdiction: str | None = None,
    progress: Progress | None = None,
) -> BasemapImportResult:
    """Read the base-map layers of ``source`` and make them ``jurisdiction``'s current base
    map, all or nothing; other jurisdictions' base maps are kept.

    The file is read before anything is written; the jurisdiction's old layers are replaced
    in one transaction (tile requests keep reading the old ones until it commits).

    Raises
    ------
    FileNotFoundError, BasemapImportError
    """

    def step(stage: str, _count: int = 0) -> None:
        if progress and stage != "read":
            progress(stage)

    owner = await _owner(connection, jurisdiction)
    layers = await asyncio.to_thread(read_basemap, source, progress=step)
    step("read extract")
    counts = layers.counts()
    async with connection.transaction():
        await connection.execute(queries.LOCK_JURISDICTION, owner)
        import_id: int = await connection.fetchval(queries.INSERT_IMPORT, str(source), counts, owner)
        retired = [r["id"] for r in await connection.fetch(queries.RETIRE_CURRENT, owner)]
        for statement in queries.CLEAR:
            await connection.execute(statement, retired)
        for name in LAYERS:
            await _copy(connection, layers, name, import_id)
            step(f"write {name}")
        await connection.execute(queries.MAKE_CURRENT, import_id)
    await connection.execute(queries.ANALYZE)
    step("analyze")
    return BasemapImportResult(import_id=import_id, counts=counts)


IMPORT_STEPS = ("read extract", *(f"write {name}" for name in LAYERS), "analyze")


async def _copy(connection: asyncpg.Connection, layers: BasemapLayers, name: str, import_id: int) -> None:
    table, columns = queries.COLUMNS[name]
    rows = [(*row, import_id) for row in getattr(layers, name)]
    for start in range(0, len(rows), _COPY_CHUNK):
        await connection.copy_records_to_table(
            table, records=rows[start : start + _COPY_CHUNK], columns=[*columns, "import_id"]
        )


async def basemap_info(connection: asyncpg.Connection | asyncpg.Pool) -> BasemapInfo | None:
    row = await connection.fetchrow(queries.INFO)
    if row is None:
        return None
    extent = row["extent"]
    return BasemapInfo(
        import_id=row["id"],
        source_file=Path(row["source_file"]).name,
        counts=row["counts"],
        imported_at=row["imported_at"],
        bounds=list(extent.bounds) if extent is not None and not extent.is_empty else None,
    )


class TileService:
    """Builds tiles with one PostGIS statement and keeps the latest in an LRU of bytes.

    The cache is keyed by the current import ids (one per jurisdiction with its own base
    map), so a re-import (in any process) is seen at the next request: they are read per
    request (a tiny query), the tile only on a miss.
    """

    def __init__(self, *, cache_bytes: int) -> None:
        self.cache: LRUCache[tuple[str, int, int, int], bytes] | None = (
            LRUCache(maxsize=cache_bytes, getsizeof=len) if cache_bytes > 0 else None
        )

    async def tile(
        self, pool: asyncpg.Pool, *, z: int, x: int, y: int, if_none_match: str | None
    ) -> TileAnswer:
        """The tile at z/x/y (checked), or ``not_modified`` when ``if_none_match`` is current.

        Raises
        ------
        TileRequestError
        """
        check_tile(z=z, x=x, y=y)
        version: str | None = await pool.fetchval(queries.CURRENT)
        etag = f'"{version or 0}-{SCHEMA_TAG}"'
        if if_none_match and _matches(if_none_match, etag):
            return TileAnswer(etag=etag, data=b"", not_modified=True)
        if version is None:
            return TileAnswer(etag=etag, data=b"")
        key = (version, z, x, y)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return TileAnswer(etag=etag, data=cached, cached=True)
        data: bytes = await pool.fetchval(queries.TILE, z, x, y)
        data = bytes(data or b"")
        if self.cache is not None:
            self.cache[key] = data
        return TileAnswer(etag=etag, data=data)


def _matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (or ``*``); If-None-Match uses the weak
    comparison of RFC 9110, so ``W/"..."`` matches too."""
    tags = {part.strip() for part in header.split(",")}
    return "*" in tags or etag in {t[2:] if t.startswith("W/") else t for t in tags}


def tile_service(state: Any, *, cache_bytes: int) -> TileService:
    """The app's one TileService (made on first use, kept on ``app.state``)."""
    found = getattr(state, "tiles", None)
    if not isinstance(found, TileService):
        found = TileService(cache_bytes=cache_bytes)
        state.tiles = found
    return found
