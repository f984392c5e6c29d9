"""``gridsvc demo build``: a complete demo jurisdiction from real data, through the real importers.

Liechtenstein plays one county (its 11 municipalities the townships); the GCJ-02 county
boundaries of Fujian, Wenzhou and Ankang are loaded as jurisdictions, and one of them,
Ninghua (350424), becomes a second working county (:mod:`gridsvc.demo.ninghua`), so one
centre dispatches for two jurisdictions. Each
demo layer is written to ``geodata/demo/*.geojson`` and imported with the same code path
as ``gridsvc grids import``, so the demo exercises what an operator would run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
from tqdm import tqdm

from gridsvc.database.migrate import upgrade
from gridsvc.database.pool import connect
from gridsvc.demo.events import build_demo_events
from gridsvc.demo.ninghua import NINGHUA
from gridsvc.demo.ninghua_import import build_ninghua
from gridsvc.demo.osm import DemoLayers, build_demo_layers
from gridsvc.demo.roads import build_demo_roads
from gridsvc.geocode.service import BUILD_STEPS, build_index
from gridsvc.grids.importer import FieldMap, prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.jurisdictions.importer import import_boundaries
from gridsvc.settings import PROJECT_ROOT, Settings
from gridsvc.tiles.service import IMPORT_STEPS, import_basemap

DEMO_COUNTY = "LI"
DEMO_DIR = PROJECT_ROOT / "geodata" / "demo"

# layer name -> attribute of DemoLayers
DEMO_LAYERS = {
    "enforcement": "municipalities",
    "zone": "districts",
    "community": "community",
    "specialist:forestry": "forestry",
    "specialist:market": "market",
}


def write_demo_files(layers: DemoLayers, directory: Path = DEMO_DIR) -> dict[str, Path]:
    """Write each demo layer as GeoJSON (EPSG:4326); return layer name -> file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for layer, attribute in DEMO_LAYERS.items():
        frame = getattr(layers, attribute)
        path = directory / f"{layer.replace(':', '-')}.geojson"
        frame.to_file(path, driver="GeoJSON", engine="pyogrio")
        files[layer] = path
    stations = directory / "stations.geojson"
    layers.stations.to_file(stations, driver="GeoJSON", engine="pyogrio")
    files["stations"] = stations
    return files


async def demo_is_loaded(connection: asyncpg.Connection) -> bool:
    """Both demo counties have grid layers (``gridsvc up`` rebuilds a demo from before
    Ninghua was added)."""
    loaded: bool = await connection.fetchval(
        "SELECT count(DISTINCT j.code) = $2 FROM layers l JOIN jurisdictions j "
        "ON j.id = l.jurisdiction_id WHERE j.code = ANY($1)",
        [DEMO_COUNTY, NINGHUA],
        2,
    )
    return loaded


async def build_demo(
    settings: Settings,
    url: str,
    *,
    pbf: Path | None = None,
    boundaries: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Build and import the demo; idempotent (re-running adds new layer versions)."""
    pbf = pbf or settings.demo_pbf
    boundaries = boundaries or settings.county_boundaries
    echo(f"reading {pbf}")
    layers = build_demo_layers(pbf)
    files = write_demo_files(layers)
    connection = await connect(url)
    try:
        await upgrade(connection)
        if boundaries.exists():
            result = await import_boundaries(connection, boundaries, crs="gcj02")
            echo(f"county boundaries (GCJ-02 -> WGS84) from {boundaries.name}: {result.by_level}")
        else:
            echo(f"warning: {boundaries} not found; Chinese county boundaries not loaded")
        country = layers.country.iloc[0]
        await jurisdictions.upsert(
            connection,
            code=DEMO_COUNTY,
            name=country["name"],
            name_zh=f"{country['name_zh']}（演示县）",
            level="county",
            boundary=country.geometry,
            timezone="Europe/Vaduz",
            source=f"OpenStreetMap {pbf.name}",
        )
        for _, town in layers.municipalities.iterrows():
            await jurisdictions.upsert(
                connection,
                code=town["code"],
                name=town["name"],
                name_zh=town["name_zh"],
                level="township",
                parent_code=DEMO_COUNTY,
                boundary=town.geometry,
                timezone="Europe/Vaduz",
                source=f"OpenStreetMap {pbf.name}",
            )
        for layer in DEMO_LAYERS:
            prepared = prepare_layer(files[layer], layer=layer, fields=FieldMap())
            with tqdm(
                total=len(prepared.records),
                desc=f"H3 cover {layer}",
                unit="grid",
                file=sys.stderr,
                disable=None,
            ) as bar:
                imported = await import_layer(
                    connection,
                    prepared,
                    jurisdiction_code=DEMO_COUNTY,
                    resolution=settings.h3_resolution,
                    progress=bar.update,
                )
            h3_info = imported.report["h3"]
            echo(
                f"{layer}: version {imported.version}, {len(prepared.records)} grids, "
                f"{h3_info['cells']} cells ({h3_info['straddling']} straddling)"
            )
        await build_demo_roads(connection, settings, pbf=pbf, layers=layers, echo=echo)
        # The second county needs the boundaries (its real GCJ-02 polygon, in WGS84 now).
        extracts: list[tuple[Path, str | None]] = [(pbf, DEMO_COUNTY)]
        if await build_ninghua(connection, settings, directory=DEMO_DIR, echo=echo):
            extracts.append((settings.demo_ninghua_osm, NINGHUA))
        with tqdm(total=len(BUILD_STEPS), desc="geocoder", unit="step", file=sys.stderr, disable=None) as bar:
            geocoder = await build_index(
                connection, settings=settings, extracts=extracts, progress=lambda _step: bar.update(1)
            )
        echo(f"geocoder: build {geocoder.build_id}, {geocoder.entries} entries {geocoder.by_kind}")
        # the offline street base map (/tiles) from the same extract
        with tqdm(
            total=len(IMPORT_STEPS), desc="base map", unit="step", file=sys.stderr, disable=None
        ) as bar:
            basemap = await import_basemap(connection, source=pbf, progress=lambda _step: bar.update(1))
        echo(f"base map {basemap.import_id}: " + ", ".join(f"{k} {v}" for k, v in basemap.counts.items()))
        await build_demo_events(connection, settings, echo=echo)
    finally:
        await connection.close()
    return files
