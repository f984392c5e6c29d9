"""Build the drivable road network of an OSM extract with osmnx (CPU-heavy; run in a thread).

Steps: drivable ways to OSM XML (:mod:`gridsvc.roads.osm`), ``osmnx.graph_from_xml``
(one-ways respected, unsimplified), travel time per raw segment from ``maxspeed`` or the
class speed table (with the urban slowdown), clipping to the jurisdiction, the largest
strongly connected component, then osmnx simplification that keeps a node wherever the
class, the speed rule or the urban flag changes, so every simplified edge has one speed.

The result is a :class:`RoadNetwork` of flat numpy arrays: nodes in WGS84 degrees,
edges with length (metres), travel time (seconds) and LineString geometry (EPSG:4326).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gridsvc.roads.cache import RoadGraph
from gridsvc.roads.osm import NoDrivableRoadsError, read_landuse, write_drivable_xml
from gridsvc.roads.speeds import SpeedTable, parse_maxspeed

Progress = Callable[[str], None]
# Per-edge attribute aggregation when osmnx merges segments: times and lengths add up.
_AGGREGATE = {"length": sum, "travel_time": sum}
_MIN_TIME_S = 1e-3  # zero-length segments exist in OSM; a zero weight would vanish in CSR


@dataclass
class RoadNetwork:
    """A directed, strongly connected drivable road graph as flat arrays.

    Attributes
    ----------
    node_osm_id : int64 array (N,)
    node_lng, node_lat : float64 arrays (N,)
        WGS84 degrees.
    edge_u, edge_v : int32 arrays (E,)
        Node positions; an edge is travelled from ``u`` to ``v``.
    edge_way : int64 array (E,)
        The (first) OSM way id.
    edge_class : object array (E,) of str
        ``highway=*`` class.
    edge_name : object array (E,) of str or None
    edge_oneway : bool array (E,)
    edge_maxspeed : float32 array (E,)
        Tagged limit in km/h, NaN where none was usable.
    edge_speed_source : object array (E,)
        ``maxspeed`` or ``class`` (``mixed`` when merged segments differ).
    edge_urban : bool array (E,)
        Whether the urban slowdown applied.
    edge_length : float64 array (E,)
        Metres along the geometry (osmnx great-circle lengths).
    edge_time : float64 array (E,)
        Seconds.
    edge_geometry : object array (E,) of LineString
        EPSG:4326, oriented from ``u`` to ``v``.
    report : dict
        What was kept and left out, for the import report.
    """

    node_osm_id: NDArray[np.int64]
    node_lng: NDArray[np.float64]
    node_lat: NDArray[np.float64]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_way: NDArray[np.int64]
    edge_class: NDArray[np.object_]
    edge_name: NDArray[np.object_]
    edge_oneway: NDArray[np.bool_]
    edge_maxspeed: NDArray[np.float32]
    edge_speed_source: NDArray[np.object_]
    edge_urban: NDArray[np.bool_]
    edge_length: NDArray[np.float64]
    edge_time: NDArray[np.float64]
    edge_geometry: NDArray[np.object_]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def node_count(self) -> int:
        return len(self.node_osm_id)

    @property
    def edge_count(self) -> int:
        return len(self.edge_u)

    @property
    def edge_speed_kmh(self) -> NDArray[np.float64]:
        """Effective average speed per edge, km/h."""
        return self.edge_length / self.edge_time * 3.6


def build_network(
    source: Path, table: SpeedTable, *, clip: BaseGeometry | None = None, progress: Progress | None = None
) -> RoadNetwork:
    """Build the road network of an OSM extract.

    Parameters
    ----------
    source : pathlib.Path
        ``.osm.pbf`` or ``.osm`` (XML) extract, WGS84.
    table : SpeedTable
        Speeds per class and the maxspeed / urban rules.
    clip : shapely geometry, optional
        Keep only road nodes inside this polygon (EPSG:4326, already buffered).
    progress : callable, optional
        Called with the name of each step as it starts (for progress bars).

    Raises
    ------
    NoDrivableRoadsError
        When the extract (or its clipped part) has no drivable road.
    """
    mark = _Marker(progress)
    with tempfile.TemporaryDirectory(prefix="gridsvc-roads-") as tmp:
        xml = Path(tmp) / "drivable.osm"
        mark("filter drivable ways")
        extract = write_drivable_xml(source, xml, table)
        mark("osmnx graph_from_xml")
        graph = ox.graph_from_xml(xml, simplify=False, retain_all=True)
    if extract.split_ids:  # the runs of a way cut at the extract's edge carry its real id
        for _u, _v, data in graph.edges(data=True):
            data["osmid"] = extract.split_ids.get(data["osmid"], data["osmid"])
    mark("urban areas")
    urban = read_landuse(source, table.urban_landuse) if table.urban_factor < 1.0 else None
    ways = {
        "drivable": extract.ways,
        "left_out": dict(extract.left_out.most_common()),
        "trimmed_at_edge": extract.trimmed_report(),
    }
    return finish_network(
        graph, table, urban=urban, clip=clip, mark=mark, report={"source": str(source), "ways": ways}
    )


def fetch_network(
    place: str, table: SpeedTable, *, clip: BaseGeometry | None = None, progress: Progress | None = None
) -> RoadNetwork:
    """Download the drivable roads of a place through osmnx (needs internet access).

    The Overpass filter is derived from the speed table. Motorways that osmnx made two-way
    (it does not know that ``highway=motorway`` implies ``oneway=yes``) are made one-way.
    """
    mark = _Marker(progress)
    mark("osmnx graph_from_place (download)")
    graph = ox.graph_from_place(place, custom_filter=overpass_filter(table), simplify=False, retain_all=True)
    motorway_back = [
        (u, v, k)
        for u, v, k, d in graph.edges(keys=True, data=True)
        if d.get("highway") == "motorway" and d.get("reversed") is True
    ]
    graph.remove_edges_from(motorway_back)
    urban = None
    if table.urban_factor < 1.0:
        mark("urban areas (download)")
        try:
            areas = ox.features_from_place(place, tags={"landuse": list(table.urban_landuse)})
            urban = shapely.union_all(list(areas.geometry)) if len(areas) else None
        except ox._errors.InsufficientResponseError:
            urban = None
    return finish_network(
        graph, table, urban=urban, clip=clip, mark=mark, report={"source": f"osmnx:{place}"}
    )


def overpass_filter(table: SpeedTable) -> str:
    """An Overpass QL way filter equivalent to :func:`gridsvc.roads.osm.drivable_reason`."""
    classes = "|".join(sorted(table.class_kmh))
    denied = "|".join(sorted(table.access_denied))
    service = "|".join(sorted(table.excluded_service)) or "^$"
    return (
        f'["highway"~"^({classes})$"]["area"!~"yes"]["access"!~"^({denied})$"]'
        f'["motor_vehicle"!~"^no$"]["motorcar"!~"^no$"]["service"!~"^({service})$"]'
        '["oneway"!~"reversible|alternating"]'
    )


class _Marker:
    """Reports each step to the progress callback and keeps when it started."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress or (lambda _name: None)
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        self.timings[name] = round(time.perf_counter() - self.started, 3)
        self.progress(name)


