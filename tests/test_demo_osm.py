"""Tests of the demo layers built from the real Liechtenstein OSM extract."""

from __future__ import annotations

import itertools
import math
import os
import re
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

from gridsvc.demo import osm
from gridsvc.demo.osm import DemoLayers, as_multipolygon, build_demo_layers, slug

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_GEODATA = Path(os.environ.get("GRIDSVC_SHARED_GEODATA", REPO_ROOT.parent / "shared" / "geodata"))
PBF = SHARED_GEODATA / "osm" / "liechtenstein-latest.osm.pbf"
METRIC = "EPSG:2056"  # LV95, the official projected CRS of Liechtenstein (metres)

MUNICIPALITIES = {
    "Vaduz",
    "Schaan",
    "Balzers",
    "Triesen",
    "Triesenberg",
    "Planken",
    "Eschen",
    "Mauren",
    "Gamprin",
    "Ruggell",
    "Schellenberg",
}
OBERLAND = {"Vaduz", "Balzers", "Planken", "Schaan", "Triesen", "Triesenberg"}
POLYGON_LAYERS = ("country", "municipalities", "districts", "community", "forestry", "market")


@pytest.fixture(scope="module")
def built() -> tuple[DemoLayers, float]:
    if not PBF.exists():
        pytest.fail(f"OSM extract not found at {PBF} (set GRIDSVC_SHARED_GEODATA)")
    start = time.perf_counter()
    layers = build_demo_layers(PBF)
    return layers, time.perf_counter() - start


@pytest.fixture(scope="module")
def layers(built: tuple[DemoLayers, float]) -> DemoLayers:
    return built[0]


def m2(geom: shapely.Geometry) -> float:
    """Area in m² of a EPSG:4326 geometry, projected to EPSG:2056."""
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(METRIC).area.iloc[0])


def sliver_m2(geom: shapely.Geometry) -> float:
    """Area in m² of a gap/overlap geometry, measured in its own CRS (EPSG:4326).

    Gaps and overlaps are degenerate slivers along shared edges. Edges straight in
    lon/lat bend slightly in any projection, so projecting a sliver several hundred
    metres long inflates ~0 to metres². Scaling degrees² by the local metres per degree
    measures the sliver as the layers store it.
    """
    if geom.is_empty:
        return 0.0
    lat = math.radians(geom.centroid.y)
    return geom.area * (111_320.0 * math.cos(lat)) * 110_574.0


def test_build_is_fast(built: tuple[DemoLayers, float]) -> None:
    assert built[1] < 20.0


@pytest.mark.parametrize("name", POLYGON_LAYERS)
def test_polygon_layers_are_valid_multipolygons_in_wgs84(layers: DemoLayers, name: str) -> None:
    gdf = getattr(layers, name)
    assert len(gdf) > 0
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.name == "geometry"
    assert (gdf.geom_type == "MultiPolygon").all(), gdf.geom_type.value_counts()
    assert gdf.is_valid.all()
    assert not gdf.is_empty.any()
    assert gdf["code"].is_unique


def test_eleven_municipalities(layers: DemoLayers) -> None:
    munis = layers.municipalities
    assert set(munis["name"]) == MUNICIPALITIES
    assert len(munis) == 11
    assert munis["code"].is_unique
    assert all(re.fullmatch(r"LI-[A-Z]+", c) for c in munis["code"])
    assert {"LI-VADUZ", "LI-SCHAAN", "LI-TRIESENBERG"} <= set(munis["code"])
    assert munis["name_zh"].notna().all() and munis["name_zh"].is_unique
    assert munis.set_index("name").loc["Vaduz", "squad_name"] == "Vaduz 综合执法中队"
    expected = {n: "Oberland" if n in OBERLAND else "Unterland" for n in MUNICIPALITIES}
    assert dict(zip(munis["name"], munis["district"], strict=True)) == expected


def test_country_is_union_of_municipalities(layers: DemoLayers) -> None:
    munis = list(layers.municipalities.geometry)
    country = layers.country.geometry.iloc[0]
    assert len(layers.country) == 1
    assert 150e6 < m2(country) < 170e6
    assert sliver_m2(country.symmetric_difference(shapely.union_all(munis))) < 1.0
    for a, b in itertools.combinations(munis, 2):
        assert sliver_m2(a.intersection(b)) < 1.0


def test_districts(layers: DemoLayers) -> None:
    districts = layers.districts.set_index("name")
    assert list(layers.districts["code"]) == ["LI-ZONE-OBERLAND", "LI-ZONE-UNTERLAND"]
    assert set(districts["source"]) <= {"osm", "dissolved"}
    assert set(districts["name_zh"]) == {"上区", "下区"}
    oberland = districts.geometry["Oberland"]
    assert m2(oberland) > 3 * m2(districts.geometry["Unterland"])  # ~125 vs ~35 km²
    munis = layers.municipalities
    for name, geom in districts.geometry.items():
        members = shapely.union_all(list(munis.geometry[munis["district"] == name]))
        # OSM district polygons are kept only within 0.5 % of their members' union.
        assert sliver_m2(geom.symmetric_difference(members)) <= 0.005 * m2(members), name


