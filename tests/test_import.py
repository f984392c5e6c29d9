"""Grid import against a real PostGIS: the demo layers, the county boundaries (GCJ-02),
atomic re-imports, the validation report and the coordinate systems of input files.

Test jurisdictions live in Fujian (WGS84 coordinates), far from the Liechtenstein demo, and
use their own layer names (``specialist:...``) so that demo lookups are not disturbed.
Tests that need nothing committed run inside a transaction that is rolled back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from gridsvc.grids.importer import GridImportError, prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.settings import Settings
from tests.waiting import await_until

GEOD = pyproj.Geod(ellps="WGS84")
GCJ_FILE = "cn_target_counties_gcj02.geojson"
LEVELS = {"省": "province", "市": "city", "区县": "county"}


# -- helpers ---------------------------------------------------------------------------


def feature(code: str, geometry: Any, **properties: Any) -> dict[str, Any]:
    geo = geometry if isinstance(geometry, dict) else mapping(geometry)
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"grid {code}", **properties},
        "geometry": geo,
    }


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def geodesic_m(lng1, lat1, lng2, lat2) -> np.ndarray:
    _, _, distance = GEOD.inv(
        np.asarray(lng1, float), np.asarray(lat1, float), np.asarray(lng2, float), np.asarray(lat2, float)
    )
    return np.asarray(distance)


async def make_jurisdiction(
    connection: asyncpg.Connection, code: str, boundary: Polygon | MultiPolygon
) -> None:
    multi = boundary if isinstance(boundary, MultiPolygon) else MultiPolygon([boundary])
    await jurisdictions.upsert(
        connection, code=code, name=code, level="county", boundary=multi, source="tests"
    )


async def import_file(
    connection: asyncpg.Connection,
    path: Path,
    *,
    layer: str,
    jurisdiction: str,
    crs: str | None = None,
    resolution: int = 10,
):
    """What ``gridsvc grids import`` does: prepare (validate) the file, then write it."""
    prepared = prepare_layer(path, layer=layer, crs=crs)
    return await import_layer(connection, prepared, jurisdiction_code=jurisdiction, resolution=resolution)


async def layer_state(connection: asyncpg.Connection, jurisdiction: str, layer: str) -> dict[str, Any]:
    """Everything about a layer's versions, grids and cells, as comparable values."""
    versions = [
        dict(r)
        for r in await connection.fetch(
            """SELECT v.id, v.version, v.valid_from, v.valid_to FROM layer_versions v
           JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
           WHERE j.code = $1 AND l.name = $2 ORDER BY v.version""",
            jurisdiction,
            layer,
        )
    ]
    grids = [
        tuple(r)
        for r in await connection.fetch(
            """SELECT g.id, g.layer_version_id, g.code, g.name, md5(ST_AsEWKB(g.geom)::text)
           FROM grids g JOIN layer_versions v ON v.id = g.layer_version_id
           JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
           WHERE j.code = $1 AND l.name = $2 ORDER BY g.id""",
            jurisdiction,
            layer,
        )
    ]
    cells = await connection.fetchrow(
        """SELECT count(*) AS n, md5(string_agg(c.layer_version_id || ':' || c.cell || ':' ||
                  coalesce(c.grid_id::text, '-') || ':' || c.straddles || ':' ||
                  c.candidate_grid_ids::text, ',' ORDER BY c.layer_version_id, c.cell)) AS digest
           FROM grid_cells c JOIN layer_versions v ON v.id = c.layer_version_id
           JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
           WHERE j.code = $1 AND l.name = $2""",
        jurisdiction,
        layer,
    )
    return {"versions": versions, "grids": grids, "cells": (cells["n"], cells["digest"])}


# -- the demo layers -------------------------------------------------------------------

DEMO_COUNTS = {
    "enforcement": (11, 11),
    "zone": (2, 2),
    "community": (20, None),
    "specialist:forestry": (5, None),
    "specialist:market": (3, 3),
}


async def test_demo_layer_counts(demo, db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        """SELECT l.name, count(g.id) AS n FROM layers l
           JOIN jurisdictions j ON j.id = l.jurisdiction_id AND j.code = 'LI'
           JOIN layer_versions v ON v.layer_id = l.id AND v.valid_to IS NULL
           LEFT JOIN grids g ON g.layer_version_id = v.id GROUP BY l.name"""
    )
    counts = {r["name"]: r["n"] for r in rows}
    assert set(counts) == set(DEMO_COUNTS)
    for layer, (low, high) in DEMO_COUNTS.items():
        assert counts[layer] >= low, (layer, counts[layer])
        if high is not None:
            assert counts[layer] <= high, (layer, counts[layer])
    # The demo files on disk have exactly the features that were imported.
    for layer, path in demo.items():
        if layer in counts:
            assert len(gpd.read_file(path)) == counts[layer], layer