def finish_network(
    graph: nx.MultiDiGraph,
    table: SpeedTable,
    *,
    urban: BaseGeometry | None,
    clip: BaseGeometry | None,
    mark: _Marker,
    report: dict[str, Any],
) -> RoadNetwork:
    """From an unsimplified osmnx graph: speeds, clip, largest SCC, simplify, arrays."""
    raw_nodes, raw_edges = graph.number_of_nodes(), graph.number_of_edges()
    mark("speeds")
    speed_counts = _assign_speeds(graph, table, urban)
    clipped_out = 0
    if clip is not None:
        mark("clip")
        clipped_out = _clip(graph, clip)
    if graph.number_of_edges() == 0:
        where = "inside the clip area" if clip is not None else "in the data"
        raise NoDrivableRoadsError(
            f"{report['source']}: no drivable road {where}; the current roads are kept"
        )
    mark("strongly connected component")
    components = _keep_largest_scc(graph)
    mark("osmnx simplify")
    graph = ox.simplify_graph(
        graph, edge_attrs_differ=["highway", "maxspeed_kmh", "urban"], edge_attr_aggs=_AGGREGATE
    )
    mark("arrays")
    network = _to_arrays(graph)
    mark("done")
    network.report = {
        **report,
        "raw": {"nodes": raw_nodes, "edges": raw_edges},
        "clipped_out_nodes": clipped_out,
        "components": components,
        "speed_rules": speed_counts,
        "graph": {
            "nodes": network.node_count,
            "edges": network.edge_count,
            "oneway_edges": int(network.edge_oneway.sum()),
            "length_km": round(float(network.edge_length.sum()) / 1000.0, 1),
        },
        "speed_table": table.as_report(),
        "timings_s": mark.timings,
    }
    return network


def _assign_speeds(graph: nx.MultiDiGraph, table: SpeedTable, urban: BaseGeometry | None) -> dict[str, int]:
    """Set ``maxspeed_kmh``, ``speed_kmh``, ``urban``, ``travel_time`` on each raw segment."""
    edges = list(graph.edges(keys=True, data=True))
    inside = np.zeros(len(edges), dtype=bool)
    if urban is not None and edges:
        x = np.array([graph.nodes[u]["x"] + graph.nodes[v]["x"] for u, v, _k, _d in edges]) / 2
        y = np.array([graph.nodes[u]["y"] + graph.nodes[v]["y"] for u, v, _k, _d in edges]) / 2
        shapely.prepare(urban)
        inside = shapely.contains_xy(urban, x, y)
    counts = {"maxspeed": 0, "class": 0, "class_urban": 0}
    for (_u, _v, _k, data), is_urban in zip(edges, inside.tolist(), strict=True):
        limit = parse_maxspeed(data.get("maxspeed"), table.zones_kmh)
        if limit is not None:
            speed = limit * table.maxspeed_factor
            data["speed_source"], data["urban"] = "maxspeed", False
            counts["maxspeed"] += 1
        else:
            speed = table.class_kmh[data["highway"]]
            if is_urban:
                speed *= table.urban_factor
            data["speed_source"], data["urban"] = "class", bool(is_urban)
            counts["class_urban" if is_urban else "class"] += 1
        data["maxspeed_kmh"] = limit
        data["travel_time"] = max(float(data["length"]) / (speed / 3.6), _MIN_TIME_S)
    return counts


