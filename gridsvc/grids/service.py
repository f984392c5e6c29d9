"""Grid layers: atomic versioned import, enforcement links, and loading the lookup overlay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from gridsvc.grids import queries
from gridsvc.grids.importer import GridImportError, GridRecord, PreparedLayer, find_gaps
from gridsvc.grids.lookup import GridRef, LayerIndex, Overlay
from gridsvc.grids.overlay import NO_GRID, CellCover, cover_layer
from gridsvc.jurisdictions import service as jurisdictions

# A community grid belongs to the enforcement grid holding this share of its area; below it
# the link is ambiguous and reported rather than guessed silently.
LINK_SHARE_DERIVED = 0.95


@dataclass
class ImportResult:
    layer: str
    jurisdiction_code: str
    version: int
    version_id: int
    report: dict[str, Any]


async def import_layer(
    connection: asyncpg.Connection,
    prepared: PreparedLayer,
    *,
    jurisdiction_code: str,
    resolution: int,
    progress: Callable[[int], None] | None = None,
    allow_outside: bool = False,
    extent: BaseGeometry | None = None,
) -> ImportResult:
    """Replace the current version of a layer with ``prepared``, all or nothing.

    The previous version is closed (``valid_to`` = the new ``valid_from``) and stays
    queryable. Raises :class:`GridImportError` when the jurisdiction is unknown, or when
    no grid touches the jurisdiction's boundary (a wrong ``--jurisdiction`` or ``--crs``)
    unless ``allow_outside``; grids outside it are listed in the report either way.
    ``extent`` (default: the jurisdiction's boundary) is the area whose cells no grid touches
    are stored as explicit gaps; a layer drawn over part of a large county (the demo's
    Ninghua seat) passes that part, rather than storing a gap row for every cell of the county.
    """
    jurisdiction = await jurisdictions.get(connection, code=jurisdiction_code)
    if jurisdiction is None:
        raise GridImportError(
            f"unknown jurisdiction {jurisdiction_code!r}: create it first "
            "(gridsvc jurisdictions import, or gridsvc demo build)"
        )
    other = await connection.fetchrow(
        queries.OTHER_RESOLUTION, prepared.layer, resolution, jurisdiction["id"]
    )
    if other is not None:
        raise GridImportError(
            f"layer {prepared.layer} of jurisdiction {other['code']} uses H3 resolution "
            f"{other['h3_resolution']}; a layer keeps one resolution (set GRIDSVC_H3_RESOLUTION)"
        )
    boundary: BaseGeometry | None = jurisdiction["boundary"]
    geometries = [r.geometry for r in prepared.records]
    outside = _outside(prepared, boundary, jurisdiction_code, allow_outside=allow_outside)
    # The cover is the CPU-heavy part; keep the event loop free while it runs.
    cover = await asyncio.to_thread(
        cover_layer,
        geometries,
        resolution=resolution,
        extent=boundary if extent is None else extent,
        progress=progress,
    )
    report = dict(prepared.report)
    report["h3"] = {
        "resolution": resolution,
        "cells": int(len(cover.cells)),
        "straddling": int(cover.straddles.sum()),
        "empty": int(((cover.grid_index == NO_GRID) & ~cover.straddles).sum()),
    }
    if boundary is not None:
        report["gaps"] = await asyncio.to_thread(find_gaps, prepared.records, boundary)
    if outside:
        report["outside_jurisdiction"] = {
            "jurisdiction": jurisdiction_code,
            "count": len(outside),
            "codes": outside[:50],
        }

    async with connection.transaction():
        layer_id = await connection.fetchval(
            queries.LOCK_LAYER,
            jurisdiction["id"],
            prepared.layer,
            prepared.kind,
            prepared.department,
        )
        await connection.fetchval(queries.LOCK_LAYER_ROW, layer_id)
        if prepared.kind == "community":
            enforcement = await _current_grids(connection, jurisdiction["id"], "enforcement")
            report["enforcement_links"] = link_to_enforcement(prepared.records, enforcement)
        version = await connection.fetchval(queries.NEXT_VERSION, layer_id)
        now = datetime.now(UTC)
        await connection.fetch(queries.CLOSE_CURRENT_VERSION, layer_id, now)
        version_id = await connection.fetchval(
            queries.INSERT_VERSION,
            layer_id,
            version,
            now,
            resolution,
            prepared.source_file,
            prepared.source_crs,
            report,
        )
        grid_ids = await _insert_grids(connection, version_id, prepared.records)
        await _insert_cells(connection, version_id, cover, grid_ids)
        if prepared.kind == "enforcement":
            relinked = await relink_community(connection, jurisdiction["id"])
            if relinked is not None:
                report["community_relinked"] = relinked
                await connection.execute(queries.SET_VERSION_REPORT, version_id, report)
    return ImportResult(
        layer=prepared.layer,
        jurisdiction_code=jurisdiction_code,
        version=version,
        version_id=version_id,
        report=report,
    )


def _outside(
    prepared: PreparedLayer, boundary: BaseGeometry | None, jurisdiction_code: str, *, allow_outside: bool
) -> list[str]:
    """Codes of the grids that do not touch the jurisdiction; refuse a layer with none in
    it (a Beijing layer given to Liechtenstein) unless the operator says it is meant."""
    if boundary is None or not prepared.records:
        return []
    touching = shapely.intersects([r.geometry for r in prepared.records], boundary)
    outside = [r.code for r, inside in zip(prepared.records, touching.tolist(), strict=True) if not inside]
    if len(outside) == len(prepared.records) and not allow_outside:
        layer = shapely.union_all([r.geometry for r in prepared.records]).bounds
        raise GridImportError(
            f"{prepared.source_file}: the layer lies wholly outside jurisdiction "
            f"{jurisdiction_code} (grids within lng {layer[0]:.4f}..{layer[2]:.4f}, lat "
            f"{layer[1]:.4f}..{layer[3]:.4f}; the jurisdiction within lng "
            f"{boundary.bounds[0]:.4f}..{boundary.bounds[2]:.4f}, lat "
            f"{boundary.bounds[1]:.4f}..{boundary.bounds[3]:.4f}); check --jurisdiction and "
            "--crs, or pass --allow-outside to import it anyway"
        )
    return outside


async def _insert_grids(
    connection: asyncpg.Connection, version_id: int, records: list[GridRecord]
) -> list[int]:
    ids = []
    for r in records:
        ids.append(
            await connection.fetchval(
                queries.INSERT_GRID,
                version_id,
                r.code,
                r.name,
                r.name_zh,
                r.geometry,
                r.area_m2,
                r.head_name,
                r.head_phone,
                r.squad_name,
                r.department,
                r.station_name,
                r.enforcement_code,
                r.enforcement_link,
                r.properties,
            )
        )
    return ids


async def _insert_cells(
    connection: asyncpg.Connection, version_id: int, cover: CellCover, grid_ids: list[int]
) -> None:
    rows = [
        (
            version_id,
            cell,
            grid_ids[index] if index != NO_GRID else None,
            bool(candidates),
            [grid_ids[i] for i in candidates],
        )
        for cell, index, candidates in zip(
            cover.cells.tolist(), cover.grid_index.tolist(), cover.candidates, strict=True
        )
    ]
    await connection.copy_records_to_table(
        "grid_cells",
        records=rows,
        columns=["layer_version_id", "cell", "grid_id", "straddles", "candidate_grid_ids"],
    )


async def _current_grids(
    connection: asyncpg.Connection, jurisdiction_id: int, layer: str
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.CURRENT_LAYER_GRIDS, jurisdiction_id, layer)]


def link_to_enforcement(records: list[GridRecord], enforcement: list[dict[str, Any]]) -> dict[str, Any]:
    """Give every community grid its enforcement grid; report the doubtful ones.

    A code given in the file must name a current enforcement grid. Otherwise the link is
    derived by overlay: the enforcement grid holding >= 95 % of the community grid's area.
    Sets ``enforcement_code`` and ``enforcement_link`` on each record.
    """
    codes = {e["code"] for e in enforcement}
    geometries = [e["geom"] for e in enforcement]
    tree = shapely.STRtree(geometries) if geometries else None
    problems: dict[str, list[dict[str, Any]]] = {"ambiguous": [], "missing": [], "unknown_code": []}
    counts = {"given": 0, "derived": 0, "ambiguous": 0, "missing": 0}
    for record in records:
        if record.enforcement_code and record.enforcement_code in codes:
            record.enforcement_link = "given"
            counts["given"] += 1
            continue
        if record.enforcement_code:
            problems["unknown_code"].append(
                {"code": record.code, "enforcement_code": record.enforcement_code}
            )
        shares = []
        if tree is not None:
            for i in tree.query(record.geometry, predicate="intersects").tolist():
                share = record.geometry.intersection(geometries[i]).area / record.geometry.area
                if share > 1e-6:
                    shares.append((share, enforcement[i]["code"]))
        shares.sort(reverse=True)
        if shares and shares[0][0] >= LINK_SHARE_DERIVED:
            record.enforcement_code, link = shares[0][1], "derived"
        elif shares:
            record.enforcement_code, link = shares[0][1], "ambiguous"
            problems["ambiguous"].append(
                {
                    "code": record.code,
                    "shares": [{"enforcement_code": c, "share": round(s, 4)} for s, c in shares],
                }
            )
        else:
            record.enforcement_code, link = None, "missing"
            problems["missing"].append({"code": record.code})
        record.enforcement_link = link
        counts[link] += 1
    return {"counts": counts, **problems}


async def relink_community(connection: asyncpg.Connection, jurisdiction_id: int) -> dict[str, Any] | None:
    """After an enforcement import, re-check every current community grid's link."""
    community = await _current_grids(connection, jurisdiction_id, "community")
    if not community:
        return None
    enforcement = await _current_grids(connection, jurisdiction_id, "enforcement")
    records = [
        GridRecord(
            code=c["code"],
            name=c["code"],
            geometry=c["geom"],
            area_m2=c["area_m2"],
            enforcement_code=c["enforcement_code"] if c["enforcement_link"] == "given" else None,
        )
        for c in community
    ]
    summary = link_to_enforcement(records, enforcement)
    for row, record in zip(community, records, strict=True):
        await connection.execute(
            queries.UPDATE_ENFORCEMENT_LINK, row["id"], record.enforcement_code, record.enforcement_link
        )
    return summary


# -- overlay -------------------------------------------------------------------------


def responsible_of(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """Who answers for a grid: its grid head, squad or department (what the API shows)."""
    if kind == "community":
        return {
            "role": "grid_head",
            "name": row["head_name"],
            "phone": row["head_phone"],
            "enforcement_code": row["enforcement_code"],
        }
    if kind in {"enforcement", "zone"}:
        return {"role": "squad", "name": row["squad_name"]}
    return {"role": "department", "department": row["department"], "station": row["station_name"]}


async def load_overlay(connection: asyncpg.Connection | asyncpg.Pool) -> Overlay:
    """Read the current versions of every layer into an in-memory :class:`Overlay`."""
    generation = await connection.fetchval(queries.OVERLAY_GENERATION)
    versions = [dict(r) for r in await connection.fetch(queries.OVERLAY_VERSIONS)]
    version_ids = [v["version_id"] for v in versions]
    grid_rows = [dict(r) for r in await connection.fetch(queries.OVERLAY_GRIDS, version_ids)]
    cell_rows = await connection.fetch(queries.OVERLAY_CELLS, version_ids)
    return await asyncio.to_thread(_build_overlay, generation, versions, grid_rows, cell_rows)


def _build_overlay(
    generation: int, versions: list[dict[str, Any]], grid_rows: list[dict[str, Any]], cell_rows: list[Any]
) -> Overlay:
    by_version = {v["version_id"]: v for v in versions}
    groups: dict[tuple[str, int], list[int]] = {}
    for v in versions:
        # import_layer keeps one resolution per layer name, so each name forms one group.
        groups.setdefault((v["layer"], v["h3_resolution"]), []).append(v["version_id"])
    cells_by_version: dict[int, list[tuple[int, int | None, list[int]]]] = {}
    for row in cell_rows:
        cells_by_version.setdefault(row[0], []).append((row[1], row[2], row[3]))
    layers: dict[str, LayerIndex] = {}
    for (layer, resolution), ids in groups.items():
        refs, geometries = [], []
        for row in grid_rows:
            if row["layer_version_id"] in ids:
                version = by_version[row["layer_version_id"]]
                refs.append(
                    GridRef(
                        id=row["id"],
                        code=row["code"],
                        name=row["name"],
                        name_zh=row["name_zh"],
                        layer=layer,
                        jurisdiction_code=version["jurisdiction_code"],
                        responsible=responsible_of(version["kind"], row),
                    )
                )
                geometries.append(row["geom"])
        rows = [r for vid in ids for r in cells_by_version.get(vid, [])]
        layers[layer] = LayerIndex.build(
            layer=layer, resolution=resolution, grids=refs, geometries=geometries, cell_rows=rows
        )
    return Overlay(layers=layers, generation=generation)
