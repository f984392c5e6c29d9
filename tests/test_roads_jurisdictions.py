"""Road networks per jurisdiction, and extracts cut by a bounding box.

A database of this module's own (the real migrations): imports here never touch the
session's demo roads. The clipped extract is cut in the test from the shared Liechtenstein
extract into tmp_path (no geodata copy lives in the repository).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import asyncpg
import networkx as nx
import numpy as np
import osmium
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Point
from typer.testing import CliRunner

from gridsvc.app import create_app
from gridsvc.coverage.service import refresh_all
from gridsvc.database.pool import connect
from gridsvc.dispatch.service import candidates
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads.osm import drivable_reason
from gridsvc.roads.speeds import load_speed_table
from gridsvc.settings import Settings
from gridsvc.squads.service import SquadRecord, upsert_squads
from tests.auth_support import bearer
from tests.roads_support import own_database_fixtures, scratch_database
from tests.test_eta_engine import reference_graph, with_points
from tests.waiting import await_until

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


own_database, own_settings, own_db = own_database_fixtures("roadsjur")


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


# -- one network per jurisdiction ---------------------------------------------------------

VADUZ_SCENE = {"lat": 47.1410, "lng": 9.5209}
NINGHUA_SCENE = {"lat": 26.2625, "lng": 116.6405}


@pytest.fixture(scope="module")
async def counties_database(server_url: str) -> AsyncIterator[str]:
    # Of its own: jurisdictions here make an import that names none ambiguous.
    async with scratch_database(server_url, "counties") as url:
        yield url


def box(west: float, south: float, east: float, north: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.box(west, south, east, north)])


def extent(extract: Path) -> tuple[float, float, float, float]:
    lng = [n.location.lon for n in nodes_of(extract)]
    lat = [n.location.lat for n in nodes_of(extract)]
    return min(lng), min(lat), max(lng), max(lat)


def eta_body(client: TestClient, scene: dict[str, float]) -> dict[str, Any]:
    response = client.get("/eta", params=scene)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_matches_networkx(client: TestClient, body: dict[str, Any], scene: dict[str, float]) -> None:
    """Drive times of an /eta answer equal networkx on the network the answer names."""
    holder = client.app.state.eta  # type: ignore[attr-defined]
    engine = holder.states[body["road_network_id"]].engine
    point = engine.snapper.snap(np.array([scene["lng"]]), np.array([scene["lat"]]))
    reference = reference_graph(engine.graph)
    assert body["squads"]
    for answer in body["squads"]:
        origin = engine.snapper.snap(np.array([answer["origin"]["lng"]]), np.array([answer["origin"]["lat"]]))
        split = with_points(
            engine.graph,
            reference,
            {
                "squad": (int(origin.edge[0]), float(origin.frac[0])),
                "scene": (int(point.edge[0]), float(point.frac[0])),
            },
        )
        expected = nx.shortest_path_length(split, "squad", "scene", weight="time")
        assert answer["drive_s"] == pytest.approx(expected, abs=0.06), answer["squad"]["code"]


async def network_rows(connection: asyncpg.Connection) -> dict[str, tuple[int, int, int]]:
    """Per owning jurisdiction: (network id, nodes in PostGIS, edges in PostGIS)."""
    rows = await connection.fetch(
        "SELECT j.code, n.id, (SELECT count(*) FROM road_nodes WHERE network_id = n.id) AS nodes, "
        "(SELECT count(*) FROM road_edges WHERE network_id = n.id) AS edges "
        "FROM road_networks n JOIN jurisdictions j ON j.id = n.jurisdiction_id WHERE n.is_current"
    )
    return {r["code"]: (r["id"], r["nodes"], r["edges"]) for r in rows}


async def test_each_jurisdiction_keeps_its_own_network(
    counties_database: str,
    shared_geodata: Path,
    clipped_extract: Path,
    tmp_path: Path,
) -> None:
    from gridsvc.roads.service import current_network, import_roads

    settings = Settings(
        database_url=counties_database, shared_geodata=shared_geodata, road_cache_dir=tmp_path / "cache"
    )
    ninghua = shared_geodata / "osm" / "cn_sanming_ninghua.osm"
    connection = await connect(counties_database)
    try:
        # TA: a county of its own; TC: a city drawn only as its county TB (Ninghua).
        await jurisdictions.upsert(
            connection, code="TA", name="Vaduz box", level="county", boundary=box(*VADUZ_BOX)
        )
        await jurisdictions.upsert(connection, code="TC", name="City", level="city", boundary=None)
        await jurisdictions.upsert(
            connection,
            code="TB",
            name="Ninghua",
            level="county",
            boundary=box(*extent(ninghua)),
            parent_code="TC",
        )
        await upsert_squads(
            connection,
            records=[
                SquadRecord(code="SQ-TA", name="A", station=Point(9.5230, 47.1300), jurisdiction="TA"),
                SquadRecord(code="SQ-TB", name="B", station=Point(116.6380, 26.2600), jurisdiction="TB"),
            ],
        )
        first = await import_roads(connection, settings=settings, source=clipped_extract, jurisdiction="TA")
        before = await network_rows(connection)
        assert before == {
            "TA": (first.network_id, first.report["graph"]["nodes"], first.report["graph"]["edges"])
        }

        with TestClient(create_app(settings)) as client:
            client.headers.update(bearer(counties_database))
            vaduz = await await_until(lambda: eta_body(client, VADUZ_SCENE), 30)
            assert vaduz["road_network_id"] == first.network_id
            assert [a["squad"]["code"] for a in vaduz["squads"]] == ["SQ-TA"]
            assert_matches_networkx(client, vaduz, VADUZ_SCENE)
            # A scene answered on a named jurisdiction's network; an unknown one is refused.
            named = client.get("/eta", params={**VADUZ_SCENE, "jurisdiction": "TA"}).json()
            assert named["road_network_id"] == first.network_id
            unknown = client.get("/eta", params={**VADUZ_SCENE, "jurisdiction": "NOPE"})
            assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "query.jurisdiction"
            # Ninghua has no network yet: the city's neither.
            assert client.get("/eta", params=NINGHUA_SCENE).status_code == 503

            # The city's network (clipped to its county's boundary) serves TB, which has none.
            city = await import_roads(connection, settings=settings, source=ninghua, jurisdiction="TC")
            fallback = await current_network(connection, jurisdiction="TB")
            assert fallback is not None and fallback["id"] == city.network_id

            def answered_on(network_id: int) -> dict[str, Any] | None:
                response = client.get("/eta", params=NINGHUA_SCENE)
                body = response.json() if response.status_code == 200 else None
                return body if body and body["road_network_id"] == network_id else None

            on_city = await await_until(lambda: answered_on(city.network_id), 30)
            assert [a["squad"]["code"] for a in on_city["squads"]] == ["SQ-TB"]
            assert_matches_networkx(client, on_city, NINGHUA_SCENE)

            # TB's own network: the city's and TA's stay as they were.
            own = await import_roads(connection, settings=settings, source=ninghua, jurisdiction="TB")
            on_own = await await_until(lambda: answered_on(own.network_id), 30)
            assert [a["squad"]["code"] for a in on_own["squads"]] == ["SQ-TB"]
            assert_matches_networkx(client, on_own, NINGHUA_SCENE)
            after = await network_rows(connection)
            assert after["TA"] == before["TA"]
            assert after["TC"][0] == city.network_id and after["TB"][0] == own.network_id
            assert eta_body(client, VADUZ_SCENE) == {**vaduz, "computed_at": ANY}
            # Re-importing TA replaces TA's only.
            again = await import_roads(
                connection, settings=settings, source=clipped_extract, jurisdiction="TA"
            )
            replaced = await network_rows(connection)
            assert replaced["TA"][0] == again.network_id and replaced["TA"][1:] == before["TA"][1:]
            assert replaced["TB"] == after["TB"] and replaced["TC"] == after["TC"]
            assert (
                await connection.fetchval(
                    "SELECT count(*) FROM road_edges WHERE network_id = $1", first.network_id
                )
                == 0
            )

            # GET /roads per jurisdiction (TB's own, and a child's fallback is the city's).
            assert client.get("/roads", params={"jurisdiction": "TB"}).json()["id"] == own.network_id
            assert client.get("/roads", params={"jurisdiction": "TC"}).json()["jurisdiction"] == "TC"
            assert client.get("/roads").status_code == 422  # several: name one
            assert client.get("/roads", params={"jurisdiction": "NOPE"}).status_code == 404
            listed = {n["jurisdiction"] for n in client.get("/roads/networks").json()}
            assert listed == {"TA", "TB", "TC"}

            # Dispatch candidates of a Ninghua scene: ETAs from TB's network, none for TA's squad.
            holder = client.app.state.eta  # type: ignore[attr-defined]
            ranked = await candidates(connection, holder=holder, event=NINGHUA_SCENE, max_open_cases=5)
            times = {c["code"]: c["eta_s"] for c in ranked["candidates"]}
            assert times["SQ-TA"] is None
            assert times["SQ-TB"] == next(
                a["eta_s"] for a in on_own["squads"] if a["squad"]["code"] == "SQ-TB"
            )

            # Coverage: each county on its own network; /coverage follows the caller's scope.
            reports = await refresh_all(connection, settings=settings)
            assert reports["TA"]["network_id"] == again.network_id
            assert reports["TB"]["network_id"] == own.network_id
            assert client.get("/coverage").status_code == 422  # the desk sees both: name one
            desk = client.get("/coverage", params={"jurisdiction": "TA"}).json()
            assert desk["road_network_id"] == again.network_id
            squad_b = await asyncio.to_thread(bearer, counties_database, "squad", squad_code="SQ-TB")
            mine = client.get("/coverage", headers=squad_b)
            assert mine.status_code == 200 and mine.json()["jurisdiction"] == "TB"
            assert mine.json()["road_network_id"] == own.network_id
            assert client.get("/coverage", params={"jurisdiction": "TA"}, headers=squad_b).status_code == 404
            hexagons = {
                code: len(client.get("/live/coverage", params={"jurisdiction": code}).json()["features"])
                for code in ("TA", "TB")
            }
            everything = client.get("/live/coverage").json()["features"]
            assert min(hexagons.values()) > 0 and len(everything) == sum(hexagons.values())
    finally:
        await connection.close()


async def test_base_map_per_jurisdiction(
    server_url: str, shared_geodata: Path, clipped_extract: Path
) -> None:
    from gridsvc.tiles.service import BasemapImportError, import_basemap

    ninghua = shared_geodata / "osm" / "cn_sanming_ninghua.osm"

    async def roads_by_import(connection: asyncpg.Connection) -> dict[int, int]:
        rows = await connection.fetch("SELECT import_id, count(*) AS n FROM basemap_roads GROUP BY import_id")
        return {r["import_id"]: r["n"] for r in rows}

    async with scratch_database(server_url, "basemaps") as url:
        connection = await connect(url)
        try:
            await jurisdictions.upsert(
                connection, code="TA", name="A", level="county", boundary=box(*VADUZ_BOX)
            )
            await jurisdictions.upsert(connection, code="TB", name="B", level="county", boundary=None)
            with pytest.raises(BasemapImportError, match="unknown jurisdiction"):
                await import_basemap(connection, source=ninghua, jurisdiction="NOPE")
            first = await import_basemap(connection, source=clipped_extract, jurisdiction="TA")
            before = await roads_by_import(connection)
            assert list(before) == [first.import_id] and before[first.import_id] == first.counts["roads"]
            second = await import_basemap(connection, source=ninghua, jurisdiction="TB")
            both = await roads_by_import(connection)
            assert both == {**before, second.import_id: second.counts["roads"]}
            again = await import_basemap(connection, source=clipped_extract, jurisdiction="TA")
            assert await roads_by_import(connection) == {
                again.import_id: before[first.import_id],
                second.import_id: second.counts["roads"],
            }
            current = await connection.fetchval("SELECT count(*) FROM basemap_imports WHERE is_current")
            assert current == 2
        finally:
            await connection.close()


async def test_migration_gives_existing_networks_and_base_maps_a_jurisdiction(
    server_url: str, tmp_path: Path
) -> None:
    """Rows from before migration 021 keep working: a network belongs to the jurisdiction it
    was clipped to, else to the only top-level jurisdiction; base-map rows to their import."""
    from gridsvc.database.migrate import MIGRATIONS_DIR, upgrade
    from gridsvc.roads.service import current_network

    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if not path.name.startswith("021_"):
            (before / path.name).symlink_to(path)
    name = f"gridsvc_mig021_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')  # our own name, not input
    try:
        connection = await connect(f"{server_url.rpartition('/')[0]}/{name}")
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(connection, before)
            root = await jurisdictions.upsert(
                connection, code="LI-X", name="LI", level="county", boundary=None
            )
            child = await jurisdictions.upsert(
                connection, code="LI-X-1", name="V", level="township", boundary=None, parent_code="LI-X"
            )
            insert = (
                "INSERT INTO road_networks (cache_key, source_file, clip_jurisdiction_id, node_count, "
                "edge_count, is_current) VALUES ($1, 'x.osm', $2, 0, 0, $3) RETURNING id"
            )
            clipped = await connection.fetchval(insert, "old-clipped", child, False)
            unclipped = await connection.fetchval(insert, "old-current", None, True)
            basemap = await connection.fetchval(
                "INSERT INTO basemap_imports (source_file, is_current) VALUES ('x.osm', true) RETURNING id"
            )
            await connection.execute(
                "INSERT INTO basemap_roads (osm_id, class, min_zoom, geom) VALUES "
                "(1, 'minor', 14, ST_SetSRID(ST_MakeLine(ST_MakePoint(0, 0), ST_MakePoint(1, 1)), 3857))"
            )
            assert await upgrade(connection) == ["021_roads_per_jurisdiction.sql"]
            owners = {
                r["id"]: r["jurisdiction_id"]
                for r in await connection.fetch("SELECT id, jurisdiction_id FROM road_networks")
            }
            assert owners == {clipped: child, unclipped: root}
            found = await current_network(connection, jurisdiction="LI-X-1")  # the parent's
            assert found is not None and found["id"] == unclipped
            assert (await current_network(connection) or {}).get("id") == unclipped
            assert await connection.fetchval("SELECT jurisdiction_id FROM basemap_imports") == root
            assert await connection.fetchval("SELECT import_id FROM basemap_roads") == basemap
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
