"""In-memory point lookup over the H3 overlay: point -> grid of a layer, exact at borders.

The index is built from the ``grid_cells`` rows of the current layer versions. A point's
cell is found by binary search in a sorted ``int64`` array; a cell wholly inside one grid
answers at once, a straddling cell is decided by ``shapely.contains_xy`` on its candidate
polygons (grouped per polygon so each polygon is tested once per batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from h3ronpy.vector import coordinates_to_cells
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gridsvc.geo.shapes import GEOD

NONE = -1
_PIECE_VERTICES = 16
_STRADDLES = -2


@dataclass(frozen=True)
class GridRef:
    """What a lookup answers about one grid (everything the API needs, no geometry)."""

    id: int
    code: str
    name: str
    name_zh: str | None
    layer: str
    jurisdiction_code: str
    responsible: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The grid as the API shows it (JSON-ready)."""
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "name_zh": self.name_zh,
            "layer": self.layer,
            "jurisdiction": self.jurisdiction_code,
            "responsible": self.responsible,
        }


@dataclass
class LayerIndex:
    """Lookup structure for one layer name (all jurisdictions' current versions merged).

    Attributes
    ----------
    cells : int64 array, sorted
        H3 cells (as integers) of the layer's cover.
    code : int64 array
        Per cell: grid position (>= 0), ``NONE`` (explicitly no grid) or straddling.
    candidate_ptr, candidate_grid : int64 arrays
        CSR lists of candidate grid positions per straddling cell.
    grids : list of GridRef
    geometries : array of shapely geometries, lon/lat EPSG:4326, prepared.
    """

    layer: str
    resolution: int
    cells: NDArray[np.int64]
    code: NDArray[np.int64]
    candidate_ptr: NDArray[np.int64]
    candidate_grid: NDArray[np.int64]
    grids: list[GridRef]
    geometries: NDArray[np.object_]
    summaries: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _pieces: NDArray[np.object_] | None = field(default=None, repr=False)
    _piece_owner: NDArray[np.int64] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        *,
        layer: str,
        resolution: int,
        grids: Sequence[GridRef],
        geometries: Sequence[BaseGeometry],
        cell_rows: Iterable[tuple[int, int | None, Sequence[int]]],
    ) -> LayerIndex:
        """Build from ``(cell, grid_id or None, candidate_grid_ids)`` rows.

        Rows of several layer versions (one per jurisdiction) may name the same border cell;
        they are merged: one interior claim and nothing else keeps the grid, any other mix
        becomes a straddling cell whose candidates are every grid named.
        """
        position_of = {grid.id: i for i, grid in enumerate(grids)}
        claims: dict[int, tuple[set[int], set[int]]] = {}
        for cell, grid_id, candidate_ids in cell_rows:
            whole, partial = claims.setdefault(cell, (set(), set()))
            if grid_id is not None:
                whole.add(position_of[grid_id])
            partial.update(position_of[g] for g in candidate_ids)
        ordered = sorted(claims)
        code = np.empty(len(ordered), dtype=np.int64)
        ptr = np.zeros(len(ordered) + 1, dtype=np.int64)
        flat: list[int] = []
        for i, cell in enumerate(ordered):
            whole, partial = claims[cell]
            if len(whole) == 1 and not partial:
                code[i] = next(iter(whole))
            elif not whole and not partial:
                code[i] = NONE
            else:
                code[i] = _STRADDLES
                flat.extend(sorted(whole | partial))
            ptr[i + 1] = len(flat)
        geometry_array = np.array(list(geometries), dtype=object)
        shapely.prepare(geometry_array)
        return cls(
            layer=layer,
            resolution=resolution,
            cells=np.array(ordered, dtype=np.int64),
            code=code,
            candidate_ptr=ptr,
            candidate_grid=np.array(flat, dtype=np.int64),
            grids=list(grids),
            geometries=geometry_array,
            summaries=[grid.summary() for grid in grids],
        )

    def locate(
        self, cells: NDArray[np.int64], lng: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Grid position for each point (``NONE`` where no grid of the layer contains it).

        ``cells`` must be the points' H3 cells at ``self.resolution``.
        """
        return self.locate_slots(self.slots_of(cells), lng, lat)

    def slots_of(self, cells: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each cell in this index, -1 for cells the layer's cover does not have."""
        if len(self.cells) == 0:
            return np.full(len(cells), -1, dtype=np.int64)
        slot = np.minimum(np.searchsorted(self.cells, cells), len(self.cells) - 1)
        return np.where(self.cells[slot] == cells, slot, -1)

    def locate_slots(
        self, slots: NDArray[np.int64], lng: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Like :meth:`locate`, from rows found by :meth:`slots_of` (-1: not covered)."""
        known = slots >= 0
        answer = np.where(known, self.code[np.where(known, slots, 0)], NONE)
        result = np.where(answer >= 0, answer, NONE)
        straddling = np.flatnonzero(answer == _STRADDLES)
        if len(straddling):
            self._decide_straddling(straddling, slots[straddling], lng, lat, result)
        return result

    def _decide_straddling(
        self,
        points: NDArray[np.int64],
        slots: NDArray[np.int64],
        lng: NDArray[np.float64],
        lat: NDArray[np.float64],
        result: NDArray[np.int64],
    ) -> None:
        starts = self.candidate_ptr[slots]
        counts = self.candidate_ptr[slots + 1] - starts
        pair_point = np.repeat(points, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_grid = self.candidate_grid[np.repeat(starts, counts) + offsets]
        order = np.argsort(pair_grid, kind="stable")
        pair_point, pair_grid = pair_point[order], pair_grid[order]
        boundaries = np.flatnonzero(np.diff(pair_grid)) + 1
        best = np.full(len(result), np.iinfo(np.int64).max, dtype=np.int64)
        for chunk_points, chunk_grids in zip(
            np.split(pair_point, boundaries), np.split(pair_grid, boundaries), strict=True
        ):
            grid = int(chunk_grids[0])
            inside = shapely.contains_xy(self.geometries[grid], lng[chunk_points], lat[chunk_points])
            hits = chunk_points[inside]
            # Overlapping grids (a data error the import reports): the lowest position wins,
            # so the answer is the same whichever order the batch came in.
            np.minimum.at(best, hits, grid)
        decided = best[points] != np.iinfo(np.int64).max
        result[points[decided]] = best[points[decided]]

    def nearest(self, lng: float, lat: float) -> tuple[GridRef, float] | None:
        """The grid nearest to a point outside every grid, with the distance in metres."""
        if len(self.grids) == 0:
            return None
        positions, distances = self.nearest_many(np.array([lng]), np.array([lat]))
        if positions[0] < 0:
            return None
        return self.grids[int(positions[0])], float(distances[0])

    def nearest_many(
        self, lng: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For each point, the nearest grid's position and the distance to it in metres.

        The grid and the nearest point on it are chosen in spherical Mercator (locally metric
        at any latitude); the distance is then measured on the WGS84 ellipsoid. Meant for
        points outside every grid (for a point inside one it gives the distance to that
        grid's boundary).
        """
        if self._tree is None:
            self._build_boundary_tree()
        assert self._tree is not None
        assert self._piece_owner is not None and self._pieces is not None
        points = shapely.points(_to_mercator(np.column_stack([lng, lat])))
        found, pieces = self._tree.query_nearest(points, all_matches=False)
        # One answer per point that has one (``found`` says which): a point the tree cannot
        # place gets -1 and an infinite distance instead of shifting every later answer.
        owners = np.full(len(lng), -1, dtype=np.int64)
        distances = np.full(len(lng), np.inf)
        lines = shapely.shortest_line(points[found], self._pieces[pieces])
        ends = shapely.get_coordinates(shapely.get_point(lines, 1))
        end_lng, end_lat = _from_mercator(ends[:, 0], ends[:, 1])
        _, _, measured = GEOD.inv(lng[found], lat[found], end_lng, end_lat)
        owners[found] = self._piece_owner[pieces]
        distances[found] = measured
        return owners, distances

    def _build_boundary_tree(self) -> None:
        """An R-tree over short pieces of every grid's boundary (scaled plane).

        Whole polygons make each nearest-neighbour distance walk thousands of vertices; short
        pieces keep every candidate cheap (measured: about 10x faster on the demo layers).
        """
        scaled = self._scaled(self.geometries)
        pieces: list[shapely.Geometry] = []
        owners: list[int] = []
        for position, geometry in enumerate(scaled):
            for ring in shapely.get_parts(shapely.boundary(geometry)):
                coords = shapely.get_coordinates(ring)
                for start in range(0, max(len(coords) - 1, 1), _PIECE_VERTICES - 1):
                    chunk = coords[start : start + _PIECE_VERTICES]
                    if len(chunk) >= 2:
                        pieces.append(shapely.linestrings(chunk))
                        owners.append(position)
        self._pieces = np.array(pieces, dtype=object)
        self._piece_owner = np.array(owners, dtype=np.int64)
        self._tree = shapely.STRtree(self._pieces)

    def _scaled(self, geometries: NDArray[np.object_]) -> NDArray[np.object_]:
        return shapely.transform(geometries, _to_mercator)


# Mercator sends the poles to infinity, and an infinite point has no nearest neighbour (a
# polar lookup failed a whole batch): latitudes are clamped to this for the plane only.
_MERCATOR_MAX_LAT = 89.9


def _to_mercator(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Spherical Mercator (radians): conformal, so locally metric at every latitude — one
    layer may hold grids of jurisdictions at 25° and 47° N."""
    out = np.radians(xy)
    lat = np.clip(out[:, 1], -np.radians(_MERCATOR_MAX_LAT), np.radians(_MERCATOR_MAX_LAT))
    out[:, 1] = np.log(np.tan(np.pi / 4 + lat / 2))
    return out


def _from_mercator(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return np.degrees(x), np.degrees(2 * np.arctan(np.exp(y)) - np.pi / 2)


def cells_of(lng: NDArray[np.float64], lat: NDArray[np.float64], resolution: int) -> NDArray[np.int64]:
    """H3 cells (as int64) of lon/lat points in degrees (EPSG:4326).

    h3ronpy computes them vectorised in Rust, about three times faster than a Python loop
    over h3-py for large batches, with identical cells.
    """
    if len(lng) == 0:
        return np.empty(0, dtype=np.int64)
    cells = coordinates_to_cells(
        np.ascontiguousarray(lat, dtype=np.float64), np.ascontiguousarray(lng, dtype=np.float64), resolution
    )
    return np.asarray(cells.to_numpy()).view(np.int64)


@dataclass
class Overlay:
    """Every layer's index; what the API and the router look points up in.

    The layers of one resolution share a sorted union of their cells, so a batch needs a
    single binary search per point whatever the number of layers.
    """

    layers: dict[str, LayerIndex]
    generation: int = 0
    _union: dict[int, tuple[NDArray[np.int64], dict[str, NDArray[np.int64]]]] = field(
        default_factory=dict, repr=False
    )

    def _union_of(self, resolution: int) -> tuple[NDArray[np.int64], dict[str, NDArray[np.int64]]]:
        if resolution not in self._union:
            members = {n: i for n, i in self.layers.items() if i.resolution == resolution}
            union = np.unique(np.concatenate([i.cells for i in members.values()]))
            self._union[resolution] = (union, {n: i.slots_of(union) for n, i in members.items()})
        return self._union[resolution]

    def locate(self, lng: NDArray[np.float64], lat: NDArray[np.float64]) -> dict[str, NDArray[np.int64]]:
        """Per layer name, the grid position of every point (``NONE`` for none)."""
        answers: dict[str, NDArray[np.int64]] = {}
        for resolution in sorted({i.resolution for i in self.layers.values()}):
            union, layer_slots = self._union_of(resolution)
            cells = cells_of(lng, lat, resolution)
            slot = np.minimum(np.searchsorted(union, cells), len(union) - 1)
            covered = union[slot] == cells
            for name, slots_in_layer in layer_slots.items():
                slots = np.where(covered, slots_in_layer[slot], -1)
                answers[name] = self.layers[name].locate_slots(slots, lng, lat)
        return answers
