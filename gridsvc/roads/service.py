"""Road networks: import into PostGIS (atomic replace), and the compact graph cache."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads import queries
from gridsvc.roads.cache import RoadGraph
from gridsvc.roads.graph import RoadNetwork, build_network, compact, fetch_network
from gridsvc.roads.speeds import load_speed_table
from gridsvc.settings import Settings

log = logging.getLogger("gridsvc.roads")
Progress = Callable[[str], None]
_COPY_CHUNK = 20_000


class RoadImportError(ValueError):
    """A road import was refused; the current roads are unchanged."""


@dataclass
class RoadImportResult:
    network_id: int
    cache_key: str
    cache_file: Path
    report: dict[str, Any]


async def clip_area(
    connection: asyncpg.Connection, *, jurisdiction_code: str, buffer_m: float
) -> BaseGeometry:
    """A jurisdiction's boundary grown by ``buffer_m`` metres (EPSG:4326).

    Roads just outside the boundary are kept because the fastest way between two places of
    a county often leaves it for a while.
    """
    found = await jurisdictions.get(connection, code=jurisdiction_code)
    if found is None:
        raise RoadImportError(f"unknown jurisdiction {jurisdiction_code!r} to clip to")
    boundary = found["boundary"]
    if boundary is None:  # a city drawn as its counties: their union
        boundary = await connection.fetchval(queries.DESCENDANTS_BOUNDARY, jurisdiction_code)
    if boundary is None:
        raise RoadImportError(
            f"jurisdiction {jurisdiction_code!r} has no boundary (nor have its sub-jurisdictions) to clip to"
        )
    if buffer_m <= 0:
        return boundary
    centre = boundary.centroid
    local = pyproj.CRS.from_proj4(
        f"+proj=tmerc +lat_0={centre.y} +lon_0={centre.x} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    )
    forward = pyproj.Transformer.from_crs(4326, local, always_xy=True)
    back = pyproj.Transformer.from_crs(local, 4326, always_xy=True)
    metric = shapely.transform(boundary, lambda xy: np.column_stack(forward.transform(*xy.T)))
    grown = metric.buffer(buffer_m, quad_segs=4)
    return shapely.transform(grown, lambda xy: np.column_stack(back.transform(*xy.T)))


async def import_roads(
    connection: asyncpg.Connection,
    *,
    settings: Settings,
    source: Path | None = None,
    place: str | None = None,
    jurisdiction: str | None = None,
    progress: Progress | None = None,
) -> RoadImportResult:
    """Build the drivable graph of an extract (or a place, downloaded) and make it the
    current network of ``jurisdiction`` (clipped to its boundary plus
    ``GRIDSVC_ROAD_CLIP_BUFFER_M``); other jurisdictions' networks are left alone.

    Without ``jurisdiction`` the network is unclipped and is the installation's: it serves
    every jurisdiction that has no network of its own (nor an ancestor with one).
    The graph is built before anything is written; a failure (no drivable road, unreadable
    file) leaves the current roads in place. Nodes and edges go to PostGIS in one
    transaction that also retires the jurisdiction's previous network, and the compact CSR
    cache is written for the ETA engine (every app process reloads on the NOTIFY).

    Raises
    ------
    RoadImportError, NoDrivableRoadsError, SpeedTableError, FileNotFoundError
    """
    if (source is None) == (place is None):
        raise RoadImportError("give either an extract file or a place name")
    table = load_speed_table(settings.road_speeds_file)
    clip = clip_id = owner_id = None
    if jurisdiction:
        clip = await clip_area(
            connection, jurisdiction_code=jurisdiction, buffer_m=settings.road_clip_buffer_m
        )
        clip_id = owner_id = (await jurisdictions.get(connection, code=jurisdiction) or {}).get("id")

    if source is not None:
        network = await asyncio.to_thread(build_network, source, table, clip=clip, progress=progress)
    else:
        assert place is not None
        network = await asyncio.to_thread(fetch_network, place, table, clip=clip, progress=progress)
    cache_key = uuid.uuid4().hex
    graph = await asyncio.to_thread(compact, network, cache_key=cache_key)
    report = {
        **network.report,
        "cache": {
            "routing_bytes_per_edge": round(graph.routing_nbytes() / max(graph.edge_count, 1), 1),
            "geometry_bytes": graph.geometry_nbytes(),
        },
    }
    if progress:
        progress("write PostGIS")
    async with connection.transaction():
        await connection.execute(queries.LOCK_JURISDICTION, owner_id)
        network_id: int = await connection.fetchval(
            queries.INSERT_NETWORK,
            cache_key,
            str(source or f"osmnx:{place}"),
            clip_id,
            network.node_count,
            network.edge_count,
            report,
            owner_id,
        )
        await _copy_network(connection, network_id, network)
        retired = [r["id"] for r in await connection.fetch(queries.RETIRE_CURRENT, owner_id)]
        if retired:
            await connection.execute(queries.DELETE_EDGES, retired)
            await connection.execute(queries.DELETE_NODES, retired)
        await connection.execute(queries.MAKE_CURRENT, network_id)
        cache_file = await asyncio.to_thread(graph.save, settings.road_cache_dir)
    return RoadImportResult(network_id=network_id, cache_key=cache_key, cache_file=cache_file, report=report)


async def _copy_network(connection: asyncpg.Connection, network_id: int, network: RoadNetwork) -> None:
    points = shapely.set_srid(shapely.points(network.node_lng, network.node_lat), 4326)
    nodes = zip(
        [network_id] * network.node_count,
        range(network.node_count),
        network.node_osm_id.tolist(),
        points,
        strict=True,
    )
    await connection.copy_records_to_table("road_nodes", records=list(nodes), columns=queries.NODE_COLUMNS)
    lines = shapely.set_srid(network.edge_geometry, 4326)
    maxspeed = [None if np.isnan(v) else float(v) for v in network.edge_maxspeed.tolist()]
    rows = list(
        zip(
            [network_id] * network.edge_count,
            range(network.edge_count),
            network.edge_u.tolist(),
            network.edge_v.tolist(),
            network.edge_way.tolist(),
            network.edge_class.tolist(),
            network.edge_name.tolist(),
            network.edge_oneway.tolist(),
            maxspeed,
            network.edge_speed_kmh.tolist(),
            network.edge_speed_source.tolist(),
            network.edge_urban.tolist(),
            network.edge_length.tolist(),
            network.edge_time.tolist(),
            lines,
            strict=True,
        )
    )
    for start in range(0, len(rows), _COPY_CHUNK):
        await connection.copy_records_to_table(
            "road_edges", records=rows[start : start + _COPY_CHUNK], columns=queries.EDGE_COLUMNS
        )


async def current_network(
    connection: asyncpg.Connection | asyncpg.Pool, *, jurisdiction: str | None = None
) -> dict[str, Any] | None:
    """The network ``jurisdiction``'s scenes and squads use: its own, else its nearest
    ancestor's, else the installation's. Without ``jurisdiction``: the installation's, else
    the only current network (None when there are several)."""
    if jurisdiction is not None:
        row = await connection.fetchrow(queries.NETWORK_FOR, jurisdiction)
        return dict(row) if row else None
    rows = await connection.fetch(queries.CURRENT_NETWORKS)
    unowned = [r for r in rows if r["jurisdiction_id"] is None]
    if unowned:
        return dict(unowned[0])
    return dict(rows[0]) if len(rows) == 1 else None


async def current_networks(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Every current network (one per jurisdiction that has its own, and the installation's)."""
    return [dict(r) for r in await connection.fetch(queries.CURRENT_NETWORKS)]


