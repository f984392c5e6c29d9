"""The city-scale ETA method (customizable contraction hierarchy) against networkx and the trees.

The CCH works on integer weights of 0.1 ms, so it may differ from the float travel times by
0.05 ms per edge driven: routes here stay within 0.05 s. Exactness on the hierarchy's own
integer weights (to the unit) is checked against scipy's Dijkstra.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient
from scipy.sparse.csgraph import dijkstra

from gridsvc.app import create_app
from gridsvc.eta.cch import UNIT_S, CchIndex, order_path
from gridsvc.eta.engine import EtaEngine, engine_for
from gridsvc.patrols.routes import planning_engine
from gridsvc.roads.cache import RoadGraph
from gridsvc.settings import Settings
from tests import test_eta_engine as base
from tests.auth_support import bearer
from tests.test_eta_engine import compare_with_networkx, random_points

CCH_TOLERANCE_S = 0.05

# the graphs of the tree engine's tests, shared as fixtures
li_graph = base.li_graph
ninghua_graph = base.ninghua_graph


def cch_engine(graph: RoadGraph, tmp_path: Path, distance_top: int = 1000) -> EtaEngine:
    return EtaEngine(graph, method="cch", cache_dir=tmp_path, distance_top=distance_top)


def test_cch_matches_networkx_on_liechtenstein(li_graph: RoadGraph, tmp_path: Path) -> None:
    engine = cch_engine(li_graph, tmp_path)
    checked = compare_with_networkx(
        li_graph, squads=20, scenes=12, seed=7, engine=engine, tolerance_s=CCH_TOLERANCE_S
    )
    assert checked >= 200


def test_cch_matches_networkx_on_ninghua(ninghua_graph: RoadGraph, tmp_path: Path) -> None:
    engine = cch_engine(ninghua_graph, tmp_path)
    checked = compare_with_networkx(
        ninghua_graph, squads=15, scenes=14, seed=3, engine=engine, tolerance_s=CCH_TOLERANCE_S
    )
    assert checked >= 200


def test_cch_is_exact_on_its_integer_weights(li_graph: RoadGraph, tmp_path: Path) -> None:
    index = CchIndex(li_graph, cache_dir=tmp_path)
    units = np.maximum(np.rint(li_graph.edge_time / UNIT_S), 0)
    # parallel edges: the cheapest counts (a CSR built from duplicates would sum them)
    best: dict[tuple[int, int], float] = {}
    for u, v, w in zip(li_graph.edge_u.tolist(), li_graph.edge_v.tolist(), units.tolist(), strict=True):
        best[(v, u)] = min(best.get((v, u), np.inf), w)
    rows, cols = zip(*best.keys(), strict=True)
    reverse = sp.csr_matrix(
        (list(best.values()), (rows, cols)), shape=(li_graph.node_count, li_graph.node_count)
    )
    rng = np.random.default_rng(5)
    sources = tuple(sorted({int(x) for x in rng.integers(0, li_graph.node_count, 40)}))
    for target in rng.integers(0, li_graph.node_count, 10).tolist():
        expected = dijkstra(reverse, indices=[target])[0][list(sources)]
        got = index.to_scene(sources, [(target, 0.0)]) / UNIT_S
        np.testing.assert_array_equal(np.rint(got), expected)


def test_cch_and_trees_agree_for_one_scene_and_for_many(li_graph: RoadGraph, tmp_path: Path) -> None:
    trees = EtaEngine(li_graph)
    cch = cch_engine(li_graph, tmp_path)
    squads = trees.snapper.snap(*random_points(li_graph, 12, 21))
    # 60 scenes > 2 x the squads' exit nodes: the many-scenes sweep (coverage) is used
    scenes = trees.snapper.snap(*random_points(li_graph, 60, 22))
    expected = trees.matrix(trees.origins(squads), scenes)
    many = cch.matrix(cch.origins(squads), scenes)
    np.testing.assert_allclose(many.drive_s, expected.drive_s, atol=CCH_TOLERANCE_S)
    np.testing.assert_allclose(many.total_s, expected.total_s, atol=CCH_TOLERANCE_S)
    np.testing.assert_allclose(many.drive_m, expected.drive_m, rtol=1e-3, atol=0.5)
    for col in (0, 17, 59):
        one = cch.eta(cch.origins(squads), scenes.take([col]))
        np.testing.assert_allclose(one.drive_s[:, 0], expected.drive_s[:, col], atol=CCH_TOLERANCE_S)
        np.testing.assert_allclose(one.drive_m[:, 0], expected.drive_m[:, col], rtol=1e-3, atol=0.5)


def test_only_the_fastest_squads_get_road_metres(li_graph: RoadGraph, tmp_path: Path) -> None:
    engine = cch_engine(li_graph, tmp_path, distance_top=3)
    squads = engine.snapper.snap(*random_points(li_graph, 10, 31))
    scene = engine.snapper.snap(*random_points(li_graph, 1, 32))
    result = engine.eta(engine.origins(squads), scene)
    with_metres = np.flatnonzero(np.isfinite(result.drive_m[:, 0]))
    fastest = np.argsort(result.drive_s[:, 0], kind="stable")[:3]
    assert sorted(with_metres.tolist()) == sorted(fastest.tolist())


def test_cch_route_follows_the_same_roads(li_graph: RoadGraph, tmp_path: Path) -> None:
    trees, cch = EtaEngine(li_graph), cch_engine(li_graph, tmp_path)
    origin = trees.snapper.snap(np.array([9.5097]), np.array([47.1660]))  # Schaan
    scene = trees.snapper.snap(np.array([9.4990]), np.array([47.0660]))  # Balzers
    from gridsvc.geo.shapes import GEOD

    by_trees, by_cch = trees.route(origin, scene), cch.route(origin, scene)
    assert np.allclose(by_cch[0], by_trees[0]) and np.allclose(by_cch[-1], by_trees[-1])
    assert GEOD.line_length(by_cch[:, 0], by_cch[:, 1]) == pytest.approx(
        GEOD.line_length(by_trees[:, 0], by_trees[:, 1]), rel=1e-3
    )


def test_order_is_kept_beside_the_graph_and_reused(li_graph: RoadGraph, tmp_path: Path) -> None:
    first = CchIndex(li_graph, cache_dir=tmp_path)
    path = order_path(tmp_path, li_graph.cache_key)
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    second = CchIndex(li_graph, cache_dir=tmp_path)
    assert path.stat().st_mtime_ns == stamp  # loaded, not recomputed
    nodes = (0, 5, 9)
    np.testing.assert_array_equal(first.to_scene(nodes, [(100, 0.0)]), second.to_scene(nodes, [(100, 0.0)]))
    path.write_bytes(b"not an order")  # a damaged file is recomputed, not trusted
    third = CchIndex(li_graph, cache_dir=tmp_path)
    np.testing.assert_array_equal(third.to_scene(nodes, [(100, 0.0)]), first.to_scene(nodes, [(100, 0.0)]))


def test_auto_picks_the_cch_for_big_graphs_and_planning_keeps_trees(
    li_graph: RoadGraph, settings: Settings, tmp_path: Path
) -> None:
    small = settings.model_copy(
        update={"eta_cch_min_nodes": li_graph.node_count + 1, "road_cache_dir": tmp_path}
    )
    big = settings.model_copy(update={"eta_cch_min_nodes": li_graph.node_count, "road_cache_dir": tmp_path})
    assert engine_for(li_graph, small).method == "trees"
    engine = engine_for(li_graph, big)
    assert engine.method == "cch" and engine.cch is not None
    planner = planning_engine(engine)
    assert planner.cch is None and engine.cch is not None
    pair = planner.snapper.snap(*random_points(li_graph, 4, 41))
    assert np.isfinite(planner.matrix(pair, pair).drive_m).all()
    with pytest.raises(ValueError, match="unknown ETA method"):
        EtaEngine(li_graph, method="fastest")


def test_the_eta_api_answers_the_same_with_the_cch(
    client: TestClient, settings: Settings, demo: dict[str, Path]
) -> None:
    """The real app with ``GRIDSVC_ETA_METHOD=cch`` beside the session's (trees) app."""
    assert settings.database_url is not None
    scene = {"lat": 47.1410, "lng": 9.5209}  # Vaduz
    expected = client.get("/eta", params=scene).json()["squads"]
    cch_settings = settings.model_copy(update={"eta_method": "cch", "eta_cch_distance_top": 3})
    with TestClient(create_app(cch_settings)) as cch_client:
        cch_client.headers.update(bearer(settings.database_url, "admin"))
        body = cch_client.get("/eta", params={**scene, "route": expected[0]["squad"]["id"]}).json()
    got = body["squads"]
    assert [a["squad"]["code"] for a in got] == [a["squad"]["code"] for a in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["eta_s"] == pytest.approx(theirs["eta_s"], abs=0.1)
    reachable = [a for a in got if a["reachable"]]
    assert len(reachable) > 3
    assert all(a["distance_m"] is not None for a in reachable[:3])
    assert all(a["distance_m"] is None for a in reachable[3:])
    assert [a["distance_m"] for a in got[:3]] == pytest.approx([a["distance_m"] for a in expected[:3]], abs=1)
    assert body["route"]["geometry"]["coordinates"], "the route is drawn from the hierarchy's path"


def test_a_dropped_index_ends_its_thread(ninghua_graph: RoadGraph, tmp_path: Path) -> None:
    """The RoutingKit objects live on the index's own thread; dropping the index (a road
    reload) ends that thread instead of leaking it."""
    import gc
    import threading

    before = {t.ident for t in threading.enumerate() if t.name == "cch"}
    index = CchIndex(ninghua_graph, cache_dir=tmp_path)
    assert index.to_scene((0, 1), [(2, 0.0)]).shape == (2,)
    mine = [t for t in threading.enumerate() if t.name == "cch" and t.ident not in before]
    assert len(mine) == 1
    del index
    gc.collect()
    mine[0].join(timeout=30)
    assert not mine[0].is_alive()
