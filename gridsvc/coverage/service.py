"""Coverage: compute and store the fastest squad per H3 cell; summarise it per grid."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
import numpy as np
import shapely

from gridsvc.coverage import queries
from gridsvc.coverage.compute import compute_coverage, jurisdiction_cells
from gridsvc.eta.engine import EtaEngine
from gridsvc.eta.snap import reachable
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads.service import current_network, load_graph
from gridsvc.settings import Settings

log = logging.getLogger("gridsvc.coverage")
THRESHOLDS_MIN = (15, 30, 60)


def _signature(network_key: str, squads: list[dict[str, Any]], resolution: int, offroad_kmh: float) -> str:
    text = "|".join(
        [
            network_key,
            str(resolution),
            f"{offroad_kmh:g}",
            *(f"{s['id']}@{s['station'].x:.7f},{s['station'].y:.7f}" for s in squads),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


async def refresh(
    connection: asyncpg.Connection,
    *,
    settings: Settings,
    jurisdiction_code: str,
    engine: EtaEngine | None = None,
    engines: Mapping[str, EtaEngine] | None = None,
    force: bool = False,
) -> dict[str, Any] | None:
    """Recompute the coverage of one jurisdiction when its roads or squads changed, on the
    jurisdiction's network (its own, else its nearest ancestor's, else the installation's).
    ``engine`` / ``engines`` (by cache key): graphs already loaded, used when they match.

    Returns the run's report, or None when there is nothing to compute (no roads, no
    squads or no boundary). Skipped (returning the current report) when the current run
    was computed from the same roads, squad stations and settings.
    """
    jurisdiction = await jurisdictions.get(connection, code=jurisdiction_code)
    network = await current_network(connection, jurisdiction=jurisdiction_code)
    if jurisdiction is None or jurisdiction["boundary"] is None or network is None:
        return None
    squads = [dict(r) for r in await connection.fetch(queries.JURISDICTION_SQUADS, jurisdiction["id"])]
    if not squads:
        return None
    resolution = settings.h3_resolution
    signature = _signature(network["cache_key"], squads, resolution, settings.eta_offroad_speed_kmh)
    current = await connection.fetchrow(queries.CURRENT_RUN, jurisdiction["id"])
    if current is not None and current["signature"] == signature and not force:
        return dict(current["report"])
    if engine is None or engine.graph.cache_key != network["cache_key"]:
        engine = (engines or {}).get(network["cache_key"])
    if engine is None:
        graph = await load_graph(connection, cache_dir=settings.road_cache_dir, network=network)
        assert graph is not None
        engine = await asyncio.to_thread(EtaEngine, graph, offroad_speed_kmh=settings.eta_offroad_speed_kmh)
    cells = await asyncio.to_thread(jurisdiction_cells, jurisdiction["boundary"], resolution)
    stations = await asyncio.to_thread(
        engine.snapper.snap,
        np.array([s["station"].x for s in squads]),
        np.array([s["station"].y for s in squads]),
    )
    # A station with no road within reach (stored before that was checked) covers nothing.
    keep = np.flatnonzero(reachable(stations, settings.squad_max_road_distance_m))
    if len(keep) < len(squads):
        log.warning(
            "coverage of %s: %d squad stations have no road within %g m, left out",
            jurisdiction_code,
            len(squads) - len(keep),
            settings.squad_max_road_distance_m,
        )
        squads, stations = [squads[i] for i in keep.tolist()], stations.take(keep)
        if not squads:
            return None
    coverage = await asyncio.to_thread(compute_coverage, engine, stations, cells)
    report = {
        "cells": int(len(cells)),
        "squads": len(squads),
        "h3_resolution": resolution,
        "median_s": float(np.median(coverage.time_s)) if len(cells) else None,
        "max_s": float(coverage.time_s.max()) if len(cells) else None,
        "network_id": network["id"],
    }
    squad_ids = [s["id"] for s in squads]
    centres = shapely.set_srid(shapely.points(coverage.lng, coverage.lat), 4326)
    async with connection.transaction():
        await connection.execute(queries.LOCK_JURISDICTION, jurisdiction["id"])
        await connection.execute(queries.RETIRE_RUNS, jurisdiction["id"])
        run_id = await connection.fetchval(
            queries.INSERT_RUN, jurisdiction["id"], network["id"], signature, resolution, report
        )
        rows = zip(
            [run_id] * len(cells),
            coverage.cells.tolist(),
            [squad_ids[i] for i in coverage.squad.tolist()],
            coverage.time_s.tolist(),
            coverage.distance_m.tolist(),
            coverage.offroad_m.tolist(),
            coverage.area_m2.tolist(),
            centres,
            strict=True,
        )
        await connection.copy_records_to_table(
            "coverage_cells", records=list(rows), columns=queries.CELL_COLUMNS
        )
    log.info("coverage of %s: %d cells from %d squads", jurisdiction_code, len(cells), len(squads))
    return report


async def refresh_all(
    connection: asyncpg.Connection,
    *,
    settings: Settings,
    engine: EtaEngine | None = None,
    engines: Mapping[str, EtaEngine] | None = None,
) -> dict[str, Any]:
    """Refresh every jurisdiction that has squads; returns reports by jurisdiction code."""
    reports = {}
    for row in await connection.fetch(queries.JURISDICTIONS_WITH_SQUADS):
        reports[row["code"]] = await refresh(
            connection, settings=settings, jurisdiction_code=row["code"], engine=engine, engines=engines
        )
    return reports


async def covered_jurisdictions(
    connection: asyncpg.Connection | asyncpg.Pool, *, within: list[str] | None = None
) -> list[str]:
    """Codes of the jurisdictions with computed coverage (limited to ``within`` if given)."""
    codes = [r["code"] for r in await connection.fetch(queries.COVERED_JURISDICTIONS)]
    return codes if within is None else [c for c in codes if c in within]


def _shares(row: dict[str, Any]) -> dict[str, Any]:
    cells, area = row["cells"] or 0, row["area_m2"] or 0.0
    within = {}
    for i, minutes in enumerate(THRESHOLDS_MIN, start=1):
        within[f"{minutes}min"] = {
            "cells_pct": round(100.0 * row[f"cells_{i}"] / cells, 1) if cells else None,
            "area_pct": round(100.0 * row[f"area_{i}"] / area, 1) if area else None,
        }
    return {
        "cells": cells,
        "area_km2": round(area / 1e6, 3),
        "median_s": None if row["median_s"] is None else round(row["median_s"], 1),
        "max_s": None if row["max_s"] is None else round(row["max_s"], 1),
        "within": within,
    }


async def summary(
    connection: asyncpg.Connection | asyncpg.Pool, *, jurisdiction_code: str, layer: str = "enforcement"
) -> dict[str, Any] | None:
    """Share of cells and of area reachable within 15 / 30 / 60 min, per grid of ``layer``
    and for the whole jurisdiction; None when no coverage was computed."""
    run = await connection.fetchrow(queries.RUN_INFO, jurisdiction_code)
    if run is None:
        return None
    limits = [m * 60.0 for m in THRESHOLDS_MIN]
    total = await connection.fetchrow(queries.TOTAL, jurisdiction_code, *limits)
    grids = await connection.fetch(queries.PER_GRID, jurisdiction_code, layer, *limits)
    return {
        "jurisdiction": jurisdiction_code,
        "layer": layer,
        "computed_at": run["computed_at"],
        "h3_resolution": run["h3_resolution"],
        "road_network_id": run["network_id"],
        "thresholds_min": list(THRESHOLDS_MIN),
        "total": _shares(dict(total)),
        "grids": [
            {
                "code": g["code"],
                "name": g["name"],
                "name_zh": g["name_zh"],
                "squads": g["squads"] or [],
                **_shares(dict(g)),
            }
            for g in grids
        ],
    }