def _clip(graph: nx.MultiDiGraph, clip: BaseGeometry) -> int:
    nodes = list(graph.nodes)
    x = np.array([graph.nodes[n]["x"] for n in nodes])
    y = np.array([graph.nodes[n]["y"] for n in nodes])
    shapely.prepare(clip)
    outside = [n for n, keep in zip(nodes, shapely.contains_xy(clip, x, y).tolist(), strict=True) if not keep]
    graph.remove_nodes_from(outside)
    return len(outside)


def _keep_largest_scc(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Keep the largest strongly connected component in place; describe the others.

    Everything dropped is unreachable from the rest or cannot get back (dead-end one-ways,
    islands cut by the extract's edge): a squad or scene there would have no answer.
    """
    components = sorted(nx.strongly_connected_components(graph), key=len, reverse=True)
    largest = components[0]
    dropped = [c for c in components[1:]]
    dropped_nodes = set().union(*dropped) if dropped else set()
    dropped_edges = sum(1 for u, v in graph.edges() if u in dropped_nodes or v in dropped_nodes)
    graph.remove_nodes_from(dropped_nodes)
    return {
        "kept_nodes": len(largest),
        "dropped_components": len(dropped),
        "dropped_nodes": len(dropped_nodes),
        "dropped_edges": dropped_edges,
        "largest_dropped": sorted((len(c) for c in dropped), reverse=True)[:5],
    }


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _to_arrays(graph: nx.MultiDiGraph) -> RoadNetwork:
    nodes = list(graph.nodes)
    position = {n: i for i, n in enumerate(nodes)}
    lng = np.array([graph.nodes[n]["x"] for n in nodes], dtype=np.float64)
    lat = np.array([graph.nodes[n]["y"] for n in nodes], dtype=np.float64)
    rows = list(graph.edges(keys=True, data=True))
    geometries = []
    for u, v, _k, data in rows:
        geometry = data.get("geometry")
        if geometry is None:
            geometry = shapely.LineString(
                [(lng[position[u]], lat[position[u]]), (lng[position[v]], lat[position[v]])]
            )
        geometries.append(geometry)
    sources = [d.get("speed_source") for _u, _v, _k, d in rows]
    limits = [_first(d.get("maxspeed_kmh")) for _u, _v, _k, d in rows]
    return RoadNetwork(
        node_osm_id=np.array(nodes, dtype=np.int64),
        node_lng=lng,
        node_lat=lat,
        edge_u=np.array([position[u] for u, _v, _k, _d in rows], dtype=np.int32),
        edge_v=np.array([position[v] for _u, v, _k, _d in rows], dtype=np.int32),
        edge_way=np.array([_first(d["osmid"]) for _u, _v, _k, d in rows], dtype=np.int64),
        edge_class=np.array([str(_first(d["highway"])) for _u, _v, _k, d in rows], dtype=object),
        edge_name=np.array([_name(d.get("name")) for _u, _v, _k, d in rows], dtype=object),
        edge_oneway=np.array([bool(_first(d.get("oneway", False))) for _u, _v, _k, d in rows]),
        edge_maxspeed=np.array([np.nan if s is None else s for s in limits], dtype=np.float32),
        edge_speed_source=np.array(["mixed" if isinstance(s, list) else s for s in sources], dtype=object),
        edge_urban=np.array([bool(_first(d.get("urban", False))) for _u, _v, _k, d in rows]),
        edge_length=np.array([float(d["length"]) for _u, _v, _k, d in rows]),
        edge_time=np.array([float(d["travel_time"]) for _u, _v, _k, d in rows]),
        edge_geometry=np.array(geometries, dtype=object),
    )


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " / ".join(dict.fromkeys(str(v) for v in value))
    return str(value)


def compact(network: RoadNetwork, *, cache_key: str = "") -> RoadGraph:
    """The compact (CSR) form of a network, what the ETA engine loads."""
    coords, owner = shapely.get_coordinates(network.edge_geometry, return_index=True)
    ptr = np.zeros(network.edge_count + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=network.edge_count), out=ptr[1:])
    return RoadGraph.build(
        edge_u=network.edge_u,
        edge_v=network.edge_v,
        edge_time=network.edge_time,
        edge_length=network.edge_length,
        edge_oneway=network.edge_oneway,
        node_lng=network.node_lng,
        node_lat=network.node_lat,
        geom_ptr=ptr,
        geom_xy=coords,
        edge_class=network.edge_class,
        cache_key=cache_key,
    )