async def networks_by_jurisdiction(connection: asyncpg.Connection | asyncpg.Pool) -> dict[str, int | None]:
    """Jurisdiction code -> the id of the network it uses (see :func:`current_network`)."""
    return {r["code"]: r["network_id"] for r in await connection.fetch(queries.NETWORK_BY_JURISDICTION)}


async def load_graph(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    cache_dir: Path,
    network: dict[str, Any] | None = None,
) -> RoadGraph | None:
    """A network's compact graph (default: :func:`current_network`): from its cache file,
    else rebuilt from PostGIS (and the file written). None when no roads were imported."""
    if network is None:
        network = await current_network(connection)
    if network is None:
        return None
    graph = await asyncio.to_thread(RoadGraph.load, cache_dir, network["cache_key"])
    if graph is not None:
        return graph
    log.info("road cache %s missing; rebuilding from PostGIS", network["cache_key"])
    nodes = await connection.fetch(queries.NETWORK_NODES, network["id"])
    edges = await connection.fetch(queries.NETWORK_EDGES, network["id"])
    return await asyncio.to_thread(_rebuild, network["cache_key"], nodes, edges, cache_dir)


def _rebuild(cache_key: str, nodes: list[Any], edges: list[Any], cache_dir: Path) -> RoadGraph:
    lines = shapely.from_wkb([bytes(e["wkb"]) for e in edges])
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    ptr = np.zeros(len(edges) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(edges)), out=ptr[1:])
    graph = RoadGraph.build(
        edge_u=np.array([e["source"] for e in edges], dtype=np.int32),
        edge_v=np.array([e["target"] for e in edges], dtype=np.int32),
        edge_time=np.array([e["time_s"] for e in edges], dtype=np.float64),
        edge_length=np.array([e["length_m"] for e in edges], dtype=np.float64),
        edge_oneway=np.array([e["oneway"] for e in edges], dtype=bool),
        node_lng=np.array([n["lng"] for n in nodes], dtype=np.float64),
        node_lat=np.array([n["lat"] for n in nodes], dtype=np.float64),
        geom_ptr=ptr,
        geom_xy=coords,
        edge_class=np.array([e["highway"] for e in edges], dtype=object),
        cache_key=cache_key,
    )
    graph.save(cache_dir)
    return graph
