"""Cover a layer's grids with H3 cells, marking the cells that straddle a grid border.

A cell is *interior* to a grid when the grid contains the whole hexagon grown by a small
safety margin; only then may a lookup answer from the cell alone. Every other cell that
touches a grid (within the margin) *straddles*: its lookups are decided by an exact
point-in-polygon test on its few candidate grids. The margin covers the difference between
H3's own point-to-cell assignment (great-circle cell edges) and the straight lon/lat edges
of the hexagon drawn here, which at resolution 10 is below a millimetre; 1e-6 degrees
(about 0.1 m) is far more than enough and costs almost nothing in extra straddling cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import h3
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

HEXAGON_MARGIN_DEG = 1e-6
NO_GRID = -1


@dataclass
class CellCover:
    """The H3 cover of one layer: parallel arrays over its cells, sorted by cell.

    ``grid_index[i]`` is the index (into the layer's geometry list) of the grid that wholly
    contains cell i, or ``NO_GRID``. ``candidates[i]`` lists the grids a straddling cell
    touches (empty for the others); a cell with neither is explicitly outside every grid.
    """

    resolution: int
    cells: NDArray[np.int64]
    grid_index: NDArray[np.int64]
    candidates: list[list[int]]

    @property
    def straddles(self) -> NDArray[np.bool_]:
        return np.fromiter((len(c) > 0 for c in self.candidates), dtype=bool, count=len(self.cells))


def _candidate_cells(geometry: BaseGeometry, resolution: int) -> list[int]:
    """Every cell that may touch ``geometry``: the 'overlap' cover of a slightly grown shape."""
    grown = geometry.buffer(HEXAGON_MARGIN_DEG * 20)
    shape = h3.geo_to_h3shape(grown)
    cells = h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap")
    return [h3.str_to_int(c) for c in cells]


def hexagons(cells: Sequence[int]) -> NDArray[np.object_]:
    """Shapely polygons (lon/lat, EPSG:4326) of H3 cells given as integers."""
    rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(c))] for c in cells]
    return shapely.polygons(rings)


def cover_layer(
    geometries: Sequence[BaseGeometry],
    *,
    resolution: int,
    extent: BaseGeometry | None = None,
    progress: Callable[[int], None] | None = None,
) -> CellCover:
    """Compute the H3 cover of a layer.

    Parameters
    ----------
    geometries : sequence of shapely geometries
        The layer's grids, lon/lat degrees in EPSG:4326.
    resolution : int
        H3 resolution (10: cells of about 15,000 m², edges about 66 m).
    extent : shapely geometry, optional
        The jurisdiction boundary (EPSG:4326). Its cells that no grid touches are kept as
        explicit "no grid here" rows, so that gaps are answered, not missing.
    progress : callable, optional
        Called with 1 after each grid, for progress bars.
    """
    touching: dict[int, list[int]] = {}
    interior: dict[int, list[int]] = {}
    for index, geometry in enumerate(geometries):
        cells = _candidate_cells(geometry, resolution)
        if cells:
            grown = shapely.buffer(hexagons(cells), HEXAGON_MARGIN_DEG)
            shapely.prepare(geometry)
            touches = shapely.intersects(geometry, grown)
            inside = shapely.contains(geometry, grown)
            for cell, t, i in zip(cells, touches.tolist(), inside.tolist(), strict=True):
                if t:
                    touching.setdefault(cell, []).append(index)
                    if i:
                        interior.setdefault(cell, []).append(index)
        if progress is not None:
            progress(1)

    universe = set(touching)
    if extent is not None and not extent.is_empty:
        universe.update(_candidate_cells(extent, resolution))

    ordered = np.array(sorted(universe), dtype=np.int64)
    grid_index = np.full(len(ordered), NO_GRID, dtype=np.int64)
    candidates: list[list[int]] = []
    for position, cell in enumerate(ordered.tolist()):
        touched = touching.get(cell, [])
        whole = interior.get(cell, [])
        if len(touched) == 1 and len(whole) == 1:
            grid_index[position] = whole[0]
            candidates.append([])
        else:
            # Border cells, and cells inside two overlapping grids: decide per point.
            candidates.append(sorted(touched))
    return CellCover(resolution=resolution, cells=ordered, grid_index=grid_index, candidates=candidates)