async def test_every_grid_is_a_valid_wgs84_multipolygon(demo, db: asyncpg.Connection) -> None:
    bad = await db.fetch(
        """SELECT id, code, GeometryType(geom) AS type, ST_SRID(geom) AS srid,
                  ST_IsValidReason(geom) AS reason
           FROM grids WHERE NOT ST_IsValid(geom) OR GeometryType(geom) <> 'MULTIPOLYGON'
                         OR ST_SRID(geom) <> 4326 OR ST_IsEmpty(geom)
                         OR ST_XMin(geom) < -180 OR ST_XMax(geom) > 180
                         OR ST_YMin(geom) < -90 OR ST_YMax(geom) > 90"""
    )
    assert [dict(r) for r in bad] == []
    # Demo grids sit in Liechtenstein (lon 9.47..9.64, lat 47.04..47.28).
    extent = await db.fetchrow(
        """SELECT ST_XMin(e) AS x0, ST_XMax(e) AS x1, ST_YMin(e) AS y0, ST_YMax(e) AS y1
           FROM (SELECT ST_Extent(g.geom)::geometry AS e FROM current_grids g
                 JOIN jurisdictions j ON j.id = g.jurisdiction_id WHERE j.code = 'LI') s"""
    )
    assert 9.4 < extent["x0"] < extent["x1"] < 9.7 and 47.0 < extent["y0"] < extent["y1"] < 47.3
    # area_m2 is the geodesic area (PostGIS geography as the independent reference).
    worst = await db.fetchval(
        """SELECT max(abs(area_m2 - ST_Area(geom::geography)) / ST_Area(geom::geography))
           FROM current_grids"""
    )
    assert worst < 0.005


async def test_community_grids_link_to_current_enforcement_grids(demo, db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        """SELECT c.code, c.enforcement_code, c.enforcement_link,
                  e.code AS found, e.geom AS enforcement_geom, c.geom
           FROM current_grids c
           JOIN jurisdictions j ON j.id = c.jurisdiction_id AND j.code = 'LI'
           LEFT JOIN current_grids e ON e.layer = 'enforcement'
                AND e.jurisdiction_id = c.jurisdiction_id AND e.code = c.enforcement_code
           WHERE c.layer = 'community'"""
    )
    assert len(rows) >= 20
    for row in rows:
        assert row["enforcement_link"] in {"derived", "given"}, dict(row)
        assert row["found"] == row["enforcement_code"], row["code"]
        # The enforcement grid really holds (nearly all of) the community grid.
        share = row["geom"].intersection(row["enforcement_geom"]).area / row["geom"].area
        assert share > 0.9, (row["code"], share)


async def test_cover_rows_and_check_invariants(demo, db: asyncpg.Connection) -> None:
    uncovered = await db.fetch(
        """SELECT g.id, g.code FROM grids g WHERE NOT EXISTS (
               SELECT 1 FROM grid_cells c WHERE c.layer_version_id = g.layer_version_id
               AND (c.grid_id = g.id OR g.id = ANY (c.candidate_grid_ids)))"""
    )
    assert [dict(r) for r in uncovered] == []
    # Every demo grid has at least one whole (interior) cell: the cover is not all border.
    without_interior = await db.fetch(
        """SELECT g.code FROM current_grids g JOIN jurisdictions j ON j.id = g.jurisdiction_id
           WHERE j.code = 'LI' AND NOT EXISTS (SELECT 1 FROM grid_cells c
                 WHERE c.layer_version_id = g.layer_version_id AND c.grid_id = g.id)"""
    )
    assert [r["code"] for r in without_interior] == []
    violations = await db.fetchrow(
        """SELECT
             count(*) FILTER (WHERE straddles AND grid_id IS NOT NULL) AS both,
             count(*) FILTER (WHERE straddles <> (cardinality(candidate_grid_ids) > 0)) AS flags,
             count(*) FILTER (WHERE grid_id IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM grids g WHERE g.id = c.grid_id
                 AND g.layer_version_id = c.layer_version_id)) AS foreign_grid,
             count(*) FILTER (WHERE EXISTS (
                 SELECT 1 FROM unnest(c.candidate_grid_ids) AS k(id) WHERE NOT EXISTS (
                     SELECT 1 FROM grids g WHERE g.id = k.id
                     AND g.layer_version_id = c.layer_version_id))) AS foreign_candidate
           FROM grid_cells c"""
    )
    assert dict(violations) == {"both": 0, "flags": 0, "foreign_grid": 0, "foreign_candidate": 0}
    versions = await db.fetchrow(
        """SELECT count(*) FILTER (WHERE valid_to < valid_from) AS backwards,
                  (SELECT count(*) FROM (SELECT layer_id FROM layer_versions WHERE valid_to IS NULL
                   GROUP BY layer_id HAVING count(*) > 1) s) AS two_current,
                  (SELECT count(*) FROM layers l WHERE NOT EXISTS (SELECT 1 FROM layer_versions v
                   WHERE v.layer_id = l.id AND v.valid_to IS NULL)) AS no_current
           FROM layer_versions"""
    )
    assert dict(versions) == {"backwards": 0, "two_current": 0, "no_current": 0}
    # The CHECK constraints are really there: the database refuses a cell that is both.
    grid_id, version_id = await db.fetchrow("SELECT id, layer_version_id FROM grids ORDER BY id LIMIT 1")
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO grid_cells VALUES ($1, 1, $2, true, ARRAY[$2]::bigint[])", version_id, grid_id
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("INSERT INTO grid_cells VALUES ($1, 2, NULL, true, '{}')", version_id)


