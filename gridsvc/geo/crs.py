"""Coordinate systems gridsvc accepts, and conversion of all of them to WGS84 (EPSG:4326).

Chinese web maps publish GCJ-02 (AMap/Gaode, Tencent) or BD-09 (Baidu): obfuscated
lon/lat with offsets of 100-700 m inside China. pyproj has no definition of either, so the
published reference formulas are implemented here, vectorised with numpy because whole
boundary files and batches of points go through them. Inverses are found by fixed-point
iteration to better than 1e-9 degrees (about 0.1 mm), well inside the 0.5 m asked of us.
Outside mainland China GCJ-02 is defined as WGS84 itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_GCJ_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_GCJ_EE = 0.00669342162296594323  # its first eccentricity squared
_BD_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30

ChineseDatum = Literal["gcj02", "bd09"]


class UnknownCRSError(ValueError):
    """A coordinate system name that gridsvc cannot interpret."""


@dataclass(frozen=True)
class CoordinateSystem:
    """A source coordinate system: an EPSG/pyproj CRS, or one of the Chinese offsets.

    ``name`` is how it is reported back (``wgs84``, ``gcj02``, ``bd09``, ``EPSG:4490``...).
    """

    name: str
    offset: ChineseDatum | None = None
    crs: pyproj.CRS | None = None

    @property
    def is_geographic(self) -> bool:
        return self.offset is not None or (self.crs is not None and self.crs.is_geographic)


WGS84 = CoordinateSystem(name="wgs84", crs=pyproj.CRS.from_epsg(4326))
GCJ02 = CoordinateSystem(name="gcj02", offset="gcj02")
BD09 = CoordinateSystem(name="bd09", offset="bd09")

_ALIASES = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "epsg:4326": WGS84,
    "4326": WGS84,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj": GCJ02,
    "mars": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "baidu": BD09,
}
_SHORT_HINT = "use wgs84, gcj02, bd09, cgcs2000 or an EPSG code such as EPSG:4490"


def parse_crs(value: str, *, geographic_only: bool = False) -> CoordinateSystem:
    """Interpret a CRS name given by a user or a client.

    Parameters
    ----------
    value : str
        ``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000``, ``EPSG:<code>`` or anything pyproj reads.
    geographic_only : bool
        Refuse projected systems (for APIs that take latitude/longitude).

    Raises
    ------
    UnknownCRSError
        With a message that names the value and what is accepted.
    """
    key = value.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in {"cgcs2000", "epsg:4490", "4490"}:
        return CoordinateSystem(name="EPSG:4490", crs=pyproj.CRS.from_epsg(4490))
    try:
        crs = pyproj.CRS.from_user_input(value.strip())
    except pyproj.exceptions.CRSError:
        raise UnknownCRSError(f"unknown CRS {value!r}: {_SHORT_HINT}") from None
    if geographic_only and not crs.is_geographic:
        raise UnknownCRSError(
            f"CRS {value!r} is projected; latitude/longitude are required here ({_SHORT_HINT})"
        )
    epsg = crs.to_epsg()
    if epsg == 4326:
        return WGS84
    return CoordinateSystem(name=f"EPSG:{epsg}" if epsg else crs.name, crs=crs)


def to_wgs84(lng: ArrayLike, lat: ArrayLike, source: CoordinateSystem) -> tuple[FloatArray, FloatArray]:
    """Convert coordinates in ``source`` to WGS84 longitude/latitude in degrees.

    For a projected ``source`` the inputs are its easting/northing (usually metres).
    """
    x = np.asarray(lng, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if source.offset == "gcj02":
        return _lon_lat_range(*gcj02_to_wgs84(x, y))
    if source.offset == "bd09":
        return _lon_lat_range(*bd09_to_wgs84(x, y))
    assert source.crs is not None
    if source.name == "wgs84":  # parse_crs maps every spelling of EPSG:4326 to WGS84
        return x, y
    transformer = pyproj.Transformer.from_crs(source.crs, 4326, always_xy=True)
    out_x, out_y = transformer.transform(x, y)
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def _lon_lat_range(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """BD-09's constant offset pushes a pole or the antimeridian a few metres past the valid
    range (lat -90.006); fold such points back: latitude clamped, longitude wrapped."""
    lat = np.clip(lat, -90.0, 90.0)
    lng = np.where((lng < -180.0) | (lng > 180.0), (lng + 180.0) % 360.0 - 180.0, lng)
    return lng, lat


def out_of_china(lng: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    """The rectangle outside which GCJ-02 leaves coordinates unchanged (reference formula)."""
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    result = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    result += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return result


def _offset_lng(x: FloatArray, y: FloatArray) -> FloatArray:
    result = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    result += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return result


def wgs84_to_gcj02(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 -> GCJ-02 (degrees), the published forward formula."""
    lng_a = np.asarray(lng, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    d_lat = _offset_lat(lng_a - 105.0, lat_a - 35.0)
    d_lng = _offset_lng(lng_a - 105.0, lat_a - 35.0)
    rad_lat = lat_a / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    d_lng = (d_lng * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = out_of_china(lng_a, lat_a)
    return np.where(outside, lng_a, lng_a + d_lng), np.where(outside, lat_a, lat_a + d_lat)


def gcj02_to_bd09(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> BD-09 (degrees), Baidu's published forward formula."""
    x = np.asarray(lng, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    target_x: FloatArray,
    target_y: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Solve forward(x, y) = target by fixed-point iteration (the offsets vary slowly)."""
    x, y = target_x.copy(), target_y.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = fx - target_x, fy - target_y
        x, y = x - dx, y - dy
        if np.all(np.abs(dx) < _INVERSE_TOLERANCE_DEG) and np.all(np.abs(dy) < _INVERSE_TOLERANCE_DEG):
            break
    return x, y


def gcj02_to_wgs84(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> WGS84 (degrees), exact inverse of :func:`wgs84_to_gcj02` to ~1e-10 degrees."""
    return _invert(wgs84_to_gcj02, np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64))


def bd09_to_wgs84(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 -> WGS84 (degrees), exact inverse of :func:`wgs84_to_bd09` to ~1e-10 degrees."""
    return _invert(wgs84_to_bd09, np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64))


def from_wgs84(lng: ArrayLike, lat: ArrayLike, target: CoordinateSystem) -> tuple[FloatArray, FloatArray]:
    """WGS84 degrees -> ``target`` (used to answer in the client's own system, and in tests)."""
    if target.offset == "gcj02":
        return wgs84_to_gcj02(lng, lat)
    if target.offset == "bd09":
        return wgs84_to_bd09(lng, lat)
    assert target.crs is not None
    transformer = pyproj.Transformer.from_crs(4326, target.crs, always_xy=True)
    out_x, out_y = transformer.transform(np.asarray(lng, float), np.asarray(lat, float))
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)
