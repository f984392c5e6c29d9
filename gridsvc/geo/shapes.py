"""Geometry helpers shared by importers and lookups (all in EPSG:4326 unless stated)."""

from __future__ import annotations

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gridsvc.geo.crs import CoordinateSystem, to_wgs84

GEOD = pyproj.Geod(ellps="WGS84")


def geometry_to_wgs84(geometry: BaseGeometry, source: CoordinateSystem) -> BaseGeometry:
    """Re-express every vertex of ``geometry`` from ``source`` in WGS84 lon/lat degrees."""

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = to_wgs84(coords[:, 0], coords[:, 1], source)
        return np.column_stack([x, y])

    return shapely.transform(geometry, convert)


def area_m2(geometry: BaseGeometry) -> float:
    """Geodesic area on the WGS84 ellipsoid, square metres, of a lon/lat geometry."""
    if geometry.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geometry)
    return abs(float(area))


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon | None:
    """The polygonal part of ``geometry`` as a MultiPolygon, or None when it has none."""
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polygons: list[Polygon] = []
    for part in parts:
        polygons.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    polygons = [p for p in polygons if not p.is_empty]
    return MultiPolygon(polygons) if polygons else None


def geodesic_distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Distance in metres on the WGS84 ellipsoid between two lon/lat points."""
    _, _, distance = GEOD.inv(lng1, lat1, lng2, lat2)
    return float(distance)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Approximate metres per degree of longitude and latitude at ``lat`` (WGS84)."""
    _, _, east = GEOD.inv(0.0, lat, 1e-3, lat)
    _, _, north = GEOD.inv(0.0, lat - 5e-4, 0.0, lat + 5e-4)
    return east * 1e3, north * 1e3