# -- the county boundaries, GCJ-02 -> WGS84 ----------------------------------------------


@pytest.fixture(scope="module")
def raw_counties(shared_geodata: Path) -> gpd.GeoDataFrame:
    frame = gpd.read_file(shared_geodata / "boundaries" / GCJ_FILE)
    frame["adcode"] = frame["adcode"].astype(str)
    return frame


async def test_county_boundaries_loaded_with_levels_and_parents(
    demo, db: asyncpg.Connection, raw_counties: gpd.GeoDataFrame
) -> None:
    rows = {
        r["code"]: dict(r)
        for r in await db.fetch(
            """SELECT j.code, j.level, j.name, p.code AS parent FROM jurisdictions j
           LEFT JOIN jurisdictions p ON p.id = j.parent_id WHERE j.source LIKE $1""",
            f"{GCJ_FILE}%",
        )
    }
    assert len(rows) == 120
    assert set(rows) == set(raw_counties["adcode"])
    expected_levels = dict(zip(raw_counties["adcode"], raw_counties["level"].map(LEVELS), strict=True))
    assert {c: r["level"] for c, r in rows.items()} == expected_levels
    assert sorted({r["level"] for r in rows.values()}) == ["city", "county", "province"]
    assert rows["350802"]["parent"] == "350800"  # Xinluo -> Longyan
    assert rows["350800"]["parent"] == "350000"  # Longyan -> Fujian
    assert rows["350521"]["parent"] == "350500"  # Hui'an -> Quanzhou
    assert rows["610924"]["parent"] == "610900"  # Ziyang -> Ankang
    assert rows["330381"]["parent"] == "330300"  # Rui'an -> Wenzhou
    assert rows["350000"]["parent"] is None
    assert rows["350802"]["name"] == "新罗区"
    for code, row in rows.items():
        if row["level"] == "county":
            assert row["parent"] == code[:4] + "00", code
        elif row["level"] == "city":
            assert row["parent"] == code[:2] + "0000", code
    # The demo county and its 11 townships are there too, besides the 120.
    townships = await db.fetch(
        """SELECT j.code, j.level FROM jurisdictions j JOIN jurisdictions p ON p.id = j.parent_id
           WHERE p.code = 'LI'"""
    )
    assert len(townships) == 11 and {r["level"] for r in townships} == {"township"}
    assert await db.fetchval("SELECT level FROM jurisdictions WHERE code = 'LI'") == "county"


