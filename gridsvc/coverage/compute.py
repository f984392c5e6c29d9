"""Arrival-time coverage of a jurisdiction's H3 cells (CPU-heavy; run in a thread)."""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gridsvc.eta.engine import EtaEngine, Snap


@dataclass
class Coverage:
    """Per cell (sorted), the fastest squad from its home station.

    ``squad`` is a position in the station list given to :func:`compute_coverage`;
    times are seconds (off-road legs included), distances metres, areas square metres,
    centres WGS84 degrees.
    """

    cells: NDArray[np.int64]
    lng: NDArray[np.float64]
    lat: NDArray[np.float64]
    area_m2: NDArray[np.float64]
    squad: NDArray[np.int64]
    time_s: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    offroad_m: NDArray[np.float64]


def jurisdiction_cells(boundary: BaseGeometry, resolution: int) -> NDArray[np.int64]:
    """H3 cells (integers) whose centre lies in ``boundary`` (EPSG:4326), sorted."""
    cells = h3.geo_to_cells(boundary, resolution)
    return np.array(sorted(h3.str_to_int(c) for c in cells), dtype=np.int64)


def compute_coverage(engine: EtaEngine, stations: Snap, cells: NDArray[np.int64]) -> Coverage:
    """Fastest station to every cell centre (one matrix over all cells at once)."""
    names = [h3.int_to_str(int(c)) for c in cells.tolist()]
    centres = np.array([h3.cell_to_latlng(n) for n in names], dtype=np.float64).reshape(-1, 2)
    lat, lng = centres[:, 0], centres[:, 1]
    area = np.array([h3.cell_area(n, unit="m^2") for n in names], dtype=np.float64)
    scenes = engine.snapper.snap(lng, lat)
    result = engine.matrix(engine.origins(stations), scenes)
    best = np.argmin(result.total_s, axis=0)
    column = np.arange(len(cells))
    offroad = stations.offroad_m[best] + scenes.offroad_m
    return Coverage(
        cells=cells,
        lng=lng,
        lat=lat,
        area_m2=area,
        squad=best,
        time_s=result.total_s[best, column],
        distance_m=result.drive_m[best, column],
        offroad_m=offroad,
    )
