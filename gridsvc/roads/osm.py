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
    trimmed_ways : int
        Drivable ways that referenced nodes missing from the extract (cut by its bounding
        box): each was cut at the extract's edge into its runs of present nodes.
    missing_node_refs : int
        References of those ways to nodes missing from the extract.
    trimmed_parts : int
        Ways written for the trimmed ways (their runs of two or more present nodes).
    trimmed_dropped : int
        Trimmed ways with no run of two present nodes (nothing of them was kept).
    split_ids : dict of int to int
        The stand-in way id of every run after a trimmed way's first (negative, as OSM
        editors number new objects; osmnx keys ways by id) to the way's real id.
    """

    ways: int = 0
    nodes: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    trimmed_ways: int = 0
    missing_node_refs: int = 0
    trimmed_parts: int = 0
    trimmed_dropped: int = 0
    split_ids: dict[int, int] = field(default_factory=dict)

    def trimmed_report(self) -> dict[str, int]:
        return {
            "ways": self.trimmed_ways,
            "missing_node_refs": self.missing_node_refs,
            "parts_kept": self.trimmed_parts,
            "ways_dropped": self.trimmed_dropped,
        }


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


def present_runs(refs: list[int], present: set[int]) -> list[list[int]]:
    """The maximal runs of consecutive ``refs`` found in ``present``, two nodes or more.

    A way cut by an extract's bounding box keeps the pieces inside it; joining the pieces
    across the gap would invent a road that does not exist.
    """
    runs: list[list[int]] = []
    run: list[int] = []
    for ref in refs:
        if ref in present:
            run.append(ref)
            continue
        if len(run) >= 2:
            runs.append(run)
        run = []
    if len(run) >= 2:
        runs.append(run)
    return runs


def write_drivable_xml(source: Path, target: Path, table: SpeedTable) -> DrivableExtract:
    """Write the drivable ways of ``source`` and their nodes to ``target`` (OSM XML).

    Ways that reference nodes missing from the extract (every bounding-box cut has them)
    are cut at the extract's edge into their runs of present nodes and counted; osmnx
    would otherwise refuse the whole file. OSM files list nodes before ways (osmium and
    Overpass both write them sorted), so every node is known when its ways are read.

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
    present: set[int] = set()
    try:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node):
                if obj.id in node_ids:
                    writer.add_node(obj)
                    present.add(obj.id)
                    stats.nodes += 1
            elif isinstance(obj, osmium.osm.Way) and obj.id in keep:
                _write_way(writer, obj, keep[obj.id], present, stats)
    finally:
        writer.close()
    if stats.ways == 0:
        raise NoDrivableRoadsError(
            f"{source.name}: no drivable road left after cutting {stats.trimmed_ways} ways "
            f"at the extract's edge (their nodes are missing); the current roads are kept"
        )
    return stats


def _write_way(
    writer: osmium.SimpleWriter,
    way: osmium.osm.Way,
    tags: dict[str, str] | None,
    present: set[int],
    stats: DrivableExtract,
) -> None:
    refs = [n.ref for n in way.nodes]
    missing = sum(1 for ref in refs if ref not in present)
    if not missing:
        writer.add_way(way if tags is None else way.replace(tags=tags))
        stats.ways += 1
        return
    stats.trimmed_ways += 1
    stats.missing_node_refs += missing
    runs = present_runs(refs, present)
    if not runs:
        stats.trimmed_dropped += 1
        return
    all_tags = tags if tags is not None else {t.k: t.v for t in way.tags}
    stats.ways += 1
    for i, run in enumerate(runs):
        part_id = way.id
        if i:
            part_id = -(len(stats.split_ids) + 1)
            stats.split_ids[part_id] = way.id
        writer.add_way(way.replace(id=part_id, nodes=run, tags=all_tags))
        stats.trimmed_parts += 1


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
