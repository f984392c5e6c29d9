"""GCJ-02 / BD-09 conversions against the reference implementation ``prcoords``, and parse_crs.

Distances are measured on the WGS84 ellipsoid with pyproj.Geod, never with the code under
test. ``prcoords`` takes and returns (lat, lon); gridsvc takes and returns (lng, lat).
"""

from __future__ import annotations

import warnings

import numpy as np
import prcoords
import pyproj
import pytest

from gridsvc.geo.crs import (
    BD09,
    GCJ02,
    WGS84,
    UnknownCRSError,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")
N_POINTS = 12_000
# Mainland China, roughly: the random points stay well inside GCJ-02's rectangle.
CHINA_LNG = (73.7, 134.7)
CHINA_LAT = (18.2, 53.4)


def metres(lng1, lat1, lng2, lat2) -> np.ndarray:
    _, _, distance = GEOD.inv(np.asarray(lng1), np.asarray(lat1), np.asarray(lng2), np.asarray(lat2))
    return np.asarray(distance)


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    lng = rng.uniform(*CHINA_LNG, N_POINTS)
    lat = rng.uniform(*CHINA_LAT, N_POINTS)
    return lng, lat


def _reference(function, lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = [function((y, x), False) for x, y in zip(lng.tolist(), lat.tolist(), strict=True)]
    return np.array([c.lon for c in out]), np.array([c.lat for c in out])


def test_gcj02_forward_matches_prcoords(china_points) -> None:
    lng, lat = china_points
    ref_lng, ref_lat = _reference(prcoords.wgs_gcj, lng, lat)
    got_lng, got_lat = wgs84_to_gcj02(lng, lat)
    error = metres(ref_lng, ref_lat, got_lng, got_lat)
    assert error.max() < 0.5, f"max {error.max():.3f} m"
    # The offset itself is real (mostly 100-700 m), not an identity that trivially agrees.
    shift = metres(lng, lat, got_lng, got_lat)
    assert shift.min() > 1 and shift.max() < 1000
    assert np.median(shift) > 100


def test_bd09_forward_matches_prcoords(china_points) -> None:
    lng, lat = china_points
    ref_lng, ref_lat = _reference(prcoords.wgs_bd, lng, lat)
    got_lng, got_lat = wgs84_to_bd09(lng, lat)
    error = metres(ref_lng, ref_lat, got_lng, got_lat)
    assert error.max() < 0.5, f"max {error.max():.3f} m"
    # GCJ-02 -> BD-09 alone, too.
    gcj_lng, gcj_lat = _reference(prcoords.wgs_gcj, lng, lat)
    ref_lng, ref_lat = _reference(prcoords.gcj_bd, gcj_lng, gcj_lat)
    got_lng, got_lat = gcj02_to_bd09(gcj_lng, gcj_lat)
    assert metres(ref_lng, ref_lat, got_lng, got_lat).max() < 0.5


def test_inverses_match_prcoords_exact_inverses(china_points) -> None:
    lng, lat = china_points
    gcj_lng, gcj_lat = _reference(prcoords.wgs_gcj, lng, lat)
    ref_lng, ref_lat = _reference(prcoords.gcj_wgs_bored, gcj_lng, gcj_lat)
    got_lng, got_lat = gcj02_to_wgs84(gcj_lng, gcj_lat)
    assert metres(ref_lng, ref_lat, got_lng, got_lat).max() < 0.5
    bd_lng, bd_lat = _reference(prcoords.wgs_bd, lng, lat)
    ref_lng, ref_lat = _reference(prcoords.bd_wgs_bored, bd_lng, bd_lat)
    got_lng, got_lat = bd09_to_wgs84(bd_lng, bd_lat)
    assert metres(ref_lng, ref_lat, got_lng, got_lat).max() < 0.5


def test_round_trips_within_a_centimetre(china_points) -> None:
    lng, lat = china_points
    back_lng, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat))
    gcj_error = metres(lng, lat, back_lng, back_lat)
    assert gcj_error.max() < 0.01, f"wgs->gcj->wgs max {gcj_error.max():.4f} m"
    back_lng, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lng, lat))
    bd_error = metres(lng, lat, back_lng, back_lat)
    assert bd_error.max() < 0.01, f"wgs->bd->wgs max {bd_error.max():.4f} m"
    # And through the generic entry points the API uses.
    for system in (GCJ02, BD09):
        x, y = from_wgs84(lng, lat, system)
        back_lng, back_lat = to_wgs84(x, y, system)
        assert metres(lng, lat, back_lng, back_lat).max() < 0.01, system.name


