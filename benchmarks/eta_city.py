"""ETA at city scale: hundreds of moving squads on the >= 1M-node synthetic graph.

Run: ``python benchmarks/eta.py --scenario city`` (or this file directly; ``--quick`` for
fewer events and moves). No database: the graph is generated here (the same generator as
the county scenario, ``benchmarks/eta.py``).

One run measures three methods on the same graph, squads, moves and scenes:

* **CCH** (ours at city scale, ``EtaEngine(method="cch")``): a customizable contraction
  hierarchy (routingkit-cch); a move re-pins the squads' exit nodes, an event is one
  many-to-one sweep plus a path unpacked for each of the fastest few (road metres).
* **trees** (ours for counties, today's method at any size): a shortest-path tree per exit
  node; a move onto another edge computes the new exit node's tree. Measured on fewer squads
  (``--tree-squads``, 8 MB per tree on 1M nodes) and scaled to 300: per-event cost and
  memory grow linearly with the trees, the cost of a move does not depend on the count.
* **pyroutingkit** (another binding of RoutingKit's CCH, stateless): an event asks its
  many-to-many matrix for every exit node; nothing to do on a move.

The load: 300 squads at random road points, moves at 30 per second (each move takes a random
squad onto a road leaving the end of its current one), an event after every three moves.
Exactness: the CCH's drive times against scipy's Dijkstra (reverse search from the scene on
the float weights), and the largest difference is printed; the target is "to the second".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta import random_points, synthetic_graph  # noqa: E402
from gridsvc.eta.cch import CchIndex  # noqa: E402
from gridsvc.eta.engine import EtaEngine  # noqa: E402
from gridsvc.eta.snap import Snap  # noqa: E402
from gridsvc.roads.cache import RoadGraph  # noqa: E402

SQUADS = 300
MOVES_PER_S = 30
EVENT_EVERY = 3  # moves between two events (10 events a second at 30 moves a second)


def rss_bytes() -> int:
    """Resident memory of this process now (bytes), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def next_edge(graph: RoadGraph, edge: int, rng: np.random.Generator) -> int:
    """A road leaving the end of ``edge`` (not straight back), as a squad driving on."""
    node = int(graph.edge_v[edge])
    slots = np.arange(graph.indptr[node], graph.indptr[node + 1])
    choices = [
        int(graph.slot_edge[s]) for s in slots if int(graph.edge_v[graph.slot_edge[s]]) != graph.edge_u[edge]
    ]
    return int(rng.choice(choices)) if choices else edge


def canonical(graph: RoadGraph, edge: int) -> int:
    """The stored edge of a two-way pair, as the snapper reports it."""
    twin = int(graph.edge_twin[edge])
    return min(edge, twin) if twin >= 0 else edge


def moves_plan(graph: RoadGraph, squads: Snap, count: int, seed: int) -> list[tuple[int, int, float]]:
    """(squad, new edge, fraction) for each move, driving on from the squad's current edge."""
    rng = np.random.default_rng(seed)
    edges = squads.edge.copy()
    plan = []
    for _ in range(count):
        squad = int(rng.integers(0, len(edges)))
        edge = next_edge(graph, int(edges[squad]), rng)
        edges[squad] = edge
        plan.append((squad, canonical(graph, edge), float(rng.uniform(0.05, 0.95))))
    return plan


def moved(snap: Snap, squad: int, edge: int, frac: float) -> Snap:
    edges, fracs = snap.edge.copy(), snap.frac.copy()
    edges[squad], fracs[squad] = edge, frac
    return Snap(edges, fracs, snap.offroad_m, snap.lng, snap.lat)


