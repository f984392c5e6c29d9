"""Import jurisdiction boundaries (e.g. the GCJ-02 county polygons of cnmaps) into PostGIS."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import geopandas as gpd
from shapely.geometry import MultiPolygon

from gridsvc.geo.crs import UnknownCRSError, parse_crs
from gridsvc.geo.shapes import as_multipolygon, geometry_to_wgs84
from gridsvc.jurisdictions import service

# cnmaps / AMap level names -> ours
LEVEL_NAMES = {
    "省": "province",
    "市": "city",
    "区县": "county",
    "区": "county",
    "县": "county",
    "乡镇": "township",
    "街道": "township",
    "province": "province",
    "city": "city",
    "county": "county",
    "district": "county",
    "township": "township",
}


class BoundaryImportError(ValueError):
    """A boundary file that cannot be imported: names the file, the feature and the problem."""


@dataclass
class BoundaryImport:
    created: int
    by_level: dict[str, int]


def _name_of(row: dict[str, object]) -> str:
    for key in ("name", "district", "city", "province"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(row.get("adcode") or row.get("code"))


def _parent_code(code: str, level: str, known: set[str]) -> str | None:
    """Chinese division codes nest: county 350802 -> city 350800 -> province 350000."""
    if len(code) != 6 or not code.isdigit():
        return None
    candidates = {"county": [code[:4] + "00", code[:2] + "0000"], "city": [code[:2] + "0000"]}.get(level, [])
    return next((c for c in candidates if c in known and c != code), None)


async def import_boundaries(
    connection: asyncpg.Connection,
    path: Path,
    *,
    crs: str,
    code_field: str = "adcode",
    level_field: str = "level",
    default_level: str = "county",
    timezone: str = "Asia/Shanghai",
) -> BoundaryImport:
    """Load polygons as jurisdictions, converting ``crs`` (e.g. ``gcj02``) to WGS84.

    Rows are written parents first, in one transaction: all or nothing.
    """
    rows = await asyncio.to_thread(
        read_boundaries,
        path,
        crs=crs,
        code_field=code_field,
        level_field=level_field,
        default_level=default_level,
    )
    source = parse_crs(crs)
    known = {r[1] for r in rows}
    by_level: dict[str, int] = {}
    async with connection.transaction():
        for level, code, name, polygon in rows:
            await service.upsert(
                connection,
                code=code,
                name=name,
                name_zh=name,
                level=level,
                parent_code=_parent_code(code, level, known),
                boundary=polygon,
                timezone=timezone,
                source=f"{path.name} ({source.name})",
            )
            by_level[level] = by_level.get(level, 0) + 1
    return BoundaryImport(created=len(rows), by_level=by_level)


def read_boundaries(
    path: Path, *, crs: str, code_field: str, level_field: str, default_level: str
) -> list[tuple[str, str, str, MultiPolygon]]:
    """Read and convert boundary polygons to WGS84; (level, code, name, polygon), parents first."""
    if not path.exists():
        raise BoundaryImportError(f"{path}: file not found")
    try:
        source = parse_crs(crs)
    except UnknownCRSError as error:
        raise BoundaryImportError(f"{path}: {error}") from None
    frame = gpd.read_file(path, engine="pyogrio")
    if len(frame) == 0:
        raise BoundaryImportError(f"{path}: the file has no features")
    if code_field not in frame.columns:
        raise BoundaryImportError(f"{path}: no attribute {code_field!r} (have {', '.join(frame.columns)})")
    rows = []
    for position, (geometry, row) in enumerate(
        zip(frame.geometry, frame.drop(columns=frame.geometry.name).to_dict("records"), strict=True)
    ):
        code = str(row[code_field]).strip()
        raw_level = str(row.get(level_field) or default_level).strip()
        level = LEVEL_NAMES.get(raw_level)
        if level is None:
            raise BoundaryImportError(
                f"{path}: feature {position + 1} (code {code}): unknown level {raw_level!r}"
            )
        polygon = as_multipolygon(geometry) if geometry is not None else None
        if polygon is None:
            raise BoundaryImportError(f"{path}: feature {position + 1} (code {code}): no polygon geometry")
        converted = as_multipolygon(
            geometry_to_wgs84(polygon if polygon.is_valid else polygon.buffer(0), source)
        )
        assert converted is not None
        rows.append((level, code, _name_of(row), converted))
    order = {"province": 0, "city": 1, "county": 2, "township": 3}
    rows.sort(key=lambda r: (order[r[0]], r[1]))
    return rows
