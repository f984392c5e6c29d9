"""A point as a caller sends it (lat, lng, crs) converted to WGS84 at the edge."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gridsvc.errors import Invalid
from gridsvc.geo.crs import UnknownCRSError, parse_crs, to_wgs84


class GivenPoint(Protocol):
    lat: float
    lng: float
    crs: str


def to_wgs84_point(location: GivenPoint | None, field: str) -> tuple[float | None, float | None, str | None]:
    """``(lng, lat, crs name)`` in WGS84 degrees, or Nones when no point was given; an
    unknown or projected ``crs`` is a 422 naming ``<field>.crs``."""
    if location is None:
        return None, None, None
    try:
        system = parse_crs(location.crs, geographic_only=True)
    except UnknownCRSError as error:
        raise Invalid(
            f"{field}.crs: {error}", fields=[{"field": f"{field}.crs", "reason": str(error)}]
        ) from None
    x, y = to_wgs84(np.array([location.lng]), np.array([location.lat]), system)
    return float(x[0]), float(y[0]), system.name