def test_community_grids_tile_each_municipality(layers: DemoLayers) -> None:
    community = layers.community
    assert set(community["enforcement_code"]) <= set(layers.municipalities["code"])
    for muni in layers.municipalities.itertuples(index=False):
        grids = list(community.geometry[community["enforcement_code"] == muni.code])
        assert grids, muni.code
        gap_or_excess = shapely.union_all(grids).symmetric_difference(muni.geometry)
        assert sliver_m2(gap_or_excess) < 1.0, muni.code
        for a, b in itertools.combinations(grids, 2):
            assert sliver_m2(a.intersection(b)) < 0.01, muni.code


def test_community_grid_attributes(layers: DemoLayers) -> None:
    community = layers.community
    for row in community.itertuples(index=False):
        assert re.fullmatch(re.escape(row.enforcement_code) + r"-\d\d", row.code)
        assert "演示" in row.head_name
        assert row.head_phone.startswith("+423 000 ")
    assert community["head_phone"].is_unique
    per_muni = community.groupby("enforcement_code").size()
    assert (per_muni >= 2).sum() >= 6, per_muni
    assert len(community) > len(layers.municipalities)
    seats = community[community["code"].str.endswith("-01")]
    assert set(seats["name"]) == MUNICIPALITIES  # every municipality's seat is grid 01
    assert set(community["place_type"].dropna()) <= {
        "town",
        "village",
        "hamlet",
        "suburb",
        "neighbourhood",
        "quarter",
    }


def test_forestry_grids_lie_within_country(layers: DemoLayers) -> None:
    forestry = layers.forestry
    country = layers.country.geometry.iloc[0]
    assert (forestry["department"] == "林业").all()
    assert forestry["code"].str.fullmatch(r"LI-FOREST-[A-Z]+").all()
    assert len(forestry) >= 6  # Liechtenstein is about 40 % forest
    for geom in forestry.geometry:
        assert sliver_m2(geom.difference(country)) < 1.0
        assert min(m2(part) for part in geom.geoms) >= 10_000 * 0.999  # no slivers < 1 ha
    total = sum(m2(g) for g in forestry.geometry)
    assert 10e6 < total < 0.8 * m2(country)


def test_market_zones_cover_country(layers: DemoLayers) -> None:
    market = layers.market
    country = layers.country.geometry.iloc[0]
    assert len(market) == 3
    assert (market["department"] == "市场监管").all()
    assert market["name_zh"].str.startswith("市场监管").all()
    union = shapely.union_all(list(market.geometry))
    assert sliver_m2(country.symmetric_difference(union)) < 1.0
    for a, b in itertools.combinations(market.geometry, 2):
        assert sliver_m2(a.intersection(b)) < 1.0


def test_stations(layers: DemoLayers) -> None:
    stations = layers.stations
    assert stations.crs.to_epsg() == 4326
    assert (stations.geom_type == "Point").all()
    assert stations["osm_id"].is_unique
    kinds = set(stations["kind"])
    assert {"fire_station", "townhall"} <= kinds
    assert kinds <= {"fire_station", "townhall", "police"}
    codes = stations["municipality_code"].dropna()
    assert set(codes) <= set(layers.municipalities["code"])
    assert len(codes) >= len(stations) // 2
    vaduz = stations[stations["name"] == "Rathaus Vaduz"]
    assert list(vaduz["municipality_code"]) == ["LI-VADUZ"]


def test_slug_transliterates_umlauts() -> None:
    assert slug("Vaduz") == "VADUZ"
    assert slug("Magrüal") == "MAGRUEAL"
    assert slug("Gamprin-Bendern") == "GAMPRIN-BENDERN"
    assert slug("Lawena Obersäss") == "LAWENA-OBERSAESS"


def test_as_multipolygon_keeps_only_polygonal_parts() -> None:
    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    mixed = GeometryCollection([square, Point(5, 5), LineString([(2, 2), (3, 3)])])
    assert as_multipolygon(mixed) == MultiPolygon([square])
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    fixed = as_multipolygon(bowtie)
    assert isinstance(fixed, MultiPolygon) and fixed.is_valid and len(fixed.geoms) == 2
    assert as_multipolygon(LineString([(0, 0), (1, 1)])) is None


def test_districts_fall_back_to_dissolving_municipalities() -> None:
    if not PBF.exists():
        pytest.fail(f"OSM extract not found at {PBF}")
    extract = osm._read(PBF)
    extract.admin = {key: geom for key, geom in extract.admin.items() if key[0] != "6"}
    munis = osm._municipalities(extract)
    districts = osm._districts(extract, munis).set_index("name")
    assert (districts["source"] == "dissolved").all()
    oberland = shapely.union_all(list(munis.geometry[munis["name"].isin(OBERLAND)]))
    assert sliver_m2(districts.geometry["Oberland"].symmetric_difference(oberland)) < 1.0
