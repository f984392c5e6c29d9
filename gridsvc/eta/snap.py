"""Points placed on the road graph: nearest-edge snapping in a local metric projection.

Points are snapped to the nearest road *edge* (not node) in a local transverse Mercator
projection, so a scene in the middle of a long road joins it where it is. Coordinates are
WGS84 (EPSG:4326) degrees, distances metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
import shapely.ops
from numpy.typing import NDArray

from gridsvc.roads.cache import RoadGraph


def _ranges(counts: NDArray[np.integer]) -> NDArray[np.int64]:
    """``[0..c0-1, 0..c1-1, ...]`` for counts ``[c0, c1, ...]``."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass(frozen=True)
class Snap:
    """Points placed on the road graph (arrays, one entry per point).

    Attributes
    ----------
    edge : int32 array
        Canonical edge (of a two-way pair, the one stored; see ``RoadGraph.edge_twin``).
    frac : float64 array
        Position along the canonical edge, 0 at its ``u`` and 1 at its ``v``.
    offroad_m : float64 array
        Metres from the point to the road.
    lng, lat : float64 arrays
        The snapped point on the road, WGS84 degrees.
    """

    edge: NDArray[np.int32]
    frac: NDArray[np.float64]
    offroad_m: NDArray[np.float64]
    lng: NDArray[np.float64]
    lat: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.edge)

    def take(self, index: NDArray[np.intp] | list[int]) -> Snap:
        return Snap(
            self.edge[index], self.frac[index], self.offroad_m[index], self.lng[index], self.lat[index]
        )

    @staticmethod
    def concat(snaps: list[Snap]) -> Snap:
        if not snaps:
            empty = np.empty(0)
            return Snap(np.empty(0, dtype=np.int32), empty, empty, empty, empty)
        return Snap(
            *(
                np.concatenate([getattr(s, name) for s in snaps])
                for name in ("edge", "frac", "offroad_m", "lng", "lat")
            )
        )


class Snapper:
    """Nearest-edge search over one direction of every road (shapely STRtree, metres)."""

    def __init__(self, graph: RoadGraph) -> None:
        self.graph = graph
        twin = graph.edge_twin
        self.canonical = np.flatnonzero((twin < 0) | (np.arange(len(twin)) < twin))
        # (west, south, east, north) of the graph's nodes: where "distance to the nearest
        # road" means something (a point beyond has roads the graph does not hold).
        self.bounds = (
            (
                float(graph.node_lng.min()),
                float(graph.node_lat.min()),
                float(graph.node_lng.max()),
                float(graph.node_lat.max()),
            )
            if graph.node_count
            else None
        )
        centre_lng = float(np.median(graph.node_lng)) if graph.node_count else 0.0
        centre_lat = float(np.median(graph.node_lat)) if graph.node_count else 0.0
        crs = pyproj.CRS.from_proj4(
            f"+proj=tmerc +lat_0={centre_lat} +lon_0={centre_lng} "
            "+k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        self._forward = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
        self._inverse = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
        starts, ends = graph.geom_ptr[self.canonical], graph.geom_ptr[self.canonical + 1]
        counts = ends - starts
        take = np.repeat(starts, counts) + _ranges(counts)
        x, y = self._forward.transform(graph.geom_xy[take, 0], graph.geom_xy[take, 1])
        self.lines = shapely.linestrings(
            np.column_stack([x, y]), indices=np.repeat(np.arange(len(counts)), counts)
        )
        self.tree = shapely.STRtree(self.lines)
        # tree position -> canonical edge
        self._edge_of = self.canonical.astype(np.int32)
        self._position_of = np.full(graph.edge_count, -1, dtype=np.int64)
        self._position_of[self.canonical] = np.arange(len(self.canonical))

    def snap(self, lng: NDArray[np.float64], lat: NDArray[np.float64]) -> Snap:
        """Snap WGS84 points to their nearest road edge (exact nearest, any distance).

        A point the local projection cannot place (a quarter of the globe away from the
        graph, e.g. a GPS ping at 0°, 99.5° E for a Liechtenstein graph) gets an infinite
        ``offroad_m``, a placeholder edge and NaN road coordinates: one bad point must not
        fail the others of its batch. Callers treat a non-finite or too long ``offroad_m``
        as "no road within reach" (see :func:`reachable`).
        """
        x, y = self._forward.transform(np.asarray(lng, float), np.asarray(lat, float))
        x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        count = len(x)
        edge = np.zeros(count, dtype=np.int32)
        frac = np.zeros(count)
        offroad = np.full(count, np.inf)
        s_lng, s_lat = np.full(count, np.nan), np.full(count, np.nan)
        placeable = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if len(placeable) and len(self.lines):
            points = shapely.points(x[placeable], y[placeable])
            found, distance = self.tree.query_nearest(points, return_distance=True, all_matches=False)
            points, rows = points[found[0]], placeable[found[0]]
            lines = self.lines[found[1]]
            along = np.nan_to_num(shapely.line_locate_point(lines, points, normalized=True))
            on_road = shapely.line_interpolate_point(lines, along, normalized=True)
            road_lng, road_lat = self._inverse.transform(shapely.get_x(on_road), shapely.get_y(on_road))
            edge[rows] = self._edge_of[found[1]]
            frac[rows] = along
            offroad[rows] = distance
            s_lng[rows], s_lat[rows] = road_lng, road_lat
        return Snap(edge=edge, frac=frac, offroad_m=offroad, lng=s_lng, lat=s_lat)

    def node_distances(self, lng: float, lat: float) -> NDArray[np.float64]:
        """Metres from a WGS84 point to every node (what node snapping would walk)."""
        x, y = self._forward.transform(lng, lat)
        nx_, ny_ = self._forward.transform(self.graph.node_lng, self.graph.node_lat)
        return np.hypot(np.asarray(nx_) - x, np.asarray(ny_) - y)

    def piece(self, edge: int, start: float, end: float) -> NDArray[np.float64]:
        """WGS84 coordinates of a canonical edge between two fractions (``start > end``
        gives the piece reversed, as driven on the twin)."""
        line = self.lines[self._position_of[edge]]
        low, high = min(start, end), max(start, end)
        piece = shapely.ops.substring(line, low, high, normalized=True)
        coords = shapely.get_coordinates(piece)
        if start > end:
            coords = coords[::-1]
        lng, lat = self._inverse.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])


def reachable(snap: Snap, max_offroad_m: float) -> NDArray[np.bool_]:
    """Per point: is a road within ``max_offroad_m`` metres (False for unplaceable ones)."""
    offroad: NDArray[np.bool_] = np.isfinite(snap.offroad_m) & (snap.offroad_m <= max_offroad_m)
    return offroad
