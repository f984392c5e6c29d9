"""Demo jurisdiction layers built from a real OpenStreetMap extract of Liechtenstein.

Liechtenstein (~160 km², 11 municipalities) stands in for a Chinese county: each
municipality (Gemeinde) plays a township with its comprehensive enforcement squad, the
two electoral districts (Oberland, Unterland) play joint-enforcement zones (片区),
Voronoi cells of real place nodes play community grids, and forest areas and groups of
municipalities play two specialist layers (林业, 市场监管).

All layers are GeoDataFrames in EPSG:4326 (WGS84 longitude/latitude, degrees). Areas
used for thresholds are measured in EPSG:2056 (Swiss/Liechtenstein LV95, metres).
The OSM data are © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import osmium
import pandas as pd
import shapely
from osmium.filter import KeyFilter
from shapely.geometry import GeometryCollection, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = ["DemoLayers", "as_multipolygon", "build_demo_layers", "slug"]

WGS84 = "EPSG:4326"
METRIC_CRS = "EPSG:2056"
MIN_FOREST_PART_M2 = 10_000.0

# OSM name -> (Chinese name, electoral district, market zone key). Ordered by the
# official municipality number (7001 Vaduz ... 7011 Schellenberg) so codes and demo
# phone numbers are stable across extracts.
_MUNICIPALITIES: dict[str, tuple[str, str, str]] = {
    "Vaduz": ("瓦杜兹", "Oberland", "north"),
    "Triesen": ("特里森", "Oberland", "south"),
    "Balzers": ("巴尔采斯", "Oberland", "south"),
    "Triesenberg": ("特里森贝格", "Oberland", "south"),
    "Schaan": ("沙恩", "Oberland", "north"),
    "Planken": ("普兰肯", "Oberland", "north"),
    "Eschen": ("埃申", "Unterland", "unterland"),
    "Mauren": ("毛伦", "Unterland", "unterland"),
    "Gamprin": ("甘普林", "Unterland", "unterland"),
    "Ruggell": ("鲁格尔", "Unterland", "unterland"),
    "Schellenberg": ("谢伦贝格", "Unterland", "unterland"),
}
_DISTRICTS_ZH = {"Oberland": "上区", "Unterland": "下区"}
# key -> (code, name, name_zh, seat municipality of the station)
_MARKET_ZONES = {
    "south": ("LI-MKT-OBERLAND-SOUTH", "South Oberland", "市场监管上区南所", "Triesen"),
    "north": ("LI-MKT-OBERLAND-NORTH", "North Oberland", "市场监管上区北所", "Vaduz"),
    "unterland": ("LI-MKT-UNTERLAND", "Unterland", "市场监管下区所", "Eschen"),
}
# Settlements only: place=locality names uninhabited spots (alps, saddles, caves) and
# isolated dwellings are single farms, both too small to carry a grid head.
COMMUNITY_PLACE_TYPES = ("town", "village", "suburb", "hamlet", "quarter", "neighbourhood")
STATION_KINDS = ("townhall", "fire_station", "police")
# District geometries from OSM are accepted only if they match the union of their
# member municipalities to this relative area tolerance; otherwise we dissolve.
_DISTRICT_TOLERANCE = 0.005

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "ss"})


@dataclass(frozen=True)
class DemoLayers:
    """The demo jurisdiction's layers, all GeoDataFrames in EPSG:4326.

    Attributes
    ----------
    country : geopandas.GeoDataFrame
        One row, the union of the municipalities: ``code``, ``name``, ``name_zh``.
    municipalities : geopandas.GeoDataFrame
        Enforcement layer, one row per municipality: ``code``, ``name``, ``name_zh``,
        ``squad_name``, ``district``.
    districts : geopandas.GeoDataFrame
        Joint-enforcement zones (片区): ``code``, ``name``, ``name_zh``, ``squad_name``,
        ``source`` (``'osm'`` or ``'dissolved'``).
    community : geopandas.GeoDataFrame
        Community grids tiling each municipality: ``code``, ``name``, ``name_zh``,
        ``enforcement_code``, ``head_name``, ``head_phone``, ``place_type`` (null when a
        municipality has no place node and forms a single grid).
    forestry : geopandas.GeoDataFrame
        Forestry (林业) grids: ``code``, ``name``, ``name_zh``, ``department``,
        ``station_name``.
    market : geopandas.GeoDataFrame
        Market-supervision (市场监管) zones, same columns as ``forestry``.
    stations : geopandas.GeoDataFrame
        Point features (town halls, fire and police stations): ``osm_id`` (``n``/``w``/
        ``r`` + id), ``kind``, ``name``, ``municipality_code`` (null outside all).
    """

    country: gpd.GeoDataFrame
    municipalities: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    community: gpd.GeoDataFrame
    forestry: gpd.GeoDataFrame
    market: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame


@dataclass
class _Extract:
    admin: dict[tuple[str, str], BaseGeometry] = field(default_factory=dict)
    forests: list[BaseGeometry] = field(default_factory=list)
    places: list[tuple[int, str, str | None, Point]] = field(default_factory=list)
    stations: list[tuple[str, str, str | None, Point]] = field(default_factory=list)


def slug(name: str) -> str:
    """Upper-case ASCII slug of a name, umlauts transliterated (``Mäls`` -> ``MAELS``)."""
    ascii_name = unicodedata.normalize("NFKD", name.translate(_TRANSLIT))
    ascii_name = ascii_name.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Z0-9]+", "-", ascii_name.upper()).strip("-")


def _polygons(geom: BaseGeometry) -> Iterator[Polygon]:
    if isinstance(geom, Polygon):
        if not geom.is_empty:
            yield geom
    elif isinstance(geom, MultiPolygon | GeometryCollection):
        for part in geom.geoms:
            yield from _polygons(part)


def as_multipolygon(geom: BaseGeometry | None) -> MultiPolygon | None:
    """Return the polygonal part of ``geom`` as a valid MultiPolygon, or None if empty.

    Invalid input is repaired with ``make_valid``; points and lines are dropped.
    """
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = list(_polygons(geom))
    if not polys:
        return None
    result = MultiPolygon(polys)
    if not result.is_valid:
        # make_valid may return polygons that share edges; merging them fixes that.
        return as_multipolygon(shapely.union_all(polys))
    return result


def _read(pbf_path: Path) -> _Extract:
    """Single pass over the file: admin areas, forests, place nodes and stations."""
    wkb = osmium.geom.WKBFactory()
    keys = ("boundary", "landuse", "natural", "amenity")
    # Area filters restrict which relations get assembled; the output filter only
    # decides what reaches the loop (location and area handlers still see everything).
    processor = (
        osmium.FileProcessor(str(pbf_path))
        .with_areas(KeyFilter(*keys))
        .with_filter(KeyFilter(*keys, "place"))
    )
    out = _Extract()
    for obj in processor:
        if isinstance(obj, osmium.osm.Changeset):
            continue  # extracts carry no changesets; this narrows the type for the checks below
        tags = obj.tags
        amenity = tags.get("amenity")
        try:
            if isinstance(obj, osmium.osm.Node):
                point = shapely.from_wkb(wkb.create_point(obj))
                place, name = tags.get("place"), tags.get("name")
                if place in COMMUNITY_PLACE_TYPES and name:
                    out.places.append((obj.id, name, place, point))
                if amenity in STATION_KINDS:
                    out.stations.append((f"n{obj.id}", amenity, tags.get("name"), point))
            elif isinstance(obj, osmium.osm.Way) and amenity in STATION_KINDS:
                line = shapely.from_wkb(wkb.create_linestring(obj))
                # A closed building outline: use the polygon centroid, not the ring's.
                shape = Polygon(line.coords) if line.is_closed and len(line.coords) > 3 else line
                out.stations.append((f"w{obj.id}", amenity, tags.get("name"), shape.centroid))
            elif isinstance(obj, osmium.osm.Area):
                _read_area(obj, wkb, out)
        except (osmium.InvalidLocationError, RuntimeError):
            # Objects cut by the extract's edge lack node locations; they are outside
            # the demo jurisdiction or incomplete, so skipping them is correct.
            continue
    return out


def _read_area(area: osmium.osm.Area, wkb: osmium.geom.WKBFactory, out: _Extract) -> None:
    tags = area.tags
    amenity = tags.get("amenity")
    if tags.get("landuse") == "forest" or tags.get("natural") == "wood":
        geom = as_multipolygon(shapely.from_wkb(wkb.create_multipolygon(area)))
        if geom is not None:
            out.forests.append(geom)
    if area.from_way():
        return  # admin areas come from relations; stations from ways were read as ways
    if tags.get("boundary") == "administrative" and tags.get("name"):
        geom = as_multipolygon(shapely.from_wkb(wkb.create_multipolygon(area)))
        if geom is not None:
            out.admin[(tags.get("admin_level") or "", tags["name"])] = geom
    if amenity in STATION_KINDS:
        geom = shapely.from_wkb(wkb.create_multipolygon(area))
        out.stations.append((f"r{area.orig_id()}", amenity, tags.get("name"), geom.centroid))


def _frame(rows: list[dict], columns: Iterable[str]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows, columns=[*columns, "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=WGS84)


def _dissolve(geoms: Iterable[BaseGeometry]) -> MultiPolygon | None:
    return as_multipolygon(shapely.union_all(list(geoms)))


def _metric_area(geoms: Iterable[BaseGeometry]) -> pd.Series:
    return gpd.GeoSeries(list(geoms), crs=WGS84).to_crs(METRIC_CRS).area


def _municipalities(extract: _Extract) -> gpd.GeoDataFrame:
    missing = [n for n in _MUNICIPALITIES if ("8", n) not in extract.admin]
    if missing:
        raise ValueError(f"admin_level=8 boundaries missing or unassembled: {missing}")
    rows = [
        {
            "code": f"LI-{slug(name)}",
            "name": name,
            "name_zh": zh,
            "squad_name": f"{name} 综合执法中队",
            "district": district,
            "geometry": extract.admin[("8", name)],
        }
        for name, (zh, district, _zone) in _MUNICIPALITIES.items()
    ]
    return _frame(rows, ["code", "name", "name_zh", "squad_name", "district"])


def _districts(extract: _Extract, munis: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for district, zh in _DISTRICTS_ZH.items():
        members = [_MUNICIPALITIES[n][1] == district for n in munis["name"]]
        dissolved = _dissolve(munis.geometry[members])
        osm = next(
            (
                g
                for (level, name), g in extract.admin.items()
                if level == "6" and re.search(rf"\b{district}\b", name)
            ),
            None,
        )
        source, geom = "dissolved", dissolved
        if osm is not None:
            mismatch = _metric_area([osm.symmetric_difference(dissolved)]).iloc[0]
            if mismatch <= _DISTRICT_TOLERANCE * _metric_area([dissolved]).iloc[0]:
                source, geom = "osm", osm
        rows.append(
            {
                "code": f"LI-ZONE-{slug(district)}",
                "name": district,
                "name_zh": zh,
                "squad_name": f"{district} 联合执法片区",
                "source": source,
                "geometry": geom,
            }
        )
    return _frame(rows, ["code", "name", "name_zh", "squad_name", "source"])


def _largest_overlap(geom: BaseGeometry, candidates: gpd.GeoDataFrame, column: str) -> str:
    # Comparing overlap sizes within one small region, so degrees² rank like metres².
    overlaps = shapely.area(shapely.intersection(list(candidates.geometry), geom))
    return str(candidates[column].iloc[int(overlaps.argmax())])


def _voronoi_tiles(region: MultiPolygon, points: list[Point]) -> list[MultiPolygon | None]:
    """Clip the Voronoi cells of ``points`` to ``region``; one entry per point, in order.

    The cells partition the plane, so their intersections with ``region`` tile it. Points
    must be distinct.
    """
    if len(points) == 1:
        return [region]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=region))
    tiles: list[MultiPolygon | None] = []
    for point in points:
        # Match by containment rather than output order, which GEOS does not promise.
        cell = next(c for c in cells if c.covers(point))
        tiles.append(as_multipolygon(cell.intersection(region)))
    return tiles


def _place_order(place: tuple[int, str, str | None, Point], muni_name: str) -> tuple:
    _osm_id, name, place_type, _point = place
    # The place named like its municipality is the seat and gets grid 01.
    return (name != muni_name, COMMUNITY_PLACE_TYPES.index(place_type), name)


def _community(extract: _Extract, munis: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for m_index, muni in enumerate(munis.itertuples(index=False), start=1):
        places, seen = [], set()
        for place in extract.places:
            xy = (place[3].x, place[3].y)
            if xy not in seen and muni.geometry.covers(place[3]):
                seen.add(xy)
                places.append(place)
        places.sort(key=lambda p: _place_order(p, muni.name))
        if not places:
            places = [(0, muni.name, None, muni.geometry.representative_point())]
        tiles = _voronoi_tiles(muni.geometry, [p[3] for p in places])
        number = 0
        for (_osm_id, name, place_type, _point), tile in zip(places, tiles, strict=True):
            if tile is None:
                continue
            number += 1
            rows.append(
                {
                    "code": f"{muni.code}-{number:02d}",
                    "name": name,
                    "name_zh": f"{muni.name_zh}·{name}网格",
                    "enforcement_code": muni.code,
                    "head_name": f"网格长 (演示) {muni.name}-{number:02d}",
                    "head_phone": f"+423 000 {m_index:02d} {number:02d}",
                    "place_type": place_type,
                    "geometry": tile,
                }
            )
    return _frame(
        rows, ["code", "name", "name_zh", "enforcement_code", "head_name", "head_phone", "place_type"]
    )


def _drop_small_parts(geom: MultiPolygon | None, min_m2: float) -> MultiPolygon | None:
    if geom is None:
        return None
    parts = list(geom.geoms)
    keep = [p for p, a in zip(parts, _metric_area(parts), strict=True) if a >= min_m2]
    return MultiPolygon(keep) if keep else None


def _forestry(extract: _Extract, munis: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    country = shapely.union_all(list(munis.geometry))
    forest = shapely.union_all([g for g in extract.forests if g.intersects(country)])
    rows = []
    for muni in munis.itertuples(index=False):
        geom = _drop_small_parts(as_multipolygon(forest.intersection(muni.geometry)), MIN_FOREST_PART_M2)
        if geom is not None:
            rows.append(
                {
                    "code": f"LI-FOREST-{muni.code.removeprefix('LI-')}",
                    "name": f"Forst {muni.name}",
                    "name_zh": f"{muni.name_zh}林区",
                    "department": "林业",
                    "station_name": f"{muni.name_zh}林业站",
                    "geometry": geom,
                }
            )
    return _frame(rows, ["code", "name", "name_zh", "department", "station_name"])


def _market(munis: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for key, (code, name, name_zh, seat) in _MARKET_ZONES.items():
        members = [_MUNICIPALITIES[n][2] == key for n in munis["name"]]
        rows.append(
            {
                "code": code,
                "name": name,
                "name_zh": name_zh,
                "department": "市场监管",
                "station_name": f"{_MUNICIPALITIES[seat][0]}市场监管所",
                "geometry": _dissolve(munis.geometry[members]),
            }
        )
    return _frame(rows, ["code", "name", "name_zh", "department", "station_name"])


def _stations(extract: _Extract, munis: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for osm_id, kind, name, point in extract.stations:
        inside = munis[munis.geometry.covers(point)]
        rows.append(
            {
                "osm_id": osm_id,
                "kind": kind,
                "name": name,
                "municipality_code": inside["code"].iloc[0] if len(inside) else None,
                "geometry": point,
            }
        )
    return _frame(rows, ["osm_id", "kind", "name", "municipality_code"])


def build_demo_layers(pbf_path: Path) -> DemoLayers:
    """Build the demo jurisdiction's grid layers from the Liechtenstein OSM extract.

    Parameters
    ----------
    pbf_path : pathlib.Path
        An OSM PBF (or any format pyosmium reads) covering Liechtenstein, e.g. the
        Geofabrik/Valhalla ``liechtenstein-latest.osm.pbf``.

    Returns
    -------
    DemoLayers
        All layers in EPSG:4326 with MultiPolygon geometries (Points for ``stations``).
        Community grids tile each municipality without gaps or overlaps; forestry
        grids drop forest parts smaller than 1 ha (measured in EPSG:2056).

    Raises
    ------
    ValueError
        If any of the 11 municipality boundaries is missing or cannot be assembled.
    """
    extract = _read(Path(pbf_path))
    munis = _municipalities(extract)
    districts = _districts(extract, munis)
    munis["district"] = [_largest_overlap(g, districts, "name") for g in munis.geometry]
    country = _frame(
        [
            {
                "code": "LI",
                "name": "Liechtenstein",
                "name_zh": "列支敦士登",
                "geometry": _dissolve(munis.geometry),
            }
        ],
        ["code", "name", "name_zh"],
    )
    return DemoLayers(
        country=country,
        municipalities=munis,
        districts=districts,
        community=_community(extract, munis),
        forestry=_forestry(extract, munis),
        market=_market(munis),
        stations=_stations(extract, munis),
    )
