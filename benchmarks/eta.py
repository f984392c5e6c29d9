"""ETA benchmark: all-squads ETA per event vs networkx and pgRouting, on two graphs.

Run: ``python benchmarks/eta.py`` (``--quick`` for fewer repetitions); ``--scenario city``
runs ``benchmarks/eta_city.py`` instead (300 moving squads, CCH against trees). Uses
GRIDSVC_DATABASE_URL's server or the private cluster, in a scratch database of its own
(dropped at the end) with PostGIS and pgRouting.

Graphs: the Liechtenstein extract (imported with the real ``import_roads``, which is
timed), and a synthetic road-like graph of >= 1,000,000 nodes generated here: a jittered
grid with residential streets, secondary arterials every 10th line and trunk roads every
50th, 12 % of residential links missing (blocks), 15 % of them one-way in a random
direction, the largest strongly connected component kept.

Per graph and event: 20 squads at random road points, a random scene. Measured in the same
run: our ETA for every squad (scene snapping included; trees prepared beforehand, their
cost reported as "tree refresh", what a squad moving to a new edge costs), the alternative
strategy of one reverse search from the scene per event, networkx
``shortest_path_length`` once per squad, and pgRouting ``pgr_dijkstraCost`` (many-to-one)
from the same database. Baselines get the easier node-to-node problem.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyproj
from scipy.sparse.csgraph import connected_components, dijkstra

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.eta.engine import EtaEngine, Snap  # noqa: E402
from gridsvc.roads.cache import RoadGraph  # noqa: E402
from gridsvc.roads.service import import_roads  # noqa: E402
from gridsvc.settings import Settings, get_settings  # noqa: E402

SQUADS = 20
CENTRE = (116.64, 26.26)  # Ninghua county, Fujian: where the synthetic county is drawn
SPEEDS_KMH = {"residential": 20.0, "secondary": 40.0, "trunk": 70.0}

PGR_LI = (
    "SELECT e.edge AS id, e.source, e.target, e.time_s AS cost FROM road_edges e "
    "JOIN road_networks n ON n.id = e.network_id AND n.is_current"
)
PGR_SYNTHETIC = "SELECT id, source, target, cost FROM bench_edges"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def timed(function: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


# -- the synthetic county --------------------------------------------------------------


def synthetic_graph(nodes: int, seed: int = 42) -> RoadGraph:
    """A hierarchical jittered grid of about ``nodes`` nodes (see the module docstring)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(nodes)))
    spacing = 80.0  # metres between parallel streets
    grid = np.arange(side * side).reshape(side, side)
    x = (np.arange(side)[None, :] * spacing + rng.uniform(-15, 15, (side, side))).ravel()
    y = (np.arange(side)[:, None] * spacing + rng.uniform(-15, 15, (side, side))).ravel()
    rows = np.arange(side)

    def line_class(index: np.ndarray) -> np.ndarray:
        return np.where(index % 50 == 0, 2, np.where(index % 10 == 0, 1, 0))

    u = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    v = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    cls = np.concatenate(
        [
            np.repeat(line_class(rows), side - 1),  # horizontal: by row
            np.tile(line_class(rows), side - 1),
        ]
    )  # vertical: by column
    local = cls == 0
    keep = ~local | (rng.random(len(u)) > 0.12)
    u, v, cls = u[keep], v[keep], cls[keep]
    oneway = (cls == 0) & (rng.random(len(u)) < 0.15)
    flip = oneway & (rng.random(len(u)) < 0.5)
    u, v = np.where(flip, v, u), np.where(flip, u, v)
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    speed = np.array([SPEEDS_KMH["residential"], SPEEDS_KMH["secondary"], SPEEDS_KMH["trunk"]])[cls]
    seconds = length / (speed / 3.6)
    two = np.flatnonzero(~oneway)
    eu = np.concatenate([u, v[two]])
    ev = np.concatenate([v, u[two]])
    et = np.concatenate([seconds, seconds[two]])
    el = np.concatenate([length, length[two]])
    twin = np.full(len(eu), -1, dtype=np.int64)
    twin[two] = len(u) + np.arange(len(two))
    twin[len(u) :] = two
    names = np.array(["residential", "secondary", "trunk"], dtype=object)
    classes = np.concatenate([names[cls], names[cls[two]]])
    # Largest strongly connected component only, as the importer keeps.
    import scipy.sparse as sp

    matrix = sp.csr_matrix((np.ones(len(eu)), (eu, ev)), shape=(side * side, side * side))
    _count, labels = connected_components(matrix, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    inside = labels == biggest
    renumber = np.cumsum(inside) - 1
    kept = inside[eu] & inside[ev]
    new_index = np.cumsum(kept) - 1
    twin_kept = np.where((twin >= 0) & kept[np.maximum(twin, 0)], twin, -1)
    twin_new = np.where(twin_kept[kept] >= 0, new_index[np.maximum(twin_kept[kept], 0)], -1)
    local_crs = pyproj.CRS.from_proj4(
        f"+proj=tmerc +lat_0={CENTRE[1]} +lon_0={CENTRE[0]} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
    )
    to_wgs = pyproj.Transformer.from_crs(local_crs, 4326, always_xy=True)
    lng, lat = to_wgs.transform(x[inside] - x.mean(), y[inside] - y.mean())
    return RoadGraph.build(
        edge_u=renumber[eu[kept]],
        edge_v=renumber[ev[kept]],
        edge_time=et[kept],
        edge_length=el[kept],
        edge_oneway=twin_new < 0,
        node_lng=np.asarray(lng),
        node_lat=np.asarray(lat),
        edge_class=classes[kept],
        edge_twin=twin_new,
        cache_key="synthetic",
    )


# -- one graph's measurements ------------------------------------------------------------


def random_points(graph: RoadGraph, count: int, rng: np.random.Generator) -> tuple[Any, Any]:
    west, east = np.percentile(graph.node_lng, [1, 99])
    south, north = np.percentile(graph.node_lat, [1, 99])
    return rng.uniform(west, east, count), rng.uniform(south, north, count)


def measure_engine(graph: RoadGraph, *, events: int, reverse_events: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    engine = EtaEngine(graph, tree_capacity=4 * SQUADS)
    init_s = time.perf_counter() - started
    squads = engine.snapper.snap(*random_points(graph, SQUADS, rng))
    nodes = engine.tree_nodes(squads)
    started = time.perf_counter()
    origins = engine.origins(squads)
    trees_s = time.perf_counter() - started
    scene_lng, scene_lat = random_points(graph, events, rng)
    engine.eta(origins, engine.snapper.snap(scene_lng[:1], scene_lat[:1]))  # warm up
    per_event = []
    for i in range(events):
        started = time.perf_counter()
        scene = engine.snapper.snap(scene_lng[i : i + 1], scene_lat[i : i + 1])
        engine.eta(origins, scene)
        per_event.append(time.perf_counter() - started)
    reverse = []
    for i in range(reverse_events):
        started = time.perf_counter()
        scene = engine.snapper.snap(scene_lng[i : i + 1], scene_lat[i : i + 1])
        engine.eta_by_reverse_search(origins.snap, scene)
        reverse.append(time.perf_counter() - started)
    return {
        "engine": engine,
        "squads": squads,
        "origins": origins,
        "init_s": init_s,
        "tree_s": trees_s / len(nodes),
        "eta": per_event,
        "reverse": reverse,
        "scenes": (scene_lng, scene_lat),
    }


def baseline_nodes(engine: EtaEngine, squads: Snap, scene: Snap) -> tuple[list[int], int]:
    """Node-to-node version of the problem for the baselines: each squad's first exit
    node, the scene edge's start node."""
    exits = [ways[0][0] for ways in engine.exits(squads)]
    return exits, int(engine.graph.edge_u[scene.edge[0]])


def networkx_graph(graph: RoadGraph) -> nx.DiGraph:
    rows = np.repeat(np.arange(graph.node_count), np.diff(graph.indptr))
    reference = nx.DiGraph()
    reference.add_weighted_edges_from(
        zip(rows.tolist(), graph.indices.tolist(), graph.weight.tolist(), strict=True), weight="time"
    )
    return reference


def measure_networkx(
    graph: RoadGraph, run: dict[str, Any], *, events: int, squads_per_event: int
) -> dict[str, Any]:
    started = time.perf_counter()
    reference = networkx_graph(graph)
    build_s = time.perf_counter() - started
    engine, squads = run["engine"], run["squads"]
    lng, lat = run["scenes"]
    per_squad = []
    for i in range(events):
        scene = engine.snapper.snap(lng[i : i + 1], lat[i : i + 1])
        sources, target = baseline_nodes(engine, squads, scene)
        for source in sources[:squads_per_event]:
            started = time.perf_counter()
            nx.shortest_path_length(reference, source, target, weight="time")
            per_squad.append(time.perf_counter() - started)
    return {
        "build_s": build_s,
        "per_squad": per_squad,
        "event_s": statistics.mean(per_squad) * SQUADS,
        "extrapolated": squads_per_event < SQUADS,
    }


async def measure_pgrouting(
    connection: asyncpg.Connection, edges_sql: str, run: dict[str, Any], *, events: int
) -> list[float]:
    engine, squads = run["engine"], run["squads"]
    lng, lat = run["scenes"]
    times = []
    for i in range(events):
        scene = engine.snapper.snap(lng[i : i + 1], lat[i : i + 1])
        sources, target = baseline_nodes(engine, squads, scene)
        started = time.perf_counter()
        rows = await connection.fetch(
            "SELECT start_vid, agg_cost FROM pgr_dijkstraCost($1, $2::bigint[], $3::bigint, "
            "directed => true)",
            edges_sql,
            sources,
            target,
        )
        times.append(time.perf_counter() - started)
        assert len(rows) >= len(set(sources) - {target}) - 0, "pgRouting missed squads"
    return times


def library_choice(graph: RoadGraph, repeat: int) -> dict[str, float | None]:
    """One full single-source search, per library, on the same CSR arrays."""
    csr = graph.csr()
    source = graph.node_count // 2
    found: dict[str, float | None] = {
        "scipy": statistics.median(timed(lambda: dijkstra(csr, indices=source), repeat))
    }
    rows = np.repeat(np.arange(graph.node_count), np.diff(graph.indptr))
    try:
        import igraph

        g = igraph.Graph(n=graph.node_count, edges=np.column_stack([rows, graph.indices]), directed=True)
        weights = graph.weight.tolist()
        found["igraph"] = statistics.median(
            timed(lambda: g.distances(source=[source], weights=weights, mode="out"), repeat)
        )
    except ImportError:
        found["igraph"] = None
    try:
        import rustworkx as rx

        rg = rx.PyDiGraph()
        rg.add_nodes_from(range(graph.node_count))
        rg.add_edges_from(
            list(zip(rows.tolist(), graph.indices.tolist(), graph.weight.tolist(), strict=True))
        )
        found["rustworkx"] = statistics.median(
            timed(lambda: rx.digraph_dijkstra_shortest_path_lengths(rg, source, edge_cost_fn=float), repeat)
        )
    except ImportError:
        found["rustworkx"] = None
    return found


# -- database ----------------------------------------------------------------------------


async def scratch_database(server_url: str) -> tuple[str, str]:
    name = f"gridsvc_bench_eta_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')  # our own name, not user input
    finally:
        await admin.close()
    url = f"{server_url.rpartition('/')[0]}/{name}"
    connection = await connect(url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        await upgrade(connection)
    finally:
        await connection.close()
    return name, url


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def load_synthetic(connection: asyncpg.Connection, graph: RoadGraph) -> float:
    started = time.perf_counter()
    await connection.execute(
        "CREATE TABLE bench_edges (id integer, source integer, target integer, cost double precision)"
    )
    rows = np.repeat(np.arange(graph.node_count), np.diff(graph.indptr))
    records = zip(range(len(rows)), rows.tolist(), graph.indices.tolist(), graph.weight.tolist(), strict=True)
    await connection.copy_records_to_table("bench_edges", records=list(records))
    return time.perf_counter() - started


# -- the run -----------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:,.3f}" if seconds < 0.01 else f"{seconds * 1e3:,.1f}"


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    server_url = resolve_database_url(settings)
    name, url = await scratch_database(server_url)
    results: list[dict[str, Any]] = []
    try:
        connection = await connect(url)
        try:
            with tempfile.TemporaryDirectory() as cache_dir:
                local = Settings(
                    database_url=url, road_cache_dir=Path(cache_dir), shared_geodata=settings.shared_geodata
                )
                print("importing Liechtenstein roads (gridsvc roads import) ...", flush=True)
                started = time.perf_counter()
                imported = await import_roads(connection, settings=local, source=settings.demo_pbf)
                import_s = time.perf_counter() - started
                li = RoadGraph.load(Path(cache_dir), imported.cache_key)
                assert li is not None
            print(f"generating the synthetic graph (~{args.nodes:,} nodes) ...", flush=True)
            started = time.perf_counter()
            synthetic = synthetic_graph(args.nodes)
            generate_s = time.perf_counter() - started
            graphs = [("Liechtenstein", li, PGR_LI), ("synthetic", synthetic, PGR_SYNTHETIC)]
            for label, graph, edges_sql in graphs:
                big = graph.node_count > 100_000
                print(
                    f"measuring {label}: {graph.node_count:,} nodes, {graph.edge_count:,} edges ...",
                    flush=True,
                )
                run = measure_engine(
                    graph, events=200 if big else 2000, reverse_events=10 if big else 300, seed=5
                )
                nx_events, nx_squads = (
                    (1, 3 if args.quick else SQUADS) if big else (5 if args.quick else 20, SQUADS)
                )
                baseline = measure_networkx(graph, run, events=nx_events, squads_per_event=nx_squads)
                load_s = None
                if edges_sql == PGR_SYNTHETIC:
                    load_s = await load_synthetic(connection, graph)
                pgr = await measure_pgrouting(
                    connection, edges_sql, run, events=(1 if args.quick else 3) if big else 20
                )
                libraries = library_choice(graph, repeat=3 if big else 20)
                results.append(
                    {
                        "label": label,
                        "graph": graph,
                        "run": run,
                        "networkx": baseline,
                        "pgr": pgr,
                        "pgr_load_s": load_s,
                        "libraries": libraries,
                    }
                )
        finally:
            await connection.close()
    finally:
        await drop_database(server_url, name)
    report(results, import_s=import_s, generate_s=generate_s, quick=args.quick)


def report(results: list[dict[str, Any]], *, import_s: float, generate_s: float, quick: bool) -> None:
    print()
    print(f"ETA of {SQUADS} squads per event (ms; ours includes snapping the scene to its edge)")
    header = (
        f"{'graph':<14}{'nodes':>11}{'edges':>11}{'B/edge':>8}{'median':>9}{'p99':>9}"
        f"{'networkx':>12}{'x':>9}{'pgRouting':>12}{'x':>9}{'tree':>9}{'reverse':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        graph, run = r["graph"], r["run"]
        median = statistics.median(run["eta"])
        nx_event = r["networkx"]["event_s"]
        pgr = statistics.median(r["pgr"])
        print(
            f"{r['label']:<14}{graph.node_count:>11,}{graph.edge_count:>11,}"
            f"{graph.routing_nbytes() / graph.edge_count:>8.1f}{ms(median):>9}"
            f"{ms(percentile(run['eta'], 99)):>9}{ms(nx_event):>12}"
            f"{nx_event / median:>8,.0f}x{ms(pgr):>12}{pgr / median:>8,.0f}x"
            f"{ms(run['tree_s']):>9}{ms(statistics.median(run['reverse'])):>10}"
        )
    print()
    print(
        "columns: median/p99 = our all-squads ETA per event; networkx = shortest_path_length"
        " once per squad, summed over 20 squads; pgRouting = pgr_dijkstraCost many-to-one "
        "(edges read by its SQL each call); x = baseline / our median; tree = one shortest-"
        "path tree (a squad moving onto a new edge); reverse = the per-event alternative "
        "(one reverse search from the scene)"
    )
    for r in results:
        notes = []
        if r["networkx"]["extrapolated"]:
            notes.append(f"networkx measured on {len(r['networkx']['per_squad'])} squads and scaled to 20")
        notes.append(f"networkx graph build {r['networkx']['build_s']:.1f} s (not counted)")
        if r["pgr_load_s"] is not None:
            notes.append(f"COPY of the edges into PostgreSQL {r['pgr_load_s']:.1f} s")
        print(f"  {r['label']}: " + "; ".join(notes))
    print()
    print("Strategy (why trees): events per second one core sustains")
    for r in results:
        run = r["run"]
        trees = 1 / statistics.median(run["eta"])
        reverse = 1 / statistics.median(run["reverse"])
        print(
            f"  {r['label']:<14} trees {trees:>10,.0f}/s   reverse search {reverse:>8,.1f}/s   "
            f"tree refresh {ms(run['tree_s'])} ms -> {1 / run['tree_s']:,.1f} edge changes/s"
        )
    print()
    print("Library for one full shortest-path search (ms, same CSR weights)")
    for r in results:
        libs = r["libraries"]
        print(f"  {r['label']:<14}" + "  ".join(f"{k} {ms(v)}" for k, v in libs.items()))
    print()
    li, synthetic = results[0], results[1]
    checks = [
        ("road import of Liechtenstein <= 30 s", import_s <= 30, f"{import_s:.1f} s"),
        (
            "median ETA on Liechtenstein <= 1 ms",
            statistics.median(li["run"]["eta"]) <= 1e-3,
            ms(statistics.median(li["run"]["eta"])),
        ),
        (
            "ETA on the 1M-node graph <= 150 ms",
            statistics.median(synthetic["run"]["eta"]) <= 0.150,
            ms(statistics.median(synthetic["run"]["eta"])),
        ),
        (
            ">= 50x faster than networkx (both graphs)",
            all(r["networkx"]["event_s"] / statistics.median(r["run"]["eta"]) >= 50 for r in results),
            "",
        ),
        (
            "graph cache <= 64 bytes per edge",
            all(r["graph"].routing_nbytes() / r["graph"].edge_count <= 64 for r in results),
            "",
        ),
    ]
    print(f"synthetic graph generated in {generate_s:.1f} s" + ("  (--quick)" if quick else ""))
    for text, ok, value in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text} {value}")


if __name__ == "__main__":
    if "--scenario" in sys.argv:
        # ``--scenario county`` (default): this file; ``city``: benchmarks/eta_city.py
        at = sys.argv.index("--scenario")
        scenario = sys.argv[at + 1] if at + 1 < len(sys.argv) else ""
        del sys.argv[at : at + 2]
        if scenario == "city":
            from benchmarks import eta_city

            eta_city.main(eta_city.parser().parse_args())
            sys.exit(0)
        if scenario != "county":
            sys.exit(f"--scenario: 'county' or 'city', not {scenario!r}")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--nodes", type=int, default=1_060_000, help="synthetic graph size before the SCC is taken"
    )
    asyncio.run(main(parser.parse_args()))