async def test_county_boundaries_converted_from_gcj02(
    demo, db: asyncpg.Connection, raw_counties: gpd.GeoDataFrame
) -> None:
    stored = {
        r["code"]: r["boundary"]
        for r in await db.fetch(
            "SELECT code, boundary FROM jurisdictions WHERE source LIKE $1", f"{GCJ_FILE}%"
        )
    }
    # One small district (Gulou, Fuzhou, 36 km²): its centroid moved by the GCJ-02 offset,
    # in the direction the exact inverse (prcoords, independent of gridsvc) gives.
    for code in ("350102", "350103"):
        raw = raw_counties.loc[raw_counties["adcode"] == code].geometry.iloc[0]
        raw_c, new_c = raw.centroid, stored[code].centroid
        shift = geodesic_m(raw_c.x, raw_c.y, new_c.x, new_c.y)
        assert 100 < shift < 700, (code, shift)
        expected = prcoords.gcj_wgs_bored((raw_c.y, raw_c.x))
        assert geodesic_m(expected.lon, expected.lat, new_c.x, new_c.y) < 5.0, code
        # Same direction as the reference inverse (azimuths within 2 degrees).
        azimuth_done = GEOD.inv(raw_c.x, raw_c.y, new_c.x, new_c.y)[0]
        azimuth_ref = GEOD.inv(raw_c.x, raw_c.y, expected.lon, expected.lat)[0]
        assert abs((azimuth_done - azimuth_ref + 180) % 360 - 180) < 2.0, code
    # Every vertex of every boundary: converted one for one, 100-700 m, matching prcoords.
    rng = np.random.default_rng(3)
    for code, raw in zip(raw_counties["adcode"], raw_counties.geometry, strict=True):
        before = shapely.get_coordinates(raw)
        after = shapely.get_coordinates(stored[code])
        assert before.shape == after.shape, code
        shifts = geodesic_m(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
        assert shifts.min() > 100 and shifts.max() < 700, (code, shifts.min(), shifts.max())
        for i in rng.choice(len(before), size=min(20, len(before)), replace=False):
            ref = prcoords.gcj_wgs_bored((before[i, 1], before[i, 0]))
            assert geodesic_m(ref.lon, ref.lat, after[i, 0], after[i, 1]) < 0.5, code


# -- atomic re-import ----------------------------------------------------------------------

ATOM = "TEST-ATOM"
ATOM_LAYER = "specialist:atomtest"
ATOM_BOX = (117.600, 24.400, 117.640, 24.430)  # about 4 x 3.3 km, Zhangzhou, Fujian (WGS84)


def atom_v1_features() -> list[dict[str, Any]]:
    x0, y0, x1, y1 = ATOM_BOX
    xm = (x0 + x1) / 2
    return [
        feature("A1", box(x0, y0, xm, y1), department="林业", station_name="一站"),
        feature("A2", box(xm, y0, x1, y1), department="林业", station_name="二站"),
    ]


def atom_v2_features() -> list[dict[str, Any]]:
    x0, y0, x1, y1 = ATOM_BOX
    ym = (y0 + y1) / 2
    return [
        feature("B1", box(x0, y0, x1, ym)),
        feature("B2", box(x0, ym, x1, y1)),
        feature("B3", box(x1, y0, x1 + 0.01, y1)),
    ]


@pytest.fixture(scope="module")
async def atom_v1(database_url: str, tmp_path_factory) -> dict[str, Any]:
    from gridsvc.database.pool import connect

    directory = tmp_path_factory.mktemp("atom")
    connection = await connect(database_url)
    try:
        await make_jurisdiction(connection, ATOM, box(*ATOM_BOX).buffer(0.005))
        path = write_geojson(directory / "atom_v1.geojson", atom_v1_features())
        result = await import_file(connection, path, layer=ATOM_LAYER, jurisdiction=ATOM)
        assert result.version == 1
        state = await layer_state(connection, ATOM, ATOM_LAYER)
    finally:
        await connection.close()
    return {"directory": directory, "state": state}


def _broken_files(directory: Path) -> dict[str, tuple[Path, str | None, list[str]]]:
    """name -> (file, --crs, fragments the error message must contain)."""
    x0, y0, x1, y1 = ATOM_BOX
    good = feature("A1", box(x0, y0, x1, y1))
    cases: dict[str, tuple[Path, str | None, list[str]]] = {}
    path = write_geojson(
        directory / "line.geojson",
        [good, feature("L9", {"type": "LineString", "coordinates": [[x0, y0], [x1, y1]]})],
    )
    cases["linestring"] = (path, None, ["line.geojson", "feature 2", "L9", "LineString"])
    path = write_geojson(
        directory / "dup.geojson",
        [good, feature("Z", box(x0, y0, x1, y1)), feature("A1", box(x0, y0, x1, y1))],
    )
    cases["duplicate codes"] = (path, None, ["dup.geojson", "duplicate", "A1", "features 1 and 3"])
    # Exactly collinear ring: make_valid can only give a line, not a polygon.
    flat = {
        "type": "Polygon",
        "coordinates": [[[117.5, 24.5], [117.625, 24.625], [117.75, 24.75], [117.5, 24.5]]],
    }
    path = write_geojson(directory / "flat.geojson", [good, feature("F2", flat)])
    cases["unrepairable"] = (path, None, ["flat.geojson", "feature 2", "F2", "invalid", "cannot be repaired"])
    path = write_geojson(directory / "crs.geojson", [good])
    cases["unknown crs"] = (path, "EPSG:0000000", ["crs.geojson", "unknown CRS", "EPSG:0000000"])
    cases["missing file"] = (directory / "nowhere.geojson", None, ["nowhere.geojson", "not found"])
    empty = directory / "empty.geojson"
    empty.write_text("")
    cases["empty file"] = (empty, None, ["empty.geojson", "empty"])
    path = write_geojson(directory / "nofeatures.geojson", [])
    cases["zero features"] = (path, None, ["nofeatures.geojson", "no features"])
    frame = gpd.GeoDataFrame({"code": ["S1"], "name": ["s"]}, geometry=[box(x0, y0, x1, y1)])
    frame.to_file(directory / "noprj.shp")
    cases["shapefile without prj"] = (
        directory / "noprj.shp",
        None,
        ["noprj.shp", "no coordinate system", "--crs"],
    )
    frame = frame.set_crs(4326).to_crs(3857)
    frame.to_file(directory / "mercator.gpkg")
    cases["projected contradicts --crs"] = (
        directory / "mercator.gpkg",
        "EPSG:4490",
        ["mercator.gpkg", "EPSG:4490", "contradicts", "EPSG:3857"],
    )
    cases["projected with --crs gcj02"] = (
        directory / "mercator.gpkg",
        "gcj02",
        ["mercator.gpkg", "gcj02", "projected"],
    )
    path = write_geojson(directory / "nocode.geojson", [good, feature("", box(x0, y0, x1, y1))])
    cases["empty code"] = (path, None, ["nocode.geojson", "feature 2", "code", "empty"])
    path = write_geojson(
        directory / "nogeom.geojson",
        [good, {"type": "Feature", "properties": {"code": "N2", "name": "n"}, "geometry": None}],
    )
    cases["no geometry"] = (path, None, ["nogeom.geojson", "feature 2", "N2", "no geometry"])
    return cases


BROKEN = [
    "linestring",
    "duplicate codes",
    "unrepairable",
    "unknown crs",
    "missing file",
    "empty file",
    "zero features",
    "shapefile without prj",
    "projected contradicts --crs",
    "projected with --crs gcj02",
    "empty code",
    "no geometry",
]


@pytest.mark.parametrize("case", BROKEN)
async def test_broken_file_is_refused_and_changes_nothing(
    case: str, atom_v1: dict[str, Any], db: asyncpg.Connection
) -> None:
    directory = atom_v1["directory"] / case.replace(" ", "_")
    directory.mkdir(exist_ok=True)
    path, crs, fragments = _broken_files(directory)[case]
    # the layer as it is now (a valid re-import may have run before, in a shuffled order)
    before = await layer_state(db, ATOM, ATOM_LAYER)
    with pytest.raises(GridImportError) as error:
        await import_file(db, path, layer=ATOM_LAYER, jurisdiction=ATOM, crs=crs)
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert await layer_state(db, ATOM, ATOM_LAYER) == before


async def test_unknown_jurisdiction_changes_nothing(atom_v1: dict[str, Any], db: asyncpg.Connection) -> None:
    path = write_geojson(atom_v1["directory"] / "elsewhere.geojson", atom_v2_features())
    before_layers = await db.fetchval("SELECT count(*) FROM layers")
    before = await layer_state(db, ATOM, ATOM_LAYER)
    with pytest.raises(GridImportError) as error:
        await import_file(db, path, layer=ATOM_LAYER, jurisdiction="TEST-NO-SUCH-PLACE")
    assert "TEST-NO-SUCH-PLACE" in str(error.value) and "unknown jurisdiction" in str(error.value)
    assert await db.fetchval("SELECT count(*) FROM layers") == before_layers
    assert await layer_state(db, ATOM, ATOM_LAYER) == before


async def test_failure_during_the_database_write_changes_nothing(
    atom_v1: dict[str, Any], db: asyncpg.Connection
) -> None:
    """A file whose second grid cannot be stored: the code is too long for the unique index.

    The first grid, the new version row and the closing of version 1 have all been written
    when PostgreSQL refuses; the transaction must take all of it back.
    """
    rng = np.random.default_rng(11)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    long_code = "".join(rng.choice(alphabet, 12_000))  # random: does not compress
    features = atom_v2_features()
    path = write_geojson(atom_v1["directory"] / "too_long.geojson", features)
    prepared = prepare_layer(path, layer=ATOM_LAYER)
    assert [r.code for r in prepared.records][0] == "B1"
    # The importer refuses such codes up front (see the next test); past that check, the
    # database is what refuses the second row.
    prepared.records[1].code = long_code
    before = await layer_state(db, ATOM, ATOM_LAYER)
    with pytest.raises((asyncpg.PostgresError, GridImportError)) as error:
        await import_layer(db, prepared, jurisdiction_code=ATOM, resolution=10)
    # Today PostgreSQL refuses the row ("index row requires ... bytes"), mid-transaction.
    assert isinstance(error.value, GridImportError) or "index row" in str(error.value)
    assert not db.is_in_transaction()
    assert await layer_state(db, ATOM, ATOM_LAYER) == before


def test_overlong_codes_and_degenerate_polygons_are_refused_by_the_importer(atom_v1: dict[str, Any]) -> None:
    features = atom_v2_features()
    features[1]["properties"]["code"] = "X" * 500
    path = write_geojson(atom_v1["directory"] / "long_code.geojson", features)
    with pytest.raises(GridImportError, match=r"long_code.geojson: feature 2: the code has 500"):
        prepare_layer(path, layer=ATOM_LAYER)
    features = atom_v2_features()
    x, y = features[0]["geometry"]["coordinates"][0][0]
    features[0]["geometry"]["coordinates"] = [[[x, y], [x + 1e-9, y], [x + 2e-9, y + 1e-12], [x, y]]]
    path = write_geojson(atom_v1["directory"] / "sliver.geojson", features)
    with pytest.raises(GridImportError, match=r"sliver.geojson: feature 1 \(code B1\).*1 m²"):
        prepare_layer(path, layer=ATOM_LAYER)


async def test_valid_reimport_makes_version_2_and_keeps_version_1_queryable(
    atom_v1: dict[str, Any], db: asyncpg.Connection, client
) -> None:
    path = write_geojson(atom_v1["directory"] / "atom_v2.geojson", atom_v2_features())
    result = await import_file(db, path, layer=ATOM_LAYER, jurisdiction=ATOM)
    assert result.version == 2
    state = await layer_state(db, ATOM, ATOM_LAYER)
    v1, v2 = state["versions"]
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v1["valid_to"] == v2["valid_from"] and v2["valid_to"] is None
    assert v1["valid_from"] < v2["valid_from"]
    # Version 1 is untouched apart from its end.
    old_v1 = atom_v1["state"]["versions"][0]
    assert (v1["id"], v1["valid_from"]) == (old_v1["id"], old_v1["valid_from"])
    assert [g for g in state["grids"] if g[1] == v1["id"]] == atom_v1["state"]["grids"]
    codes_by_version = {
        v: sorted(g[2] for g in state["grids"] if g[1] == vid) for v, vid in ((1, v1["id"]), (2, v2["id"]))
    }
    assert codes_by_version == {1: ["A1", "A2"], 2: ["B1", "B2", "B3"]}

    between = v1["valid_from"] + (v2["valid_from"] - v1["valid_from"]) / 2
    response = client.get(
        f"/layers/{ATOM_LAYER}/grids", params={"at": between.isoformat(), "jurisdiction": ATOM}
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert sorted(f["properties"]["code"] for f in features) == ["A1", "A2"]
    assert {f["properties"]["version"] for f in features} == {1}
    assert {f["properties"]["valid_to"] for f in features} == {v2["valid_from"].isoformat()}
    before = v1["valid_from"] - (v2["valid_from"] - v1["valid_from"])
    response = client.get(f"/layers/{ATOM_LAYER}/grids", params={"at": before.isoformat()})
    assert response.status_code == 200 and response.json()["features"] == []
    response = client.get(f"/layers/{ATOM_LAYER}/grids", params={"jurisdiction": ATOM})
    assert sorted(f["properties"]["code"] for f in response.json()["features"]) == ["B1", "B2", "B3"]
    # The running app picks the new version up (LISTEN/NOTIFY): B3 exists only in version 2.
    x0, y0, x1, y1 = ATOM_BOX
    point = {"lat": (y0 + y1) / 2, "lng": x1 + 0.005}

    def reloaded() -> bool:
        answer = client.get("/grids/lookup", params=point).json()["layers"].get(ATOM_LAYER)
        return bool(answer and answer["grid"] and answer["grid"]["code"] == "B3")

    await await_until(reloaded, 30, message="overlay not reloaded")
    versions = client.get(f"/layers/{ATOM_LAYER}/versions").json()
    assert [(v["version"], v["valid_to"] is None) for v in versions] == [(1, False), (2, True)]


# -- the validation report ---------------------------------------------------------------

VAL = "TEST-VAL"
VAL_BOX = (118.100, 25.400, 118.140, 25.430)


async def test_bow_tie_is_repaired_and_reported(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    x0, y0, x1, y1 = VAL_BOX
    await make_jurisdiction(rollback, VAL, box(*VAL_BOX))
    # A bow-tie: the ring crosses itself at the centre of the box.
    bow = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    path = write_geojson(tmp_path / "bow.geojson", [feature("BOW", bow)])
    result = await import_file(rollback, path, layer="specialist:valtest", jurisdiction=VAL)
    repaired = result.report["repaired"]
    assert len(repaired) == 1 and repaired[0]["code"] == "BOW"
    assert "Self-intersection" in repaired[0]["problem"]
    row = await rollback.fetchrow(
        """SELECT ST_IsValid(g.geom) AS valid, ST_NumGeometries(g.geom) AS parts,
                  ST_Area(g.geom::geography) AS area, g.area_m2
           FROM grids g WHERE g.layer_version_id = $1""",
        result.version_id,
    )
    assert row["valid"] and row["parts"] == 2
    # Two triangles meeting at the centre: half of the box.
    half = abs(GEOD.geometry_area_perimeter(box(*VAL_BOX))[0]) / 2
    assert abs(row["area"] - half) / half < 0.01
    assert abs(row["area_m2"] - row["area"]) / row["area"] < 0.005
    stored = await rollback.fetchval("SELECT report FROM layer_versions WHERE id = $1", result.version_id)
    assert stored["repaired"] == repaired


async def test_overlaps_reported_with_geodesic_area(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    x0, y0, x1, y1 = VAL_BOX
    await make_jurisdiction(rollback, VAL, box(*VAL_BOX))
    xm = (x0 + x1) / 2
    grids = [
        feature("W", box(x0, y0, xm + 0.004, y1)),  # overlaps E by 0.004° x 0.03°
        feature("E", box(xm, y0, x1, y1)),
        feature("T", box(x1, y0, x1 + 0.01, y1)),
    ]  # only touches E
    path = write_geojson(tmp_path / "overlap.geojson", grids)
    result = await import_file(rollback, path, layer="specialist:valtest", jurisdiction=VAL)
    overlaps = result.report["overlaps"]
    assert len(overlaps) == 1
    assert sorted(overlaps[0]["codes"]) == ["E", "W"]
    reference = await rollback.fetchval(
        """SELECT ST_Area(ST_Intersection(a.geom, b.geom)::geography, true)
           FROM grids a, grids b WHERE a.layer_version_id = $1 AND b.layer_version_id = $1
           AND a.code = 'W' AND b.code = 'E'""",
        result.version_id,
    )
    assert reference > 1e6  # ~0.4 x 3.3 km
    assert abs(overlaps[0]["area_m2"] - reference) / reference < 0.01


async def test_gaps_against_the_jurisdiction_boundary(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    x0, y0, x1, y1 = VAL_BOX
    await make_jurisdiction(rollback, VAL, box(*VAL_BOX))
    # Two grids leave a 0.006°-wide strip in the middle and the top 0.005° uncovered.
    grids = [feature("L", box(x0, y0, 118.117, y1 - 0.005)), feature("R", box(118.123, y0, x1, y1 - 0.005))]
    path = write_geojson(tmp_path / "gaps.geojson", grids)
    result = await import_file(rollback, path, layer="specialist:valtest", jurisdiction=VAL)
    gaps = result.report["gaps"]
    reference = await rollback.fetchval(
        """SELECT ST_Area(ST_Difference(j.boundary, (SELECT ST_Union(geom) FROM grids
                  WHERE layer_version_id = $1))::geography, true)
           FROM jurisdictions j WHERE j.code = $2""",
        result.version_id,
        VAL,
    )
    assert reference > 1e6
    assert abs(gaps["area_m2"] - reference) / reference < 0.01
    assert gaps["pieces"] == 1  # the strip and the top band are one connected piece
    at = shapely.Point(gaps["largest"][0]["at"])
    assert box(*VAL_BOX).contains(at)
    assert not box(x0, y0, 118.117, y1 - 0.005).contains(at)
    assert not box(118.123, y0, x1, y1 - 0.005).contains(at)
    # Cells in the gap are stored explicitly as "no grid here".
    assert result.report["h3"]["empty"] > 0


async def test_community_links_missing_and_ambiguous(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    code = "TEST-LINK"
    x0, y0, x1, y1 = 118.300, 25.600, 118.340, 25.620
    xm = (x0 + x1) / 2
    await make_jurisdiction(rollback, code, box(x0, y0, x1 + 0.02, y1))
    enforcement = write_geojson(
        tmp_path / "enf.geojson",
        [
            feature("E-WEST", box(x0, y0, xm, y1), squad_name="西中队"),
            feature("E-EAST", box(xm, y0, x1, y1), squad_name="东中队"),
        ],
    )
    await import_file(rollback, enforcement, layer="enforcement", jurisdiction=code)
    community = write_geojson(
        tmp_path / "com.geojson",
        [
            feature("C-IN", box(x0 + 0.002, y0 + 0.002, x0 + 0.008, y0 + 0.008)),
            feature("C-SPLIT", box(xm - 0.004, y0 + 0.01, xm + 0.004, y0 + 0.016)),
            feature("C-OUT", box(x1 + 0.005, y0, x1 + 0.015, y1)),
            feature(
                "C-GIVEN", box(xm + 0.002, y0 + 0.002, xm + 0.006, y0 + 0.006), enforcement_code="E-EAST"
            ),
        ],
    )
    result = await import_file(rollback, community, layer="community", jurisdiction=code)
    links = result.report["enforcement_links"]
    assert links["counts"] == {"given": 1, "derived": 1, "ambiguous": 1, "missing": 1}
    assert links["missing"] == [{"code": "C-OUT"}]
    assert [a["code"] for a in links["ambiguous"]] == ["C-SPLIT"]
    shares = {s["enforcement_code"]: s["share"] for s in links["ambiguous"][0]["shares"]}
    assert set(shares) == {"E-WEST", "E-EAST"}
    assert all(abs(s - 0.5) < 0.01 for s in shares.values())
    rows = {
        r["code"]: (r["enforcement_code"], r["enforcement_link"])
        for r in await rollback.fetch(
            "SELECT code, enforcement_code, enforcement_link FROM grids WHERE layer_version_id = $1",
            result.version_id,
        )
    }
    assert rows["C-IN"] == ("E-WEST", "derived")
    assert rows["C-GIVEN"] == ("E-EAST", "given")
    assert rows["C-OUT"] == (None, "missing")
    assert rows["C-SPLIT"][1] == "ambiguous"


# -- coordinate systems of input files ------------------------------------------------------

CRS_CODE = "TEST-CRS"
# A few hundred metres in Fuzhou (WGS84): a square whose GCJ-02 reading moves it ~600 m.
FUZHOU = Polygon([(119.290, 26.070), (119.300, 26.070), (119.300, 26.078), (119.290, 26.078)])


async def stored_geometry(connection: asyncpg.Connection, version_id: int, code: str):
    return await connection.fetchval(
        "SELECT geom FROM grids WHERE layer_version_id = $1 AND code = $2", version_id, code
    )


def vertex_distances(a, b) -> np.ndarray:
    ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    assert ca.shape == cb.shape
    return geodesic_m(ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1])


async def test_epsg3857_file_lands_in_the_right_place(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    await make_jurisdiction(rollback, CRS_CODE, FUZHOU.buffer(0.02))
    frame = gpd.GeoDataFrame(
        {"code": ["M1"], "name": ["mercator"]}, geometry=[FUZHOU], crs="EPSG:4326"
    ).to_crs(3857)
    assert frame.total_bounds[0] > 1e7  # really metres
    for suffix in ("gpkg", "shp"):
        path = tmp_path / f"mercator.{suffix}"
        frame.to_file(path)
        result = await import_file(rollback, path, layer=f"specialist:merc{suffix}", jurisdiction=CRS_CODE)
        assert result.report["source_crs"] == "EPSG:3857"
        stored = await stored_geometry(rollback, result.version_id, "M1")
        assert stored.geom_type == "MultiPolygon"
        assert shapely.hausdorff_distance(stored, MultiPolygon([FUZHOU])) < 1e-7


async def test_gcj02_and_bd09_files_land_offset_from_wgs84(
    rollback: asyncpg.Connection, tmp_path: Path
) -> None:
    await make_jurisdiction(rollback, CRS_CODE, FUZHOU.buffer(0.02))
    path = write_geojson(tmp_path / "chinese.geojson", [feature("G1", FUZHOU)])
    as_wgs = await import_file(rollback, path, layer="specialist:crswgs", jurisdiction=CRS_CODE)
    as_gcj = await import_file(rollback, path, layer="specialist:crsgcj", jurisdiction=CRS_CODE, crs="gcj02")
    as_bd = await import_file(rollback, path, layer="specialist:crsbd", jurisdiction=CRS_CODE, crs="bd09")
    assert (as_wgs.report["source_crs"], as_gcj.report["source_crs"], as_bd.report["source_crs"]) == (
        "wgs84",
        "gcj02",
        "bd09",
    )
    wgs = await stored_geometry(rollback, as_wgs.version_id, "G1")
    gcj = await stored_geometry(rollback, as_gcj.version_id, "G1")
    bd = await stored_geometry(rollback, as_bd.version_id, "G1")
    assert vertex_distances(wgs, MultiPolygon([FUZHOU])).max() < 1e-6
    gcj_shift = vertex_distances(wgs, gcj)
    bd_shift = vertex_distances(wgs, bd)
    assert 100 < gcj_shift.min() and gcj_shift.max() < 700
    assert 100 < bd_shift.min() and bd_shift.max() < 1500
    assert abs(bd_shift.mean() - gcj_shift.mean()) > 100  # BD-09 adds its own offset
    for (x, y), (gx, gy), (bx, by) in zip(
        shapely.get_coordinates(wgs), shapely.get_coordinates(gcj), shapely.get_coordinates(bd), strict=True
    ):
        ref = prcoords.gcj_wgs_bored((y, x))
        assert geodesic_m(ref.lon, ref.lat, gx, gy) < 0.5
        ref = prcoords.bd_wgs_bored((y, x))
        assert geodesic_m(ref.lon, ref.lat, bx, by) < 0.5


async def test_cgcs2000_accepted(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    await make_jurisdiction(rollback, CRS_CODE, FUZHOU.buffer(0.02))
    path = tmp_path / "cgcs2000.gpkg"
    gpd.GeoDataFrame({"code": ["C1"], "name": ["cgcs"]}, geometry=[FUZHOU], crs="EPSG:4490").to_file(path)
    result = await import_file(rollback, path, layer="specialist:cgcs", jurisdiction=CRS_CODE)
    assert result.report["source_crs"] == "EPSG:4490"
    stored = await stored_geometry(rollback, result.version_id, "C1")
    assert vertex_distances(stored, MultiPolygon([FUZHOU])).max() < 0.05
    # A GeoJSON (WGS84 by definition) given with --crs cgcs2000 is accepted too.
    geojson = write_geojson(tmp_path / "cgcs2000.geojson", [feature("C1", FUZHOU)])
    result = await import_file(
        rollback, geojson, layer="specialist:cgcs2", jurisdiction=CRS_CODE, crs="cgcs2000"
    )
    assert result.report["source_crs"] == "EPSG:4490"
    stored = await stored_geometry(rollback, result.version_id, "C1")
    assert vertex_distances(stored, MultiPolygon([FUZHOU])).max() < 0.05


def test_settings_point_at_the_gcj02_file(settings: Settings) -> None:
    assert settings.county_boundaries.name == GCJ_FILE and settings.county_boundaries.exists()