def run_engine(
    engine: EtaEngine, squads: Snap, plan: list[tuple[int, int, float]], scenes: tuple[Any, Any]
) -> dict[str, Any]:
    """Moves and events interleaved as they arrive; each timed alone."""
    origins = engine.origins(squads)
    snap, move_s, event_s, results = squads, [], [], []
    lng, lat = scenes
    for i, (squad, edge, frac) in enumerate(plan):
        snap = moved(snap, squad, edge, frac)
        started = time.perf_counter()
        origins = engine.origins(snap)
        move_s.append(time.perf_counter() - started)
        if (i + 1) % EVENT_EVERY == 0:
            k = (i + 1) // EVENT_EVERY - 1
            started = time.perf_counter()
            scene = engine.snapper.snap(lng[k : k + 1], lat[k : k + 1])
            result = engine.eta(origins, scene)
            event_s.append(time.perf_counter() - started)
            results.append((snap, scene, result.drive_s[:, 0]))
    return {"move": move_s, "event": event_s, "results": results}


def check_exact(engine: EtaEngine, reference: EtaEngine, results: list[Any], count: int) -> float:
    """Largest |CCH - Dijkstra| drive time (seconds) over ``count`` events and all squads."""
    worst = 0.0
    for snap, scene, drive in results[:count]:
        expected = reference.eta_by_reverse_search(snap, scene)
        worst = max(worst, float(np.max(np.abs(drive - expected))))
    return worst


def measure_cch(
    graph: RoadGraph, squads: Snap, plan: list[Any], scenes: Any, cache_dir: Path
) -> dict[str, Any]:
    before = rss_bytes()
    started = time.perf_counter()
    engine = EtaEngine(graph, method="cch", cache_dir=cache_dir)
    build_s = time.perf_counter() - started
    memory = rss_bytes() - before
    out = run_engine(engine, squads, plan, scenes)
    # the sweep alone (no road metres): what the metres of the fastest five add
    engine.distance_top = 0
    sweep = []
    lng, lat = scenes
    origins = engine.origins(squads)
    for k in range(min(len(out["event"]), 100)):
        started = time.perf_counter()
        engine.eta(origins, engine.snapper.snap(lng[k : k + 1], lat[k : k + 1]))
        sweep.append(time.perf_counter() - started)
    engine.distance_top = 5
    return {**out, "engine": engine, "build_s": build_s, "memory": memory, "sweep": sweep}


def worker_memory(nodes: int, cache_dir: Path, squads: Snap) -> dict[str, float]:
    """What a worker holds for the CCH when it starts with the order kept on disk (as the
    service does after the first start): measured in a process of its own, because freed
    memory of the first build is not given back to the system."""
    import json
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.eta_city import _worker; "
        f"_worker({nodes}, {str(cache_dir)!r}, {squads.edge.tolist()!r}, {squads.frac.tolist()!r})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _worker(nodes: int, cache_dir: str, edges: list[int], fracs: list[float]) -> None:
    import json

    graph = synthetic_graph(nodes)
    engine = EtaEngine(graph)  # graph and snapper: the same for either method
    before = rss_bytes()
    started = time.perf_counter()
    engine.cch = index = CchIndex(graph, cache_dir=Path(cache_dir))
    engine.method = "cch"
    snap = Snap(np.asarray(edges, dtype=np.int32), np.asarray(fracs), *(np.zeros(len(edges)),) * 3)
    engine.origins(snap)
    print(
        json.dumps(
            {"cch": rss_bytes() - before, "process": rss_bytes(), "start_s": time.perf_counter() - started}
        )
    )
    del index


