"""The ETA engine against networkx on the real extracts (Liechtenstein, Ninghua).

The reference splits the road edges at the snapped points (both directions of a two-way
road, proportionally to the edge's travel time) and asks networkx for the shortest path
length with the same weights; the engine must agree to the hundredth of a second.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from gridsvc.eta.engine import EtaEngine, Snap
from gridsvc.roads.cache import RoadGraph
from gridsvc.roads.graph import build_network, compact
from gridsvc.roads.service import current_network, load_graph
from gridsvc.roads.speeds import load_speed_table
from gridsvc.settings import PROJECT_ROOT, Settings

SPEEDS = PROJECT_ROOT / "geodata" / "road_speeds.toml"
TOLERANCE_S = 0.01


@pytest.fixture(scope="module")
async def li_graph(demo: dict[str, Path], settings: Settings, database_url: str) -> RoadGraph:
    """The Liechtenstein graph as the demo imported it (cache file or PostGIS)."""
    from gridsvc.database.pool import connect

    connection = await connect(database_url)
    try:
        # the demo has two counties' networks: this is Liechtenstein's
        network = await current_network(connection, jurisdiction="LI")
        graph = await load_graph(connection, cache_dir=settings.road_cache_dir, network=network)
    finally:
        await connection.close()
    assert graph is not None
    return graph


@pytest.fixture(scope="module")
def ninghua_graph(shared_geodata: Path) -> RoadGraph:
    network = build_network(shared_geodata / "osm" / "cn_sanming_ninghua.osm", load_speed_table(SPEEDS))
    return compact(network, cache_key="ninghua-test")


def reference_graph(graph: RoadGraph) -> nx.MultiDiGraph:
    """Every directed edge of the graph (parallel ones too) with its travel time."""
    reference = nx.MultiDiGraph()
    for e in range(graph.edge_count):
        reference.add_edge(
            int(graph.edge_u[e]),
            int(graph.edge_v[e]),
            key=e,
            time=float(graph.edge_time[e]),
            length=float(graph.edge_length[e]),
        )
    return reference


def with_points(
    graph: RoadGraph, reference: nx.MultiDiGraph, points: dict[str, tuple[int, float]]
) -> nx.MultiDiGraph:
    """A copy of ``reference`` with named points inserted into their edges.

    ``points`` maps a name to (canonical edge, fraction from its u). Points on one edge are
    chained in order; the twin (other direction) gets the chain reversed.
    """
    split = reference.copy()
    by_edge: dict[int, list[tuple[float, str]]] = {}
    for name, (edge, frac) in points.items():
        by_edge.setdefault(edge, []).append((frac, name))
    for edge, stops in by_edge.items():
        stops.sort()
        u, v = int(graph.edge_u[edge]), int(graph.edge_v[edge])
        split.remove_edge(u, v, key=edge)
        chain = [(0.0, u), *stops, (1.0, v)]
        for (f0, a), (f1, b) in zip(chain[:-1], chain[1:], strict=True):
            split.add_edge(
                a,
                b,
                time=(f1 - f0) * float(graph.edge_time[edge]),
                length=(f1 - f0) * float(graph.edge_length[edge]),
            )
        twin = int(graph.edge_twin[edge])
        if twin >= 0:
            split.remove_edge(v, u, key=twin)
            for (f0, a), (f1, b) in zip(chain[:-1], chain[1:], strict=True):
                split.add_edge(
                    b,
                    a,
                    time=(f1 - f0) * float(graph.edge_time[twin]),
                    length=(f1 - f0) * float(graph.edge_length[twin]),
                )
    return split


def random_points(graph: RoadGraph, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    west, east = np.percentile(graph.node_lng, [2, 98])
    south, north = np.percentile(graph.node_lat, [2, 98])
    return rng.uniform(west, east, count), rng.uniform(south, north, count)


def compare_with_networkx(
    graph: RoadGraph,
    squads: int,
    scenes: int,
    seed: int,
    *,
    engine: EtaEngine | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> int:
    engine = engine or EtaEngine(graph)
    reference = reference_graph(graph)
    origins = engine.snapper.snap(*random_points(graph, squads, seed))
    places = engine.snapper.snap(*random_points(graph, scenes, seed + 1))
    result = engine.matrix(engine.origins(origins), places)
    checked = 0
    for col in range(scenes):
        # All squads and the scene split their edges at once (a squad's point is just one
        # more vertex on its road, so it changes no path length).
        points = {f"squad{row}": (int(origins.edge[row]), float(origins.frac[row])) for row in range(squads)}
        points["scene"] = (int(places.edge[col]), float(places.frac[col]))
        split = with_points(graph, reference, points)
        for row in range(squads):
            expected = nx.shortest_path_length(split, f"squad{row}", "scene", weight="time")
            assert result.drive_s[row, col] == pytest.approx(expected, abs=tolerance_s), (row, col)
            offroad = (origins.offroad_m[row] + places.offroad_m[col]) / engine.offroad_mps
            assert result.total_s[row, col] == pytest.approx(expected + offroad, abs=tolerance_s)
            if row % 4 == 0:  # road metres along the same fastest path
                path = nx.shortest_path(split, f"squad{row}", "scene", weight="time")
                metres = sum(
                    min(d["length"] for d in split[a][b].values())
                    for a, b in zip(path[:-1], path[1:], strict=True)
                )
                assert result.drive_m[row, col] == pytest.approx(metres, abs=0.5)
            checked += 1
    return checked


def test_liechtenstein_matches_networkx(li_graph: RoadGraph) -> None:
    assert compare_with_networkx(li_graph, squads=20, scenes=12, seed=7) >= 200


def test_ninghua_matches_networkx(ninghua_graph: RoadGraph) -> None:
    assert ninghua_graph.edge_count > 20
    assert (ninghua_graph.edge_twin < 0).sum() > 0, "Ninghua has one-way streets"
    assert compare_with_networkx(ninghua_graph, squads=15, scenes=14, seed=3) >= 200


def test_single_scene_path_equals_matrix_and_reverse_search(li_graph: RoadGraph) -> None:
    engine = EtaEngine(li_graph)
    origins = engine.origins(engine.snapper.snap(*random_points(li_graph, 20, 11)))
    scenes = engine.snapper.snap(*random_points(li_graph, 30, 12))
    matrix = engine.matrix(origins, scenes)
    for col in range(len(scenes)):
        one = engine.eta(origins, scenes.take([col]))
        np.testing.assert_allclose(one.drive_s[:, 0], matrix.drive_s[:, col], atol=1e-6)
        np.testing.assert_allclose(one.drive_m[:, 0], matrix.drive_m[:, col], atol=1e-3)
        reverse = engine.eta_by_reverse_search(origins.snap, scenes.take([col]))
        np.testing.assert_allclose(reverse, matrix.drive_s[:, col], atol=TOLERANCE_S)


def _one_way_edge(graph: RoadGraph, min_length: float) -> int:
    candidates = np.flatnonzero(
        (graph.edge_twin < 0) & (graph.edge_length > min_length) & (graph.edge_u != graph.edge_v)
    )
    assert len(candidates), "no one-way edge long enough"
    return int(candidates[np.argmax(graph.edge_length[candidates])])


def _on_edge(graph: RoadGraph, edge: int, fracs: list[float]) -> Snap:
    return Snap(
        edge=np.full(len(fracs), edge, dtype=np.int32),
        frac=np.array(fracs),
        offroad_m=np.zeros(len(fracs)),
        lng=np.zeros(len(fracs)),
        lat=np.zeros(len(fracs)),
    )


@pytest.mark.parametrize("which", ["ninghua", "liechtenstein"])
def test_one_way_streets_are_respected(which: str, ninghua_graph: RoadGraph, li_graph: RoadGraph) -> None:
    graph = ninghua_graph if which == "ninghua" else li_graph
    engine = EtaEngine(graph)
    edge = _one_way_edge(graph, 40.0)
    along = engine.matrix(_on_edge(graph, edge, [0.2]), _on_edge(graph, edge, [0.8]))
    against = engine.matrix(_on_edge(graph, edge, [0.8]), _on_edge(graph, edge, [0.2]))
    forward = 0.6 * graph.edge_time[edge]
    assert along.drive_s[0, 0] == pytest.approx(forward, abs=1e-6)
    # Driving back along a one-way street is not allowed: the way round is longer, and it
    # is what networkx finds on the directed graph.
    assert against.drive_s[0, 0] > forward + 1.0
    split = with_points(graph, reference_graph(graph), {"squad": (edge, 0.8), "scene": (edge, 0.2)})
    expected = nx.shortest_path_length(split, "squad", "scene", weight="time")
    assert against.drive_s[0, 0] == pytest.approx(expected, abs=TOLERANCE_S)


def test_snapping_to_the_edge_midpoint_beats_node_snapping(li_graph: RoadGraph) -> None:
    engine = EtaEngine(li_graph)
    two_way = np.flatnonzero(
        (li_graph.edge_twin > np.arange(li_graph.edge_count)) & (li_graph.edge_length > 600)
    )
    edge = int(two_way[np.argmax(li_graph.edge_length[two_way])])
    line = shapely.LineString(li_graph.geom_xy[li_graph.geom_ptr[edge] : li_graph.geom_ptr[edge + 1]])
    middle = shapely.line_interpolate_point(line, 0.5, normalized=True)
    scene = engine.snapper.snap(np.array([middle.x]), np.array([middle.y]))
    assert scene.offroad_m[0] < 1.0
    assert int(scene.edge[0]) in (edge, int(li_graph.edge_twin[edge]))
    station = engine.snapper.snap(np.array([9.5209]), np.array([47.1410]))  # Vaduz centre
    by_edge = engine.matrix(station, scene)
    truth = nx.shortest_path_length(
        with_points(
            li_graph,
            reference_graph(li_graph),
            {
                "squad": (int(station.edge[0]), float(station.frac[0])),
                "scene": (int(scene.edge[0]), float(scene.frac[0])),
            },
        ),
        "squad",
        "scene",
        weight="time",
    )
    assert by_edge.drive_s[0, 0] == pytest.approx(truth, abs=TOLERANCE_S)
    # Node snapping: the nearest node is an edge end, hundreds of metres away on foot.
    metres = engine.snapper.node_distances(middle.x, middle.y)
    node = int(np.argmin(metres))
    ways = engine.origins(station).ways[0]
    walk_s = (station.offroad_m[0] + metres[node]) / engine.offroad_mps
    by_node = min(out_s + float(times[node]) for _n, out_s, _m, times, _d in ways) + walk_s
    truth_total = truth + (station.offroad_m[0] + scene.offroad_m[0]) / engine.offroad_mps
    assert metres[node] > 100
    assert by_edge.total_s[0, 0] == pytest.approx(truth_total, abs=TOLERANCE_S)
    assert by_edge.total_s[0, 0] < by_node - 60


def test_scene_far_from_any_road_gets_an_answer(li_graph: RoadGraph) -> None:
    engine = EtaEngine(li_graph)
    station = engine.snapper.snap(np.array([9.5209]), np.array([47.1410]))
    far = engine.snapper.snap(np.array([9.90]), np.array([47.40]))  # ~35 km away, Austria
    result = engine.matrix(station, far)
    assert far.offroad_m[0] > 20_000
    assert np.isfinite(result.total_s[0, 0])
    assert result.total_s[0, 0] == pytest.approx(
        result.drive_s[0, 0] + (station.offroad_m[0] + far.offroad_m[0]) / engine.offroad_mps
    )


def test_route_runs_from_origin_road_point_to_scene_road_point(li_graph: RoadGraph) -> None:
    engine = EtaEngine(li_graph)
    origin = engine.snapper.snap(np.array([9.5097]), np.array([47.1660]))  # Schaan
    scene = engine.snapper.snap(np.array([9.4990]), np.array([47.0660]))  # Balzers
    result = engine.matrix(origin, scene)
    coords = engine.route(origin, scene)
    assert np.allclose(coords[0], [origin.lng[0], origin.lat[0]], atol=1e-6)
    assert np.allclose(coords[-1], [scene.lng[0], scene.lat[0]], atol=1e-6)
    from gridsvc.geo.shapes import GEOD

    length = GEOD.line_length(coords[:, 0], coords[:, 1])
    assert length == pytest.approx(result.drive_m[0, 0], rel=0.01)


def test_graph_cache_is_compact_and_round_trips(li_graph: RoadGraph, tmp_path: Path) -> None:
    assert li_graph.routing_nbytes() / li_graph.edge_count <= 64
    li_graph.save(tmp_path)
    loaded = RoadGraph.load(tmp_path, li_graph.cache_key)
    assert loaded is not None
    for name in ("indptr", "indices", "weight", "edge_twin", "geom_xy"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(li_graph, name))
    assert RoadGraph.load(tmp_path, "no-such-key") is None


def test_graph_is_strongly_connected(li_graph: RoadGraph) -> None:
    from scipy.sparse.csgraph import connected_components

    count, _labels = connected_components(li_graph.csr(), directed=True, connection="strong")
    assert count == 1
