"""The demo's roads and squads: Liechtenstein's drivable roads, one squad per municipality."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
from tqdm import tqdm

from gridsvc.coverage.service import refresh_all
from gridsvc.demo.osm import DemoLayers
from gridsvc.demo.placement import place_demo_squads
from gridsvc.eta.engine import EtaEngine
from gridsvc.roads.cache import RoadGraph
from gridsvc.roads.service import import_roads
from gridsvc.settings import Settings
from gridsvc.squads.service import upsert_squads

DEMO_COUNTY = "LI"


async def build_demo_roads(
    connection: asyncpg.Connection,
    settings: Settings,
    *,
    pbf: Path,
    layers: DemoLayers,
    echo: Callable[[str], None] = print,
) -> None:
    """Import the extract's roads (clipped to the county), the demo squads, and coverage."""
    with tqdm(total=10, desc="roads", unit="step", file=sys.stderr, disable=None) as bar:

        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        result = await import_roads(
            connection, settings=settings, source=pbf, jurisdiction=DEMO_COUNTY, progress=progress
        )
    graph = result.report["graph"]
    echo(
        f"roads: network {result.network_id}, {graph['nodes']} nodes, {graph['edges']} "
        f"edges ({graph['oneway_edges']} one-way), {graph['length_km']} km"
    )
    loaded = await asyncio.to_thread(RoadGraph.load, settings.road_cache_dir, result.cache_key)
    assert loaded is not None
    engine = await asyncio.to_thread(EtaEngine, loaded, offroad_speed_kmh=settings.eta_offroad_speed_kmh)
    records = place_demo_squads(
        layers.municipalities, layers.stations, snapper=engine.snapper, jurisdiction=DEMO_COUNTY
    )
    report = await upsert_squads(connection, records=records)
    rules = {r.station_rule for r in records}
    echo(
        f"squads: {report.created} created, {report.updated} updated; stations placed by "
        + ", ".join(f"{rule} x{sum(r.station_rule == rule for r in records)}" for rule in sorted(rules))
    )
    coverage = await refresh_all(connection, settings=settings, engine=engine)
    for code, info in coverage.items():
        if info:
            echo(
                f"coverage {code}: {info['cells']} cells, median "
                f"{info['median_s'] / 60:.1f} min, slowest {info['max_s'] / 60:.1f} min"
            )