def measure_trees(graph: RoadGraph, squads: Snap, plan: list[Any], scenes: Any, count: int) -> dict[str, Any]:
    few = squads.take(np.arange(count))
    engine = EtaEngine(graph, method="trees", tree_capacity=4 * count + 16)
    started = time.perf_counter()
    engine.origins(few)
    first_s = time.perf_counter() - started
    trees = len(engine.trees._trees)
    per_tree = first_s / max(trees, 1)
    mine = [(s, e, f) for s, e, f in plan if s < count][: max(10, count // 2)]
    out = run_engine(engine, few, mine, scenes)
    scale = SQUADS / count
    return {
        **out,
        "engine": engine,
        "per_tree_s": per_tree,
        "memory": int(trees * scale * graph.node_count * 8),
        "event_scaled": [t * scale for t in out["event"]],
        "squads": count,
    }


def measure_pyroutingkit(
    graph: RoadGraph, engine: EtaEngine, squads: Snap, scenes: Any, events: int
) -> dict[str, Any] | None:
    try:
        from pyroutingkit import CCH
    except ImportError:
        return None
    before = rss_bytes()
    started = time.perf_counter()
    cch = CCH()
    cch.build_topology(
        graph.edge_u.astype(np.uint32),
        graph.edge_v.astype(np.uint32),
        graph.node_lat.astype(np.float32),
        graph.node_lng.astype(np.float32),
        graph.node_count,
    )
    cch.customize_weights(np.maximum(np.rint(graph.edge_time * 1e4), 0).astype(np.uint32))
    build_s = time.perf_counter() - started
    memory = rss_bytes() - before
    exits = engine.exits(squads)
    nodes = np.array(sorted({n for ways in exits for n, _s, _m in ways}), dtype=np.uint32)
    position = {int(n): i for i, n in enumerate(nodes)}
    lng, lat = scenes
    times = []
    for k in range(events):
        started = time.perf_counter()
        scene = engine.snapper.snap(lng[k : k + 1], lat[k : k + 1])
        node, seconds, _m = engine._entries(scene)
        matrix = cch.distances_many_to_many(nodes, node[:, 0].astype(np.uint32)).astype(np.float64) * 1e-4
        to_scene = np.min(matrix + seconds[:, 0][None, :], axis=1)
        _drive = [min(out_s + to_scene[position[n]] for n, out_s, _m in ways) for ways in exits]
        times.append(time.perf_counter() - started)
    return {"build_s": build_s, "memory": memory, "event": times}


def main(args: argparse.Namespace) -> None:
    import tempfile

    print(f"generating the synthetic graph (~{args.nodes:,} nodes) ...", flush=True)
    graph = synthetic_graph(args.nodes)
    rng = np.random.default_rng(17)
    moves = 150 if args.quick else 900
    reference = EtaEngine(graph)  # snapping and the Dijkstra reference
    squads = reference.snapper.snap(*random_points(graph, SQUADS, rng))
    plan = moves_plan(graph, squads, moves, seed=18)
    scenes = random_points(graph, moves // EVENT_EVERY + 1, rng)
    print(
        f"{graph.node_count:,} nodes, {graph.edge_count:,} edges; {SQUADS} squads, {moves} moves", flush=True
    )
    with tempfile.TemporaryDirectory() as cache_dir:
        print("CCH: ordering, customising, then moves and events ...", flush=True)
        cch = measure_cch(graph, squads, plan, scenes, Path(cache_dir))
        print("CCH: a fresh worker process loading the kept order ...", flush=True)
        cch["worker"] = worker_memory(args.nodes, Path(cache_dir), squads)
    print("checking the CCH against Dijkstra ...", flush=True)
    worst = check_exact(cch["engine"], reference, cch["results"], 5 if args.quick else 20)
    print(f"trees: {args.tree_squads} squads ...", flush=True)
    trees = measure_trees(graph, squads, plan, scenes, args.tree_squads)
    del trees["engine"]
    other = None
    if not args.no_other:
        print("pyroutingkit: ordering, customising, events ...", flush=True)
        other = measure_pyroutingkit(graph, cch["engine"], squads, scenes, 10 if args.quick else 20)
    report(graph, cch, trees, other, worst)


def report(
    graph: RoadGraph, cch: dict[str, Any], trees: dict[str, Any], other: dict[str, Any] | None, worst: float
) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:,.2f}"

    gb = 1024**3
    print()
    print(f"{SQUADS} moving squads on {graph.node_count:,} nodes (ms; events include snapping the scene)")
    header = (
        f"{'method':<30}{'event p50':>10}{'event p99':>10}{'move p50':>10}{'move p95':>10}"
        f"{'moves/s':>10}{'memory GB':>11}{'build s':>9}"
    )
    print(header)
    print("-" * len(header))
    c_move = cch["move"]
    print(
        f"{'CCH (ours, city)':<30}{ms(pct(cch['event'], 50)):>10}{ms(pct(cch['event'], 99)):>10}"
        f"{ms(pct(c_move, 50)):>10}{ms(pct(c_move, 95)):>10}{1 / statistics.mean(c_move):>10,.0f}"
        f"{cch['memory'] / gb:>11.2f}{cch['build_s']:>9.1f}"
    )
    print(f"{'  sweep only (no metres)':<30}{ms(pct(cch['sweep'], 50)):>10}{ms(pct(cch['sweep'], 99)):>10}")
    tree_move = trees["move"]
    print(
        f"{'trees (today), scaled to 300':<30}{ms(pct(trees['event_scaled'], 50)):>10}"
        f"{ms(pct(trees['event_scaled'], 99)):>10}{ms(pct(tree_move, 50)):>10}{ms(pct(tree_move, 95)):>10}"
        f"{1 / statistics.mean(tree_move):>10,.1f}{trees['memory'] / gb:>11.2f}{'-':>9}"
    )
    if other is not None:
        print(
            f"{'pyroutingkit (stateless CCH)':<30}{ms(pct(other['event'], 50)):>10}"
            f"{ms(pct(other['event'], 99)):>10}"
            f"{'0':>10}{'0':>10}{'-':>10}{other['memory'] / gb:>11.2f}{other['build_s']:>9.1f}"
        )
    print()
    print(
        f"trees measured with {trees['squads']} squads ({ms(trees['per_tree_s'])} ms per tree): per-event "
        "time and memory scaled by 300/that (8 bytes a node per tree, two trees per squad on two-way roads); "
        "a move costs one new tree whatever the squad count"
    )
    print(
        "memory: resident-set growth while the method's index was built (CCH: with the order computed "
        "in the same process); a fresh worker loading the kept order grows by "
        f"{cch['worker']['cch'] / gb:.2f} GB "
        f"for the CCH in {cch['worker']['start_s']:.1f} s, and holds {cch['worker']['process'] / gb:.2f} GB "
        "in all (graph, snapper, CCH)"
    )
    ratio = pct(trees["move"], 95) / pct(c_move, 95)
    slower = pct(cch["event"], 50) / pct(trees["event_scaled"], 50)
    print(f"move p95: trees / CCH = {ratio:,.0f}x; event p50: CCH / trees = {slower:,.1f}x")
    print(f"CCH vs Dijkstra: largest difference {worst * 1e3:.1f} ms over all squads of the checked events")
    checks = [
        ("all-squad ETA per event p99 <= 5 ms", pct(cch["event"], 99) <= 0.005, ms(pct(cch["event"], 99))),
        ("a squad's move p95 <= 10 ms", pct(c_move, 95) <= 0.010, ms(pct(c_move, 95))),
        (
            ">= 100 moves/s per core",
            1 / statistics.mean(c_move) >= 100,
            f"{1 / statistics.mean(c_move):,.0f}/s",
        ),
        (
            "memory <= 2 GB (CCH of a worker, order kept)",
            cch["worker"]["cch"] <= 2 * gb,
            f"{cch['worker']['cch'] / gb:.2f} GB (whole worker {cch['worker']['process'] / gb:.2f} GB)",
        ),
        ("exact to the second (vs Dijkstra)", worst < 1.0, f"{worst * 1e3:.1f} ms"),
    ]
    print()
    for text, ok, value in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {text}: {value}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer moves and events")
    p.add_argument(
        "--nodes", type=int, default=1_060_000, help="synthetic graph size before the SCC is taken"
    )
    p.add_argument("--tree-squads", type=int, default=30, help="squads for the tree method (8 MB a tree)")
    p.add_argument("--no-other", action="store_true", help="skip pyroutingkit")
    return p


if __name__ == "__main__":
    main(parser().parse_args())
