"""Read the base-map layers of an OSM extract (``.osm.pbf`` or ``.osm`` XML) with pyosmium.

One pass over the file gives five layers: ``roads`` (every ``highway=*`` line, paths
included: the base map shows what people walk on too, unlike the drivable graph of
gridsvc/roads), ``buildings``, ``water`` (areas and waterway lines), ``landuse`` (landuse,
natural cover, parks) and ``places`` (label points). Each feature gets a class and the
lowest zoom it is drawn at, so that low-zoom tiles over a whole county stay small.
Geometries come out in EPSG:3857 (the tiles' projection). Names: ``name`` and, where the data
have it, ``name:zh`` (else ``name:zh-Hans``, ``name:zh-CN``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import pyproj
import shapely
from osmium.filter import KeyFilter
from shapely.geometry.base import BaseGeometry

# highway=* value -> (class, min zoom)
ROAD_CLASSES: dict[str, tuple[str, int]] = {
    **{k: ("motorway", 0) for k in ("motorway", "motorway_link")},
    **{k: ("trunk", 0) for k in ("trunk", "trunk_link")},
    **{k: ("primary", 0) for k in ("primary", "primary_link")},
    **{k: ("secondary", 9) for k in ("secondary", "secondary_link")},
    **{k: ("tertiary", 11) for k in ("tertiary", "tertiary_link")},
    **{k: ("minor", 13) for k in ("residential", "unclassified", "living_street", "road")},
    "service": ("service", 14),
    "track": ("track", 14),
    **{k: ("path", 15) for k in ("pedestrian", "footway", "path", "cycleway", "steps", "bridleway")},
}
# Names travel with these classes only (service roads and tracks rarely carry a useful one).
NAMED_ROAD_CLASSES = {"motorway", "trunk", "primary", "secondary", "tertiary", "minor", "path"}

# place=* value -> (rank, min zoom); rank 1 wins label collisions.
PLACE_CLASSES: dict[str, tuple[int, int]] = {
    "city": (1, 0),
    "town": (2, 0),
    "village": (3, 11),
    "suburb": (3, 12),
    "hamlet": (4, 13),
    "quarter": (5, 14),
    "neighbourhood": (5, 14),
    "locality": (6, 15),
    "isolated_dwelling": (7, 16),
}

# (key, value) of an area -> landuse class
LANDUSE_CLASSES: dict[tuple[str, str], str] = {
    **{("landuse", v): v for v in ("residential", "commercial", "retail", "industrial", "cemetery")},
    **{("landuse", v): "farmland" for v in ("farmland", "farmyard", "orchard", "vineyard", "allotments")},
    **{("landuse", v): "grass" for v in ("meadow", "grass", "recreation_ground", "village_green")},
    ("landuse", "forest"): "forest",
    ("natural", "wood"): "forest",
    ("natural", "scrub"): "scrub",
    ("natural", "grassland"): "grass",
    ("natural", "heath"): "scrub",
    ("natural", "wetland"): "wetland",
    ("natural", "bare_rock"): "rock",
    ("natural", "scree"): "rock",
    ("leisure", "park"): "park",
    ("leisure", "pitch"): "pitch",
    ("leisure", "golf_course"): "park",
}
WATER_AREAS = {
    ("natural", "water"),
    ("waterway", "riverbank"),
    ("landuse", "reservoir"),
    ("landuse", "basin"),
}
# waterway=* line -> min zoom
WATER_LINES = {"river": 0, "canal": 12, "stream": 13, "ditch": 15, "drain": 15}

_KEYS = ("highway", "building", "landuse", "natural", "waterway", "leisure", "place")
_TO_3857 = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
Progress = Callable[[str, int], None]


@dataclass
class BasemapLayers:
    """The layers read from an extract; geometries in EPSG:3857, one row tuple per feature.

    Row shapes (what the tables' COPY takes, geometry last):
    roads ``(osm_id, class, name, name_zh, min_zoom, geom)``, buildings ``(osm_id, min_zoom,
    geom)``, water ``(osm_id, class, name, min_zoom, geom)``, landuse ``(osm_id, class,
    min_zoom, geom)``, places ``(osm_id, class, name, name_zh, rank, min_zoom, geom)``.
    """

    roads: list[tuple[Any, ...]] = field(default_factory=list)
    buildings: list[tuple[Any, ...]] = field(default_factory=list)
    water: list[tuple[Any, ...]] = field(default_factory=list)
    landuse: list[tuple[Any, ...]] = field(default_factory=list)
    places: list[tuple[Any, ...]] = field(default_factory=list)
    skipped: int = 0  # objects cut by the extract's edge (no node locations)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in LAYERS} | {"skipped": self.skipped}


LAYERS = ("roads", "buildings", "water", "landuse", "places")


def _zh(tags: osmium.osm.TagList) -> str | None:
    for key in ("name:zh", "name:zh-Hans", "name:zh-CN"):
        value = tags.get(key)
        if value:
            return str(value)
    return None


def _area_zoom(area_m2: float, *, big: int, medium: int, small: int) -> int:
    """Min zoom of an area by its size in EPSG:3857 square metres (inflated by 1/cos² of
    the latitude; the thresholds are relative, so that is fine for a county)."""
    if area_m2 >= 2_000_000:
        return big
    if area_m2 >= 100_000:
        return medium
    return small


def _to_3857(geom: BaseGeometry) -> BaseGeometry:
    projected = shapely.transform(geom, lambda xy: np.column_stack(_TO_3857.transform(xy[:, 0], xy[:, 1])))
    return shapely.set_srid(projected, 3857)


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    """A valid MultiPolygon of ``geom``'s polygonal part, or None."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    if not polygons:
        return None
    return shapely.MultiPolygon(polygons)


def read_basemap(source: Path, *, progress: Progress | None = None) -> BasemapLayers:
    """Read the base-map layers of ``source`` (one pass; areas assembled by pyosmium).

    Raises
    ------
    FileNotFoundError
        When ``source`` does not exist.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"OSM extract {source} not found")
    wkb = osmium.geom.WKBFactory()
    out = BasemapLayers()
    processor = (
        osmium.FileProcessor(str(source))
        .with_locations()
        .with_areas(KeyFilter("building", "landuse", "natural", "waterway", "leisure"))
        .with_filter(KeyFilter(*_KEYS))
    )
    seen = 0
    for obj in processor:
        seen += 1
        if progress and seen % 5000 == 0:
            progress("read", seen)
        try:
            if isinstance(obj, osmium.osm.Node):
                _node(obj, wkb, out)
            elif isinstance(obj, osmium.osm.Way):
                _way(obj, wkb, out)
            elif isinstance(obj, osmium.osm.Area):
                _area(obj, wkb, out)
        except (osmium.InvalidLocationError, RuntimeError):
            out.skipped += 1  # cut by the extract's edge: nothing to draw
    if progress:
        progress("read", seen)
    return out


def _node(node: osmium.osm.Node, wkb: osmium.geom.WKBFactory, out: BasemapLayers) -> None:
    tags = node.tags
    known = PLACE_CLASSES.get(tags.get("place") or "")
    name = tags.get("name")
    if known is None or not name:
        return
    rank, min_zoom = known
    point = _to_3857(shapely.from_wkb(wkb.create_point(node)))
    out.places.append((node.id, tags.get("place"), name, _zh(tags), rank, min_zoom, point))


def _way(way: osmium.osm.Way, wkb: osmium.geom.WKBFactory, out: BasemapLayers) -> None:
    tags = way.tags
    highway = tags.get("highway")
    if highway and tags.get("area") != "yes" and highway in ROAD_CLASSES:
        kind, min_zoom = ROAD_CLASSES[highway]
        line = _to_3857(shapely.from_wkb(wkb.create_linestring(way)))
        named = kind in NAMED_ROAD_CLASSES
        name = tags.get("name") if named else None
        out.roads.append((way.id, kind, name, _zh(tags) if named else None, min_zoom, line))
        return
    waterway = tags.get("waterway")
    if waterway in WATER_LINES:
        line = _to_3857(shapely.from_wkb(wkb.create_linestring(way)))
        out.water.append((way.id, waterway, tags.get("name"), WATER_LINES[waterway], line))


def _area(area: osmium.osm.Area, wkb: osmium.geom.WKBFactory, out: BasemapLayers) -> None:
    tags = area.tags
    osm_id = area.orig_id()
    pairs = [(t.k, t.v) for t in tags if t.k in ("landuse", "natural", "waterway", "leisure")]
    building = tags.get("building")
    water = any(p in WATER_AREAS for p in pairs)
    landuse = next((LANDUSE_CLASSES[p] for p in pairs if p in LANDUSE_CLASSES), None)
    if not (building and building != "no") and not water and landuse is None:
        return
    geom = _polygonal(shapely.from_wkb(wkb.create_multipolygon(area)))
    if geom is None:
        return
    geom = _to_3857(geom)
    size = float(geom.area)
    if building and building != "no":
        out.buildings.append((osm_id, 13 if size >= 5000 else 14, geom))
    elif water:
        out.water.append(
            (osm_id, "water", tags.get("name"), _area_zoom(size, big=0, medium=11, small=13), geom)
        )
    elif landuse is not None:
        out.landuse.append((osm_id, landuse, _area_zoom(size, big=0, medium=12, small=14), geom))


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """A web-mercator tile's bounds in longitude/latitude degrees (west, south, east, north)."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def tile_of(lng: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the web-mercator tile at zoom ``z`` holding the point."""
    n = 2**z
    x = int((lng + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)
