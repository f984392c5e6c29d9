"""Visit points and travel matrices over our own road graph (pure: no database).

A visit point is a point of the community grid on the road network, so that the squad's
car can stop there: the grid's point on surface snapped to the nearest road when that road
point lies inside the grid, else the road node inside the grid nearest to the point on
surface, else (a grid with no road at all) the point on surface itself, reached on foot
(the engine counts the off-road leg at walking speed).
"""

from __future__ import annotations

import copy

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from gridsvc.eta.engine import EtaEngine, Origins, Snap, TreeCache


def planning_engine(engine: EtaEngine, *, trees: int = 64) -> EtaEngine:
    """The same graph and snapper with a tree cache of its own: planning a county's week
    computes two trees per visit point, which must not evict the live squads' trees that
    dispatch relies on (``EtaEngine.trees`` is an LRU of limited size)."""
    clone = copy.copy(engine)
    clone.trees = TreeCache(engine.graph, capacity=trees)
    # Plans need road metres between every pair of visits, which trees give for free and
    # the city-scale CCH only for the fastest few: planning always uses trees.
    clone.cch, clone.method = None, "trees"
    return clone


def visit_points(
    engine: EtaEngine,
    polygons: list[shapely.Geometry],
    lng: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """One visit point per grid (WGS84) and how it was chosen (``road``, ``node``,
    ``surface``)."""
    snap = engine.snapper.snap(np.asarray(lng, float), np.asarray(lat, float))
    out_lng, out_lat = np.array(lng, float), np.array(lat, float)
    rules = []
    graph = engine.graph
    for i, polygon in enumerate(polygons):
        if np.isfinite(snap.lng[i]) and shapely.contains_xy(polygon, snap.lng[i], snap.lat[i]):
            out_lng[i], out_lat[i] = snap.lng[i], snap.lat[i]
            rules.append("road")
            continue
        west, south, east, north = polygon.bounds
        box = np.flatnonzero(
            (graph.node_lng >= west)
            & (graph.node_lng <= east)
            & (graph.node_lat >= south)
            & (graph.node_lat <= north)
        )
        inside = (
            box[shapely.contains_xy(polygon, graph.node_lng[box], graph.node_lat[box])] if len(box) else box
        )
        if len(inside):
            scale = np.cos(np.radians(lat[i]))
            nearest = inside[
                np.argmin(
                    np.hypot((graph.node_lng[inside] - lng[i]) * scale, graph.node_lat[inside] - lat[i])
                )
            ]
            out_lng[i], out_lat[i] = graph.node_lng[nearest], graph.node_lat[nearest]
            rules.append("node")
        else:
            rules.append("surface")
    return out_lng, out_lat, rules


# Bounded searches: a squad's points lie within a few kilometres of each other, so a search
# from each point stops at a time bound from the points' crow-fly extent at a slow town speed
# (2x the extent at 20 km/h, + 5 min); when some pair is not reached well within it, every
# tree is searched again without bound, so the matrix is always the full-tree one (a test
# holds them equal). A full tree visits the whole graph, most of which no patrol of that
# squad touches (benchmarks/patrol.py: matrix time on a 100k-node graph, README).
_SLOW_MPS = 20 / 3.6
_DETOUR = 2.0
_MARGIN_S = 300.0


def _bounded_origins(engine: EtaEngine, snap: Snap, limit_s: float) -> Origins:
    exits = engine.exits(snap)
    nodes = sorted({node for ways in exits for node, _s, _m in ways})
    trees = engine.trees
    times, preds = dijkstra(trees._csr, directed=True, indices=nodes, return_predecessors=True, limit=limit_s)
    found = {
        node: (times[i].astype(np.float32), trees._metres(preds[i], node)) for i, node in enumerate(nodes)
    }
    return Origins(
        snap=snap,
        ways=[[(node, out_s, out_m, *found[node]) for node, out_s, out_m in ways] for ways in exits],
    )


def travel_matrix(
    engine: EtaEngine, lng: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Seconds and metres between every pair of points (row: from, column: to), off-road
    legs included; the diagonal is zero."""
    snap = engine.snapper.snap(np.asarray(lng, float), np.asarray(lat, float))
    scale = np.cos(np.radians(np.nanmean(lat))) if len(lat) else 1.0
    extent_m = float(np.hypot(np.ptp(lng) * scale, np.ptp(lat)) * 111_320) if len(lng) else 0.0
    limit_s = _DETOUR * extent_m / _SLOW_MPS + _MARGIN_S
    result = engine.matrix(_bounded_origins(engine, snap, limit_s), snap)
    off = ~np.eye(len(snap), dtype=bool)
    # Exact when every pair's drive fits the bound with room for the partial edges at both
    # ends (a way out by the other end of an edge could otherwise hide beyond the bound).
    graph = engine.graph
    twin = graph.edge_twin[snap.edge]
    edge_s = float(
        np.max(np.maximum(graph.edge_time[snap.edge], np.where(twin >= 0, graph.edge_time[twin], 0)))
    )
    if not (len(snap) < 2 or float(np.max(result.drive_s[off])) + 2 * edge_s <= limit_s):
        result = engine.matrix(snap, snap)  # some pair lies beyond the bound: full trees
    metres = result.drive_m + snap.offroad_m[:, None] + snap.offroad_m[None, :]
    seconds = np.array(result.total_s, dtype=float)
    np.fill_diagonal(seconds, 0.0)
    np.fill_diagonal(metres, 0.0)
    return seconds, metres


def route_line(engine: EtaEngine, lng: list[float], lat: list[float]) -> list[list[float]]:
    """The road polyline through the points in order (WGS84 ``[lng, lat]`` pairs)."""
    snap = engine.snapper.snap(np.asarray(lng, float), np.asarray(lat, float))
    line: list[list[float]] = [[lng[0], lat[0]]]
    for a in range(len(lng) - 1):
        leg = engine.route(snap.take([a]), snap.take([a + 1]))
        line += leg.tolist()
        line.append([lng[a + 1], lat[a + 1]])
    return line
