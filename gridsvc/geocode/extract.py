"""Read what the geocoder indexes from an OSM extract (``.osm.pbf`` or ``.osm`` XML), with
pyosmium: addresses (``addr:street`` / ``addr:place`` + ``addr:housenumber``), named streets,
named POIs, place names, and the administrative areas (the towns every entry lies in).

Coordinates are WGS84 degrees. A way or area is represented by one point on it: the middle
vertex of a street, the centroid of a building outline (its representative point when the
centroid falls outside).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import shapely
from osmium.filter import KeyFilter
from shapely import STRtree
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridsvc.geocode.models import Entry, Kind

# A named object with one of these keys is a POI an operator may name ("Schloss Vaduz",
# "大运中心体育馆").
POI_KEYS = ("amenity", "shop", "tourism", "office", "leisure", "historic", "craft", "building")
PLACE_KINDS = {"city", "town", "village", "hamlet", "suburb", "quarter", "neighbourhood", "locality"}
# Other names the same thing is known by.
ALT_NAME_KEYS = ("name:zh", "name:zh-Hans", "alt_name", "short_name", "official_name", "old_name")
# Street classes an operator gives as an address (not bus stops or platforms, which are
# nodes and carry names like "Vaduz Post").
_NOT_STREETS = {"bus_stop", "platform", "elevator", "street_lamp", "traffic_signals", "crossing"}
_ADMIN_LEVELS = {"6", "7", "8", "9", "10"}


class ExtractError(ValueError):
    """The extract cannot be read or holds nothing to index; the current index is kept."""


@dataclass
class ExtractEntries:
    entries: list[Entry] = field(default_factory=list)
    # admin areas (name, shape), the most local first (admin_level 10 before 6)
    areas: list[tuple[str, BaseGeometry]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _names(tags: osmium.osm.TagList) -> list[str]:
    names = [tags.get("name")] + [tags.get(k) for k in ALT_NAME_KEYS]
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def _way_point(way: osmium.osm.Way) -> Point:
    nodes = way.nodes
    coords = [(n.lon, n.lat) for n in nodes]
    if len(coords) > 3 and coords[0] == coords[-1]:
        outline = Polygon(coords)
        if outline.is_valid and outline.area > 0:
            centre = outline.centroid
            return centre if outline.contains(centre) else outline.representative_point()
    middle = coords[len(coords) // 2]
    return Point(middle)


def _address_entries(tags: osmium.osm.TagList, point: Point, osm_id: str) -> list[Entry]:
    number = (tags.get("addr:housenumber") or "").strip()
    street = (tags.get("addr:street") or tags.get("addr:place") or "").strip()
    if not number or not street:
        return []
    towns = [t for t in (tags.get("addr:city"), tags.get("addr:suburb"), tags.get("addr:place")) if t]
    separator = "" if any("\u4e00" <= c <= "\u9fff" for c in street) else " "
    entries = []
    for one in dict.fromkeys(n.strip() for n in number.replace(",", ";").split(";") if n.strip()):
        entries.append(
            Entry(
                kind="address",
                name=f"{street}{separator}{one}",
                street=street,
                housenumber=one,
                postcode=tags.get("addr:postcode"),
                towns=list(dict.fromkeys(t.strip() for t in towns if t != street)),
                osm_id=osm_id,
                lng=point.x,
                lat=point.y,
            )
        )
    return entries


def _named_entries(obj: osmium.osm.OSMObject, point: Point, osm_id: str, is_way: bool) -> list[Entry]:
    tags = obj.tags
    names = _names(tags)
    if not names:
        return []
    highway = tags.get("highway")
    kind: Kind
    if highway and is_way and highway not in _NOT_STREETS:
        kind = "street"
    elif tags.get("place") in PLACE_KINDS:
        kind = "place"
    elif any(k in tags for k in POI_KEYS) or (highway and not is_way):
        kind = "poi"
    else:
        return []
    towns = [t for t in (tags.get("addr:city"),) if t]
    return [Entry(kind=kind, name=n, towns=towns, osm_id=osm_id, lng=point.x, lat=point.y) for n in names]


def read_extract(source: Path, *, progress: Callable[[int], None] | None = None) -> ExtractEntries:
    """Every indexable entry of the extract, each with the admin areas it lies in as towns.

    Raises
    ------
    ExtractError
        When the file does not exist or holds nothing to index.
    """
    source = Path(source)
    if not source.exists():
        raise ExtractError(f"OSM extract {source} not found")
    out = ExtractEntries()
    wkb = osmium.geom.WKBFactory()
    processor = osmium.FileProcessor(str(source)).with_locations().with_areas(KeyFilter("boundary"))
    seen = 0
    levelled: list[tuple[int, str, BaseGeometry]] = []
    for obj in processor:
        seen += 1
        if progress and seen % 50_000 == 0:
            progress(50_000)
        if isinstance(obj, osmium.osm.Changeset) or not len(obj.tags):
            continue
        try:
            if isinstance(obj, osmium.osm.Node):
                point = Point(obj.location.lon, obj.location.lat)
                osm_id = f"n{obj.id}"
            elif isinstance(obj, osmium.osm.Way):
                point = _way_point(obj)
                osm_id = f"w{obj.id}"
            elif isinstance(obj, osmium.osm.Area):
                levelled.extend(_read_area(obj, wkb))
                continue
            else:
                continue  # relations: their areas arrive as Area objects
        except (osmium.InvalidLocationError, RuntimeError, ValueError, IndexError):
            out.skipped["cut by the extract's edge"] += 1
            continue
        out.entries.extend(_address_entries(obj.tags, point, osm_id))
        out.entries.extend(_named_entries(obj, point, osm_id, isinstance(obj, osmium.osm.Way)))
    out.areas = [(name, shape) for _, name, shape in sorted(levelled, key=lambda a: -a[0])]
    if not out.entries:
        raise ExtractError(f"{source.name}: no address, named street, POI or place found")
    add_towns(out.entries, out.areas)
    for name, shape in out.areas:
        inside = shape.representative_point()
        out.entries.append(Entry(kind="division", name=name, towns=[], lng=inside.x, lat=inside.y))
    return out


def _read_area(area: osmium.osm.Area, wkb: osmium.geom.WKBFactory) -> list[tuple[int, str, BaseGeometry]]:
    """An administrative area (admin_level 6..10) under each of its names, with its level."""
    tags = area.tags
    level = tags.get("admin_level") or ""
    if area.from_way() or tags.get("boundary") != "administrative" or level not in _ADMIN_LEVELS:
        return []
    shape = shapely.from_wkb(wkb.create_multipolygon(area))
    if not shape.is_valid:
        shape = shapely.make_valid(shape)
    return [(int(level), name, shape) for name in _names(tags)]


def add_towns(entries: list[Entry], areas: list[tuple[str, BaseGeometry]]) -> None:
    """Add to each entry the names of the areas it lies in (after the names it carries)."""
    if not areas or not entries:
        return
    tree = STRtree([shape for _, shape in areas])
    points = shapely.points([(e.lng, e.lat) for e in entries])
    which_entry, which_area = tree.query(points, predicate="within")
    # In the order of ``areas`` (the most local first): the first town is the one shown.
    for e, a in sorted(zip(which_entry.tolist(), which_area.tolist(), strict=True)):
        name = areas[a][0]
        if name not in entries[e].towns:
            entries[e].towns.append(name)
