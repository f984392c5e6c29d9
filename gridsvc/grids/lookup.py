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
import shapely.ops
from h3.api import basic_int as h3_int
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gridsvc.geo.shapes import geodesic_distance_m

NONE = -1
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
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _lng_scale: float | None = field(default=None, repr=False)
    _scaled_geometries: NDArray[np.object_] | None = field(default=None, repr=False)

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
            layer=layer, resolution=resolution,
            cells=np.array(ordered, dtype=np.int64), code=code, candidate_ptr=ptr,
            candidate_grid=np.array(flat, dtype=np.int64), grids=list(grids),
            geometries=geometry_array,
        )

    def locate(self, cells: NDArray[np.int64], lng: NDArray[np.float64],
               lat: NDArray[np.float64]) -> NDArray[np.int64]:
        """Grid position for each point (``NONE`` where no grid of the layer contains it).

        ``cells`` must be the points' H3 cells at ``self.resolution``.
        """
        result = np.full(len(cells), NONE, dtype=np.int64)
        if len(self.cells) == 0 or len(cells) == 0:
            return result
        slot = np.searchsorted(self.cells, cells)
        slot_clipped = np.minimum(slot, len(self.cells) - 1)
        known = self.cells[slot_clipped] == cells
        answer = np.where(known, self.code[slot_clipped], NONE)
        result[:] = np.where(answer >= 0, answer, NONE)
        straddling = np.flatnonzero(answer == _STRADDLES)
        if len(straddling):
            self._decide_straddling(straddling, slot_clipped[straddling], lng, lat, result)
        return result

    def _decide_straddling(self, points: NDArray[np.int64], slots: NDArray[np.int64],
                           lng: NDArray[np.float64], lat: NDArray[np.float64],
                           result: NDArray[np.int64]) -> None:
        starts = self.candidate_ptr[slots]
        counts = self.candidate_ptr[slots + 1] - starts
        pair_point = np.repeat(points, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_grid = self.candidate_grid[np.repeat(starts, counts) + offsets]
        order = np.argsort(pair_grid, kind="stable")
        pair_point, pair_grid = pair_point[order], pair_grid[order]
        boundaries = np.flatnonzero(np.diff(pair_grid)) + 1
        best = np.full(len(result), np.iinfo(np.int64).max, dtype=np.int64)
        for chunk_points, chunk_grids in zip(np.split(pair_point, boundaries),
                                             np.split(pair_grid, boundaries), strict=True):
            grid = int(chunk_grids[0])
            inside = shapely.contains_xy(self.geometries[grid], lng[chunk_points],
                                         lat[chunk_points])
            hits = chunk_points[inside]
            # Overlapping grids (a data error the import reports): the lowest position wins,
            # so the answer is the same whichever order the batch came in.
            np.minimum.at(best, hits, grid)
        decided = best[points] != np.iinfo(np.int64).max
        result[points[decided]] = best[points[decided]]

    def nearest(self, lng: float, lat: float) -> tuple[GridRef, float] | None:
        """The grid nearest to a point outside every grid, with the distance in metres.

        The candidate is chosen in a lon/lat plane scaled by cos(latitude), then the
        distance to its nearest boundary point is measured on the WGS84 ellipsoid.
        """
        if len(self.grids) == 0:
            return None
        if self._tree is None:
            self._scaled_geometries = self._scaled(self.geometries)
            self._tree = shapely.STRtree(self._scaled_geometries)
        point = self._scaled(np.array([shapely.Point(lng, lat)], dtype=object))[0]
        index = int(self._tree.nearest(point))
        # Nearest point in the scaled plane (close to metric locally), then unscaled.
        target = shapely.ops.nearest_points(self._scaled_geometries[index], point)[0]
        assert self._lng_scale is not None
        return self.grids[index], geodesic_distance_m(lng, lat, target.x / self._lng_scale,
                                                      target.y)

    def _scaled(self, geometries: NDArray[np.object_]) -> NDArray[np.object_]:
        if self._lng_scale is None:
            centre = shapely.union_all(shapely.centroid(self.geometries)).centroid
            self._lng_scale = float(np.cos(np.radians(centre.y)))
        scale = self._lng_scale
        return shapely.transform(geometries, lambda xy: xy * np.array([scale, 1.0]))


def cells_of(lng: NDArray[np.float64], lat: NDArray[np.float64], resolution: int) -> NDArray[np.int64]:
    """H3 cells (integers) of lon/lat points in degrees (EPSG:4326)."""
    to_cell = h3_int.latlng_to_cell
    return np.fromiter(
        (to_cell(y, x, resolution) for x, y in zip(lng.tolist(), lat.tolist(), strict=True)),
        dtype=np.int64, count=len(lng),
    )


@dataclass
class Overlay:
    """Every layer's index; what the API and the router look points up in."""

    layers: dict[str, LayerIndex]
    generation: int = 0

    def locate(self, lng: NDArray[np.float64],
               lat: NDArray[np.float64]) -> dict[str, NDArray[np.int64]]:
        """Per layer name, the grid position of every point (``NONE`` for none)."""
        cells_by_resolution: dict[int, NDArray[np.int64]] = {}
        answers = {}
        for name, index in self.layers.items():
            if index.resolution not in cells_by_resolution:
                cells_by_resolution[index.resolution] = cells_of(lng, lat, index.resolution)
            answers[name] = index.locate(cells_by_resolution[index.resolution], lng, lat)
        return answers
