"""Import the demo's second county (Ninghua, 350424) through the real importers.

Runs after the county boundaries are loaded (the county's GCJ-02 polygon, converted to
WGS84) and after Liechtenstein; see :mod:`gridsvc.demo.ninghua` for how its grids are
built. Ninghua gets its own road network and base map (``--jurisdiction 350424``), its
squads, community and enforcement grids and coverage; its delegation lists and calendar
come with Liechtenstein's in :mod:`gridsvc.demo.events`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg

from gridsvc.coverage.service import refresh
from gridsvc.demo.ninghua import NINGHUA, NINGHUA_TIMEZONE, build_ninghua_layers
from gridsvc.demo.placement import place_demo_squads
from gridsvc.eta.engine import EtaEngine
from gridsvc.grids.importer import FieldMap, prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads.cache import RoadGraph
from gridsvc.roads.service import import_roads
from gridsvc.settings import Settings
from gridsvc.squads.service import upsert_squads
from gridsvc.tiles.service import import_basemap


async def build_ninghua(
    connection: asyncpg.Connection,
    settings: Settings,
    *,
    directory: Path,
    echo: Callable[[str], None] = print,
) -> bool:
    """Import Ninghua; False (with a warning) when its extract or boundary is missing."""
    source = settings.demo_ninghua_osm
    county = await jurisdictions.get(connection, code=NINGHUA)
    if not source.exists() or county is None or county["boundary"] is None:
        echo(f"warning: {source.name} or the boundary of {NINGHUA} is missing; Ninghua not loaded")
        return False
    layers = await asyncio.to_thread(build_ninghua_layers, source, county["boundary"])
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    for _, town in layers.municipalities.iterrows():
        await jurisdictions.upsert(
            connection,
            code=town["code"],
            name=town["name"],
            name_zh=town["name_zh"],
            level="township",
            parent_code=NINGHUA,
            boundary=town.geometry,
            timezone=NINGHUA_TIMEZONE,
            source=f"constructed from OpenStreetMap {source.name} (see gridsvc/demo/ninghua.py)",
        )
    for layer, frame in (("enforcement", layers.municipalities), ("community", layers.community)):
        path = directory / f"ninghua-{layer}.geojson"
        frame.to_file(path, driver="GeoJSON", engine="pyogrio")
        prepared = prepare_layer(path, layer=layer, fields=FieldMap())
        imported = await import_layer(
            connection,
            prepared,
            jurisdiction_code=NINGHUA,
            resolution=settings.h3_resolution,
            extent=layers.area,  # the seat, not all 2,400 km² of the county (see the module doc)
        )
        echo(f"{NINGHUA} {layer}: version {imported.version}, {len(prepared.records)} grids")
    roads = await import_roads(connection, settings=settings, source=source, jurisdiction=NINGHUA)
    graph = roads.report["graph"]
    echo(f"{NINGHUA} roads: network {roads.network_id}, {graph['nodes']} nodes, {graph['edges']} edges")
    loaded = await asyncio.to_thread(RoadGraph.load, settings.road_cache_dir, roads.cache_key)
    assert loaded is not None
    engine = await asyncio.to_thread(EtaEngine, loaded, offroad_speed_kmh=settings.eta_offroad_speed_kmh)
    records = place_demo_squads(
        layers.municipalities, layers.stations, snapper=engine.snapper, jurisdiction=NINGHUA
    )
    report = await upsert_squads(connection, records=records)
    echo(
        f"{NINGHUA} squads: {report.created} created, {report.updated} updated; "
        + ", ".join(f"{r.code} {r.station_rule}" for r in records)
    )
    coverage = await refresh(connection, settings=settings, jurisdiction_code=NINGHUA, engine=engine)
    if coverage:
        echo(f"coverage {NINGHUA}: {coverage['cells']} cells")
    basemap = await import_basemap(connection, source=source, jurisdiction=NINGHUA)
    echo(
        f"{NINGHUA} base map {basemap.import_id}: " + ", ".join(f"{k} {v}" for k, v in basemap.counts.items())
    )
    return True
