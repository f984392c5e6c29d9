"""Read OSM extracts (``.osm.pbf`` or ``.osm`` XML) for the road graph, with pyosmium.

osmnx builds graphs from OSM XML, and turns every way of the file into edges; so the
extract is first reduced here to the drivable ``highway=*`` ways and their nodes, written
as OSM XML to a temporary file that :func:`osmnx.graph_from_xml` reads. Implied one-ways
that osmnx does not know (motorways, ``junction=circular``) are made explicit on the way.
Coordinates are WGS84 (EPSG:4326) degrees.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import shapely
from osmium.filter import KeyFilter
from shapely.geometry.base import BaseGeometry

from gridsvc.roads.speeds import SpeedTable

# Values of ``motor_vehicle`` / ``motorcar`` that let cars in whatever ``access`` says.
_CARS_ALLOWED = {"yes", "designated", "permissive", "destination"}
# Directions that change during the day: a dispatcher cannot rely on either.
_TIME_DEPENDENT_ONEWAY = {"reversible", "alternating"}
_IMPLIED_ONEWAY = {"motorway"}


class NoDrivableRoadsError(ValueError):
    """The extract holds no drivable road; nothing was changed."""


@dataclass
class DrivableExtract:
    """What :func:`write_drivable_xml` kept and why the rest was left out.

    Attributes
    ----------
    ways : int
        Drivable ways written.
    nodes : int
        Nodes written (those of the drivable ways).
    left_out : collections.Counter
        Count of left-out ``highway=*`` ways per reason (``class:footway``,
        ``access:private``, ...).
    """

    ways: int = 0
    nodes: int = 0
    left_out: Counter[str] = field(default_factory=Counter)


def _split(value: str | None) -> set[str]:
    return {v.strip() for v in value.split(";")} if value else set()


def drivable_reason(tags: osmium.osm.TagList, table: SpeedTable) -> str | None:
    """Why a ``highway=*`` way is not drivable, or None when it is.

    A way is drivable when its class is in the speed table, it is not an area, its
    ``service=*`` kind is not excluded, and neither its access tags nor a time-dependent
    one-way shut cars out.
    """
    highway = tags.get("highway") or ""
    if table.class_speed(highway) is None:
        return f"class:{highway}"
    if tags.get("area") == "yes":
        return "area"
    if tags.get("service") in table.excluded_service:
        return f"service:{tags.get('service')}"
    if tags.get("oneway") in _TIME_DEPENDENT_ONEWAY:
        return f"oneway:{tags.get('oneway')}"
    cars = _split(tags.get("motor_vehicle")) | _split(tags.get("motorcar"))
    if cars & {"no", "private"} and not cars & _CARS_ALLOWED:
        return "motor_vehicle:no"
    denied = _split(tags.get("access")) & table.access_denied
    if denied and not cars & _CARS_ALLOWED:
        return f"access:{sorted(denied)[0]}"
    return None


def _explicit_tags(tags: osmium.osm.TagList) -> dict[str, str] | None:
    """The way's tags with implied one-way made explicit, or None when nothing changes."""
    if "oneway" in tags:
        return None
    if tags.get("highway") in _IMPLIED_ONEWAY or tags.get("junction") == "circular":
        return {**{t.k: t.v for t in tags}, "oneway": "yes"}
    return None


def write_drivable_xml(source: Path, target: Path, table: SpeedTable) -> DrivableExtract:
    """Write the drivable ways of ``source`` and their nodes to ``target`` (OSM XML).

    Raises
    ------
    NoDrivableRoadsError
        When no way of the extract is drivable (``target`` is then not written).
    FileNotFoundError
        When ``source`` does not exist.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"OSM extract {source} not found")
    stats = DrivableExtract()
    keep: dict[int, dict[str, str] | None] = {}
    node_ids: set[int] = set()
    ways = osmium.FileProcessor(str(source), osmium.osm.WAY).with_filter(KeyFilter("highway"))
    for way in ways:
        if not isinstance(way, osmium.osm.Way):
            continue
        reason = drivable_reason(way.tags, table)
        if reason is not None:
            stats.left_out[reason] += 1
            continue
        keep[way.id] = _explicit_tags(way.tags)
        node_ids.update(n.ref for n in way.nodes)
    if not keep:
        found = sum(stats.left_out.values())
        raise NoDrivableRoadsError(
            f"{source.name}: no drivable road found ({found} highway ways, none of a class "
            f"in the speed table with car access; left out: "
            f"{dict(stats.left_out.most_common(6))}); the current roads are kept"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    writer = osmium.SimpleWriter(str(target))
    try:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node):
                if obj.id in node_ids:
                    writer.add_node(obj)
                    stats.nodes += 1
            elif isinstance(obj, osmium.osm.Way) and obj.id in keep:
                tags = keep[obj.id]
                writer.add_way(obj if tags is None else obj.replace(tags=tags))
                stats.ways += 1
    finally:
        writer.close()
    return stats


def read_landuse(source: Path, values: tuple[str, ...]) -> BaseGeometry | None:
    """Union of the ``landuse=<values>`` areas of an extract (EPSG:4326), or None."""
    if not values:
        return None
    wkb = osmium.geom.WKBFactory()
    wanted = set(values)
    parts = []
    processor = (
        osmium.FileProcessor(str(source)).with_areas(KeyFilter("landuse")).with_filter(KeyFilter("landuse"))
    )
    for obj in processor:
        if not isinstance(obj, osmium.osm.Area) or obj.tags.get("landuse") not in wanted:
            continue
        try:
            geom = shapely.from_wkb(wkb.create_multipolygon(obj))
        except (osmium.InvalidLocationError, RuntimeError):
            continue  # cut by the extract's edge
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        parts.append(geom)
    return shapely.union_all(parts) if parts else None
