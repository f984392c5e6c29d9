"""Patrol planning benchmark: pyvroom against OR-Tools and nearest neighbour, two cases.

Run: ``python benchmarks/patrol.py [--squads 300 --grids 2000 --nodes 100000]``. One table.

Cases:

* **demo county** (Liechtenstein, built with ``gridsvc demo build`` into a scratch database
  of the configured server, dropped at the end): 11 squads, 23 community grids, the real
  road graph; the full ``plan_week`` (database included) is timed too.
* **synthetic city**: ``--squads`` squads (300) over ``--grids`` community grids (2,000),
  drawn on the synthetic road graph of ``benchmarks/eta.py`` (jittered street grid with
  arterials, missing links and one-ways). Each squad serves one rectangle of a 20 x 15
  tiling, cut into ~6-7 community grids; its station is a road node near the middle. The
  graph is ``--nodes`` (100,000) rather than the 1M nodes of the ETA benchmark: each squad's
  matrix needs two shortest-path trees per point (~4,600 full searches for 300 squads), ~0.2 s
  each at 1M nodes (15 min on these 2 shared cores) against ~15 ms at 100k; the routing
  problems (matrices, jobs, constraints) are the same size either way, and 100k nodes is a
  large Chinese county's drivable network.

Per case, on the same matrices and constraints (5 working days, 08:30-17:30, 10 min dwell,
balanced days): planning time and total km of pyvroom (what ``gridsvc patrols plan`` runs),
of OR-Tools (routing solver: days as vehicles, time and count dimensions, allowed vehicles
for frequency copies, drops penalised; first solution PATH_CHEAPEST_ARC then guided local
search for ``--ortools-s`` per squad), and of greedy nearest neighbour (each day's visits in
nearest-neighbour order, and a whole-week nearest-neighbour chain cut into balanced days);
share of grids planned.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from eta import synthetic_graph  # noqa: E402  (benchmarks/eta.py, this folder)
from ortools.constraint_solver import pywrapcp, routing_enums_pb2  # noqa: E402

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.eta.engine import EtaEngine  # noqa: E402
from gridsvc.patrols import queries, routes, service, solver  # noqa: E402
from gridsvc.roads.service import current_network, load_graph  # noqa: E402
from gridsvc.settings import Settings, get_settings  # noqa: E402

DAYS = 5
SHIFT = service.Shift(start=clock_time(8, 30), end=clock_time(17, 30), dwell_s=600.0, timeout_s=5.0)


@dataclass
class Problem:
    seconds: np.ndarray
    metres: np.ndarray
    jobs: list[solver.Job]


@dataclass
class Result:
    km: float
    planned: int
    seconds: float


def problem_for(engine: EtaEngine, station: tuple[float, float], polygons: list[Any]) -> Problem:
    surface = [p.representative_point() for p in polygons]
    lng = np.array([p.x for p in surface])
    lat = np.array([p.y for p in surface])
    v_lng, v_lat, _rules = routes.visit_points(engine, polygons, lng, lat)
    seconds, metres = routes.travel_matrix(
        engine, np.concatenate([[station[0]], v_lng]), np.concatenate([[station[1]], v_lat])
    )
    seconds = np.where(np.isfinite(seconds), seconds, 1e9)
    metres = np.where(np.isfinite(metres), metres, 1e9)
    return Problem(seconds, metres, [solver.Job(point=i + 1, days=None) for i in range(len(polygons))])


def run_vroom(problem: Problem) -> tuple[Result, Result]:
    started = time.perf_counter()
    week = solver.solve_week(
        seconds=problem.seconds,
        metres=problem.metres,
        jobs=problem.jobs,
        day_count=DAYS,
        shift_s=SHIFT.seconds,
        dwell_s=SHIFT.dwell_s,
        timeout_s=SHIFT.timeout_s,
    )
    took = time.perf_counter() - started
    planned = len(problem.jobs) - len(week.unplanned)
    return (
        Result(sum(d.distance_m for d in week.days) / 1000, planned, took),
        Result(sum(d.nn_distance_m for d in week.days) / 1000, planned, 0.0),
    )


def run_nearest_neighbour(problem: Problem) -> Result:
    """A planner without optimisation: one nearest-neighbour chain over the week's visits,
    cut into balanced days; a day that would pass the shift drops its last visits."""
    started = time.perf_counter()
    chain = solver.nearest_neighbour([j.point for j in problem.jobs], problem.metres)
    base, extra = divmod(len(chain), DAYS)
    km, planned, at = 0.0, 0, 0
    for day in range(DAYS):
        take = chain[at : at + base + (1 if day < extra else 0)]
        at += len(take)
        while take:
            distance, duration, _ = solver.route_cost(take, problem.seconds, problem.metres, SHIFT.dwell_s)
            if duration <= SHIFT.seconds:
                break
            take = take[:-1]
        if take:
            km += distance / 1000
            planned += len(take)
    return Result(km, planned, time.perf_counter() - started)


def run_ortools(problem: Problem, limit_s: float) -> Result:
    started = time.perf_counter()
    nodes = [0] + [j.point for j in problem.jobs]
    manager = pywrapcp.RoutingIndexManager(len(nodes), DAYS, 0)
    model = pywrapcp.RoutingModel(manager)
    metres = np.rint(problem.metres).astype(int)
    seconds = np.rint(problem.seconds).astype(int)
    dwell = int(SHIFT.dwell_s)

    def cost(i: int, j: int) -> int:
        return int(metres[nodes[manager.IndexToNode(i)], nodes[manager.IndexToNode(j)]])

    def transit(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return int(seconds[nodes[a], nodes[b]]) + (dwell if a != 0 else 0)

    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitCallback(cost))
    model.AddDimension(model.RegisterTransitCallback(transit), 0, int(SHIFT.seconds), True, "time")
    base, extra = divmod(len(problem.jobs), DAYS)
    count = model.RegisterUnaryTransitCallback(lambda i: 0 if manager.IndexToNode(i) == 0 else 1)
    model.AddDimensionWithVehicleCapacity(
        count, 0, [base + (1 if d < extra else 0) for d in range(DAYS)], True, "n"
    )
    for node in range(1, len(nodes)):
        model.AddDisjunction([manager.NodeToIndex(node)], 10_000_000)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(limit_s * 1000))
    solution = model.SolveWithParameters(params)
    km, planned = 0.0, 0
    if solution is not None:
        for day in range(DAYS):
            index = model.Start(day)
            while not model.IsEnd(index):
                after = solution.Value(model.NextVar(index))
                km += cost(index, after) / 1000
                planned += 0 if manager.IndexToNode(index) == 0 else 1
                index = after
    return Result(km, planned, time.perf_counter() - started)


def measure(problems: list[Problem], ortools_s: float, label: str) -> dict[str, Any]:
    totals: dict[str, Result] = {k: Result(0.0, 0, 0.0) for k in ("vroom", "ortools", "nn_days", "nn_week")}
    for problem in problems:
        vroom_result, nn_days = run_vroom(problem)
        for key, result in (
            ("vroom", vroom_result),
            ("nn_days", nn_days),
            ("ortools", run_ortools(problem, ortools_s)),
            ("nn_week", run_nearest_neighbour(problem)),
        ):
            totals[key].km += result.km
            totals[key].planned += result.planned
            totals[key].seconds += result.seconds
    return {"label": label, "jobs": sum(len(p.jobs) for p in problems), "squads": len(problems), **totals}


# -- cases ---------------------------------------------------------------------------------


async def demo_case(settings: Settings, ortools_s: float) -> tuple[dict[str, Any], float]:
    from gridsvc.demo.build import build_demo

    server = resolve_database_url(settings)
    name = f"gridsvc_bench_patrol_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')  # our own name, not user input
    await admin.close()
    url = f"{server.rpartition('/')[0]}/{name}"
    try:
        connection = await connect(url)
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(connection)
        finally:
            await connection.close()
        print("building the demo county in a scratch database ...", flush=True)
        await build_demo(settings, url, echo=lambda _m: None)
        connection = await connect(url)
        try:
            network = await current_network(connection, jurisdiction="LI")
            graph = await load_graph(connection, cache_dir=settings.road_cache_dir, network=network)
            assert graph is not None
            engine = routes.planning_engine(EtaEngine(graph))
            problems = []
            for squad in await connection.fetch(queries.SQUADS_IN, "LI"):
                grids = await connection.fetch(queries.COMMUNITY_GRIDS, "LI", squad["grid_codes"])
                polygons = [shapely.from_wkb(bytes(g["wkb"])) for g in grids]
                problems.append(problem_for(engine, (squad["lng"], squad["lat"]), polygons))
            started = time.perf_counter()
            await service.plan_week(
                connection, engine=EtaEngine(graph), jurisdiction_code="LI", week="2026-W49", shift=SHIFT
            )
            end_to_end = time.perf_counter() - started
        finally:
            await connection.close()
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return measure(problems, ortools_s, "demo county (LI)"), end_to_end


def synthetic_case(squads: int, grids: int, nodes: int, ortools_s: float) -> tuple[dict[str, Any], float]:
    print(f"synthetic city: {nodes:,}-node graph, {squads} squads, {grids} grids ...", flush=True)
    graph = synthetic_graph(nodes)
    engine = routes.planning_engine(EtaEngine(graph), trees=32)
    west, east = np.percentile(graph.node_lng, [2, 98])
    south, north = np.percentile(graph.node_lat, [2, 98])
    columns = int(np.ceil(np.sqrt(squads * 4 / 3)))
    rows = int(np.ceil(squads / columns))
    rng = np.random.default_rng(7)
    per_squad = np.full(squads, grids // squads)
    per_squad[: grids % squads] += 1
    problems = []
    started = time.perf_counter()
    for k in range(squads):
        r, c = divmod(k, columns)
        x0 = west + (east - west) * c / columns
        x1 = west + (east - west) * (c + 1) / columns
        y0 = south + (north - south) * r / rows
        y1 = south + (north - south) * (r + 1) / rows
        cuts = np.sort(rng.uniform(x0, x1, int(per_squad[k]) - 1))
        edges = np.concatenate([[x0], cuts, [x1]])
        polygons = [shapely.box(a, y0, b, y1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        nearest = int(np.argmin(np.hypot(graph.node_lng - centre[0], graph.node_lat - centre[1])))
        station = (float(graph.node_lng[nearest]), float(graph.node_lat[nearest]))
        problems.append(problem_for(engine, station, polygons))
    matrices_s = time.perf_counter() - started
    return measure(
        problems, ortools_s, f"synthetic ({squads} squads, {grids} grids, {graph.node_count:,} nodes)"
    ), matrices_s


def report(rows: list[tuple[dict[str, Any], str]]) -> None:
    print()
    print("| case | planner | planning time | total km | vs nearest neighbour (same days) | grids planned |")
    print("|---|---|---:|---:|---:|---:|")
    for row, note in rows:
        nn = row["nn_days"].km
        for key, name in (
            ("vroom", "pyvroom (kept)"),
            ("ortools", "OR-Tools GLS"),
            ("nn_week", "nearest-neighbour week"),
            ("nn_days", "nearest-neighbour order of pyvroom's days"),
        ):
            result = row[key]
            share = result.planned / row["jobs"] if row["jobs"] else 0
            took = f"{result.seconds:.2f} s" if key != "nn_days" else "-"
            ratio = f"{result.km / nn:.3f}" if nn else "-"
            print(f"| {row['label']} | {name} | {took} | {result.km:,.1f} | {ratio} | {share:.1%} |")
        print(f"| {row['label']} | ({note}) | | | | |")


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    demo, end_to_end = await demo_case(settings, args.ortools_s)
    synthetic, matrices_s = synthetic_case(args.squads, args.grids, args.nodes, args.ortools_s)
    report(
        [
            (demo, f"plan_week end to end, database included: {end_to_end:.2f} s"),
            (synthetic, f"travel matrices from the road graph: {matrices_s:.1f} s"),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squads", type=int, default=300)
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--ortools-s", type=float, default=0.5, help="OR-Tools time limit per squad")
    asyncio.run(main(parser.parse_args()))
