"""The demo's second county: the Ninghua county seat (宁化县, Sanming, Fujian).

Liechtenstein stands in for a county; Ninghua is a real one. Its county boundary is the
real GCJ-02 polygon of ``cn_target_counties_gcj02.geojson`` (adcode 350424), loaded and
converted to WGS84 by :func:`gridsvc.jurisdictions.importer.import_boundaries` before this
module runs; the OSM extract (WGS84) covers only about 1 km² of the county seat.

Grids are a documented construction, because the extract holds no township boundaries
(its only admin relations, 宁化县 and 三明市, are cut by the extract's edge) and the
shared division codes (``admin_codes/``) list no Ninghua township:

- the demo's service area is the extract's bounding box inside the county boundary;
- each OSM ``place=town`` node of the seat (翠江镇, 城郊镇) is a township, whose
  enforcement grid is its Voronoi cell in the service area (codes ``NH-<pinyin>``: no
  official township code is available to us, so none is invented);
- community grids are the H3 cells (resolution 9, about 0.1 km²) of each township, clipped
  to it, so they tile the townships without gaps or overlaps.

Squads are stationed like Liechtenstein's (:mod:`gridsvc.demo.placement`): a tagged town
hall of the township, else its centroid snapped to the nearest road.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import h3
import osmium
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from gridsvc.demo.osm import _frame, _read, _stations, _voronoi_tiles, as_multipolygon

NINGHUA = "350424"  # the county's adcode, as in the boundary file
NINGHUA_TIMEZONE = "Asia/Shanghai"
COMMUNITY_RESOLUTION = 9
# OSM place name -> (code suffix, pinyin); the seat's towns, in a stable order.
TOWNSHIPS = {"翠江镇": ("CUIJIANG", "Cuijiang"), "城郊镇": ("CHENGJIAO", "Chengjiao")}

__all__ = ["NINGHUA", "NINGHUA_TIMEZONE", "NinghuaLayers", "build_ninghua_layers"]


@dataclass(frozen=True)
class NinghuaLayers:
    """Ninghua's demo layers in EPSG:4326, with the columns of :class:`DemoLayers`."""

    area: MultiPolygon
    municipalities: gpd.GeoDataFrame
    community: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame


def _extract_box(path: Path) -> Polygon:
    header = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING).header()
    b = header.box()
    if not b.valid():
        raise ValueError(f"{path.name}: no bounds in the header; cannot tell the demo's area")
    return box(b.bottom_left.lon, b.bottom_left.lat, b.top_right.lon, b.top_right.lat)


def _h3_tiles(region: MultiPolygon) -> list[MultiPolygon]:
    """The H3 cells touching ``region``, each clipped to it, in a stable order (by cell)."""
    cells = h3.h3shape_to_cells_experimental(
        h3.geo_to_h3shape(region), COMMUNITY_RESOLUTION, contain="overlap"
    )
    tiles = []
    for cell in sorted(cells):
        ring = Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
        tile = as_multipolygon(ring.intersection(region))
        # Slivers below 1 % of a cell (~1,000 m²) are left to the neighbouring cells' grid.
        if tile is not None and tile.area >= 0.01 * ring.area:
            tiles.append(tile)
    return tiles


def build_ninghua_layers(osm_path: Path, county: BaseGeometry) -> NinghuaLayers:
    """Townships, community grids and stations of the Ninghua seat (see the module doc).

    Parameters
    ----------
    osm_path : pathlib.Path
        The Ninghua extract (``cn_sanming_ninghua.osm``), WGS84.
    county : shapely geometry
        The county boundary already converted to WGS84 (never the GCJ-02 original).
    """
    extract = _read(Path(osm_path))
    area = as_multipolygon(_extract_box(osm_path).intersection(county))
    if area is None:
        raise ValueError(f"{osm_path.name} lies outside the county boundary (CRS mix-up?)")
    towns = sorted(
        (p for p in extract.places if p[1] in TOWNSHIPS and area.covers(p[3])),
        key=lambda p: list(TOWNSHIPS).index(p[1]),
    )
    if not towns:
        raise ValueError(f"{osm_path.name}: none of the towns {', '.join(TOWNSHIPS)} found")
    tiles = _voronoi_tiles(area, [p[3] for p in towns])
    munis, community = [], []
    for index, ((_id, name_zh, _kind, _point), tile) in enumerate(zip(towns, tiles, strict=True), start=1):
        if tile is None:
            continue
        suffix, pinyin = TOWNSHIPS[name_zh]
        code = f"NH-{suffix}"
        munis.append(
            {
                "code": code,
                "name": pinyin,
                "name_zh": name_zh,
                "squad_name": f"{pinyin} 综合执法中队",
                "district": None,
                "geometry": tile,
            }
        )
        for number, cell in enumerate(_h3_tiles(tile), start=1):
            community.append(
                {
                    "code": f"{code}-{number:02d}",
                    "name": f"{pinyin} {number:02d}",
                    "name_zh": f"{name_zh}·第{number}网格",
                    "enforcement_code": code,
                    "head_name": f"网格长 (演示) {name_zh}-{number:02d}",
                    "head_phone": f"+86 0598 00{index:02d}{number:02d}",
                    "place_type": None,
                    "geometry": cell,
                }
            )
    municipalities = _frame(munis, ["code", "name", "name_zh", "squad_name", "district"])
    return NinghuaLayers(
        area=area,
        municipalities=municipalities,
        community=_frame(
            community,
            ["code", "name", "name_zh", "enforcement_code", "head_name", "head_phone", "place_type"],
        ),
        stations=_stations(extract, municipalities),
    )


def ninghua_county(boundary: BaseGeometry) -> MultiPolygon:
    """The county boundary as a valid MultiPolygon (for callers that need the type)."""
    result = as_multipolygon(shapely.make_valid(boundary))
    if result is None:
        raise ValueError("the Ninghua county boundary is empty")
    return result