def test_points_outside_china_are_unchanged_by_gcj02() -> None:
    rng = np.random.default_rng(7)
    # Europe, the Americas, Australia, and just outside the GCJ-02 rectangle.
    lng = np.concatenate(
        [
            rng.uniform(-10, 30, 500),
            rng.uniform(-120, -60, 500),
            rng.uniform(140, 150, 500),
            [72.0, 137.9, 100.0, 100.0],
        ]
    )
    lat = np.concatenate(
        [
            rng.uniform(36, 60, 500),
            rng.uniform(-40, 50, 500),
            rng.uniform(-40, -20, 500),
            [30.0, 30.0, 0.5, 56.0],
        ]
    )
    got_lng, got_lat = wgs84_to_gcj02(lng, lat)
    assert np.array_equal(got_lng, lng) and np.array_equal(got_lat, lat)
    back_lng, back_lat = gcj02_to_wgs84(lng, lat)
    assert np.array_equal(back_lng, lng) and np.array_equal(back_lat, lat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prcoords warns about non-Chinese coordinates
        ref = prcoords.wgs_gcj((47.14, 9.52))
    assert (ref.lat, ref.lon) == (47.14, 9.52)


def test_known_point_offset_direction() -> None:
    """Tian'anmen: GCJ-02 lies north-east of WGS84 by several hundred metres."""
    lng, lat = np.array([116.391265]), np.array([39.907339])
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    assert g_lng[0] > lng[0] and g_lat[0] > lat[0]
    assert 300 < metres(lng, lat, g_lng, g_lat)[0] < 700


@pytest.mark.parametrize(
    ("value", "name", "offset"),
    [
        ("wgs84", "wgs84", None),
        ("WGS-84", "wgs84", None),
        ("EPSG:4326", "wgs84", None),
        ("4326", "wgs84", None),
        (" epsg:4326 ", "wgs84", None),
        ("gcj02", "gcj02", "gcj02"),
        ("GCJ-02", "gcj02", "gcj02"),
        ("mars", "gcj02", "gcj02"),
        ("bd09", "bd09", "bd09"),
        ("BD-09", "bd09", "bd09"),
        ("baidu", "bd09", "bd09"),
        ("cgcs2000", "EPSG:4490", None),
        ("EPSG:4490", "EPSG:4490", None),
        ("4490", "EPSG:4490", None),
    ],
)
def test_parse_crs_geographic_names(value: str, name: str, offset: str | None) -> None:
    system = parse_crs(value, geographic_only=True)
    assert system.name == name
    assert system.offset == offset
    assert system.is_geographic
    if offset is None:
        assert system.crs is not None and system.crs.is_geographic


def test_parse_crs_projected_allowed_unless_geographic_only() -> None:
    mercator = parse_crs("EPSG:3857")
    assert mercator.name == "EPSG:3857" and not mercator.is_geographic
    utm = parse_crs("EPSG:32650")
    assert utm.crs is not None and utm.crs.to_epsg() == 32650
    # The projected system really is used by to_wgs84 (UTM 50N easting/northing of Fuzhou).
    x, y = pyproj.Transformer.from_crs(4326, 32650, always_xy=True).transform(119.30, 26.08)
    back_lng, back_lat = to_wgs84(np.array([x]), np.array([y]), utm)
    assert metres(back_lng, back_lat, [119.30], [26.08])[0] < 0.01
    for value in ("EPSG:3857", "EPSG:32650", "EPSG:4547"):
        with pytest.raises(UnknownCRSError) as error:
            parse_crs(value, geographic_only=True)
        assert value in str(error.value)
        assert "projected" in str(error.value)


@pytest.mark.parametrize("value", ["nonsense", "EPSG:999999", "gcj-03", "bd9x", "EPSG:"])
def test_parse_crs_unknown_names_the_value(value: str) -> None:
    with pytest.raises(UnknownCRSError) as error:
        parse_crs(value)
    assert repr(value) in str(error.value)
    assert "gcj02" in str(error.value)  # and says what is accepted


def test_cgcs2000_is_within_centimetres_of_wgs84() -> None:
    system = parse_crs("cgcs2000")
    lng, lat = np.array([119.3, 117.0, 109.0]), np.array([26.1, 25.1, 32.7])
    x, y = to_wgs84(lng, lat, system)
    assert metres(lng, lat, x, y).max() < 0.05
    assert WGS84.is_geographic and to_wgs84(lng, lat, WGS84)[0] is not None
