"""Road networks per jurisdiction, and extracts cut by a bounding box.

A database of this module's own (the real migrations): imports here never touch the
session's demo roads. The clipped extract is cut in the test from the shared Liechtenstein
extract into tmp_path (no geodata copy lives in the repository).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import osmium
import pytest
import shapely
from typer.testing import CliRunner

from gridsvc.database.pool import connect
from gridsvc.roads.osm import drivable_reason
from gridsvc.roads.speeds import load_speed_table
from gridsvc.settings import Settings
from tests.roads_support import scratch_database

# Around Vaduz: cuts through many roads of the Liechtenstein extract.
VADUZ_BOX = (9.49, 47.12, 9.54, 47.16)


def nodes_of(extract: Path) -> Iterator[osmium.osm.Node]:
    for obj in osmium.FileProcessor(str(extract), osmium.osm.NODE):
        if isinstance(obj, osmium.osm.Node):
            yield obj


def ways_of(extract: Path) -> Iterator[osmium.osm.Way]:
    for obj in osmium.FileProcessor(str(extract), osmium.osm.WAY):
        if isinstance(obj, osmium.osm.Way):
            yield obj


def cut_by_box(source: Path, target: Path, box: tuple[float, float, float, float]) -> None:
    """What a bounding-box export does: the nodes inside, and every way touching the box
    with all its node references (also those of nodes left outside)."""
    west, south, east, north = box
    inside: set[int] = set()
    writer = osmium.SimpleWriter(str(target))
    try:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node):
                if west <= obj.location.lon <= east and south <= obj.location.lat <= north:
                    writer.add_node(obj)
                    inside.add(obj.id)
            elif isinstance(obj, osmium.osm.Way) and any(n.ref in inside for n in obj.nodes):
                writer.add_way(obj)
    finally:
        writer.close()


@pytest.fixture(scope="module")
async def own_database(server_url: str) -> AsyncIterator[str]:
    async with scratch_database(server_url, "roadsjur") as url:
        yield url


@pytest.fixture(scope="module")
def own_settings(
    own_database: str, shared_geodata: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        database_url=own_database,
        shared_geodata=shared_geodata,
        road_cache_dir=tmp_path_factory.mktemp("road-cache"),
    )


@pytest.fixture
async def own_db(own_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(own_database)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def clipped_extract(shared_geodata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("clip") / "vaduz-box.osm"
    cut_by_box(shared_geodata / "osm" / "liechtenstein-latest.osm.pbf", target, VADUZ_BOX)
    return target


def cut_drivable_ways(extract: Path, settings: Settings) -> int:
    """Drivable ways of the extract that reference nodes missing from it (counted here
    from the file, independently of the import)."""
    table = load_speed_table(settings.road_speeds_file)
    present = {n.id for n in nodes_of(extract)}
    return sum(
        1
        for way in ways_of(extract)
        if "highway" in way.tags
        and drivable_reason(way.tags, table) is None
        and any(n.ref not in present for n in way.nodes)
    )


def test_clipped_extract_imports_with_the_cut_ways_counted(
    own_settings: Settings,
    own_database: str,
    clipped_extract: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gridsvc.cli import app
    from gridsvc.settings import get_settings

    expected = cut_drivable_ways(clipped_extract, own_settings)
    assert expected > 0  # the box does cut roads
    report_file = tmp_path / "report.json"
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", own_database)
    monkeypatch.setenv("GRIDSVC_ROAD_CACHE_DIR", str(own_settings.road_cache_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["roads", "import", str(clipped_extract), "--report-json", str(report_file)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert f"{expected} ways" in warnings[0]
    trimmed = json.loads(report_file.read_text())["ways"]["trimmed_at_edge"]
    assert trimmed["ways"] == expected
    assert trimmed["missing_node_refs"] >= expected
    assert trimmed["parts_kept"] + trimmed["ways_dropped"] >= expected


async def test_clipped_extract_keeps_real_way_ids_and_no_gap_edges(
    own_db: asyncpg.Connection, own_database: str, own_settings: Settings, clipped_extract: Path
) -> None:
    from gridsvc.roads.service import import_roads

    result = await import_roads(own_db, settings=own_settings, source=clipped_extract)
    assert result.report["ways"]["trimmed_at_edge"]["ways"] > 0
    ways = {w.id for w in ways_of(clipped_extract)}
    edge_ways = {
        r["osm_way_id"]
        for r in await own_db.fetch(
            "SELECT DISTINCT osm_way_id FROM road_edges WHERE network_id = $1", result.network_id
        )
    }
    assert edge_ways <= ways  # the pieces of a cut way carry its real id
    # No edge jumps a gap: every step of every edge is a step of one OSM way of the file.
    where = {n.id: (round(n.location.lon, 7), round(n.location.lat, 7)) for n in nodes_of(clipped_extract)}
    steps: set[tuple[tuple[float, float], tuple[float, float]]] = set()
    for way in ways_of(clipped_extract):
        refs = [n.ref for n in way.nodes]
        for a, b in zip(refs, refs[1:], strict=False):
            if a in where and b in where:
                steps.update({(where[a], where[b]), (where[b], where[a])})
    rows = await own_db.fetch(
        "SELECT ST_AsBinary(geom) AS wkb FROM road_edges WHERE network_id = $1", result.network_id
    )
    for row in rows:
        xy = [(round(x, 7), round(y, 7)) for x, y in shapely.from_wkb(bytes(row["wkb"])).coords]
        assert all(step in steps for step in zip(xy, xy[1:], strict=False)), xy
