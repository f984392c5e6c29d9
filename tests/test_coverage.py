"""Coverage: the fastest squad per H3 cell, stored, summarised per grid, drawn on a map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Point

from gridsvc.coverage.maps import write_coverage_map
from gridsvc.coverage.service import refresh
from gridsvc.database.pool import connect
from gridsvc.eta.engine import EtaEngine
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads.service import current_network, import_roads, load_graph
from gridsvc.settings import Settings
from gridsvc.squads.service import SquadRecord, upsert_squads
from tests.roads_support import scratch_database
from tests.waiting import wait_until


def test_summary_per_enforcement_grid(client: TestClient) -> None:
    response = client.get("/coverage", params={"jurisdiction": "LI"})
    assert response.status_code == 200
    body = response.json()
    assert len(body["grids"]) == 11
    assert body["thresholds_min"] == [15, 30, 60]
    total = body["total"]
    assert 150 < total["area_km2"] < 170  # Liechtenstein is ~160 km²
    for entry in [total, *body["grids"]]:
        shares = [entry["within"][k]["cells_pct"] for k in ("15min", "30min", "60min")]
        areas = [entry["within"][k]["area_pct"] for k in ("15min", "30min", "60min")]
        assert shares == sorted(shares) and areas == sorted(areas)
        assert all(0 <= s <= 100 for s in shares + areas)
        assert abs(shares[0] - areas[0]) < 2  # cells of one resolution: nearly equal areas
    for grid in body["grids"]:
        assert grid["squads"] == [f"SQ-{grid['code']}"]
    assert sum(g["cells"] for g in body["grids"]) <= total["cells"]
    assert client.get("/coverage", params={"jurisdiction": "NOPE"}).status_code == 404


async def test_stored_times_equal_the_engine(
    db: asyncpg.Connection, settings: Settings, demo: dict[str, Path]
) -> None:
    rows = await db.fetch(
        "SELECT c.cell, c.time_s, c.squad_id, ST_X(c.centre) AS lng, ST_Y(c.centre) AS lat "
        "FROM coverage_cells c JOIN coverage_runs r ON r.id = c.run_id AND r.is_current "
        "JOIN jurisdictions j ON j.id = r.jurisdiction_id AND j.code = 'LI' ORDER BY c.cell"
    )
    assert len(rows) > 5000
    squads = await db.fetch(
        "SELECT s.id, s.station FROM squads s JOIN jurisdictions j "
        "ON j.id = s.jurisdiction_id AND j.code = 'LI' "
        "WHERE s.code LIKE 'SQ-LI-%' ORDER BY s.id"
    )
    network = await current_network(db, jurisdiction="LI")  # the demo has two counties' networks
    graph = await load_graph(db, cache_dir=settings.road_cache_dir, network=network)
    assert graph is not None
    engine = EtaEngine(graph, offroad_speed_kmh=settings.eta_offroad_speed_kmh)
    stations = engine.snapper.snap(
        np.array([s["station"].x for s in squads]), np.array([s["station"].y for s in squads])
    )
    sample = [rows[i] for i in np.random.default_rng(4).choice(len(rows), 40, replace=False)]
    scenes = engine.snapper.snap(np.array([r["lng"] for r in sample]), np.array([r["lat"] for r in sample]))
    times = engine.matrix(stations, scenes).total_s
    ids = [s["id"] for s in squads]
    for col, row in enumerate(sample):
        assert row["time_s"] == pytest.approx(times[:, col].min(), rel=1e-5, abs=0.01)
        assert row["squad_id"] == ids[int(np.argmin(times[:, col]))]


async def test_coverage_map_marks_squads(database_url: str, demo: dict[str, Path], tmp_path: Path) -> None:
    out = await write_coverage_map(database_url, out=tmp_path / "coverage.html", jurisdiction="LI")
    html = out.read_text()
    assert "Vaduz 综合执法中队" in html and "arrival time" in html
    assert html.count('"minutes"') > 5000  # one feature per cell


@pytest.fixture(scope="module")
async def ninghua_url(server_url: str) -> AsyncIterator[str]:
    async with scratch_database(server_url, "coverage") as url:
        yield url


async def test_refresh_is_skipped_when_nothing_changed_and_redone_when_a_squad_moves(
    ninghua_url: str, shared_geodata: Path, tmp_path: Path
) -> None:
    settings = Settings(database_url=ninghua_url, road_cache_dir=tmp_path, shared_geodata=shared_geodata)
    connection = await connect(ninghua_url)
    try:
        result = await import_roads(
            connection, settings=settings, source=shared_geodata / "osm" / "cn_sanming_ninghua.osm"
        )
        hull = shapely.convex_hull(
            shapely.MultiPoint(
                [
                    (x, y)
                    for x, y in zip(
                        *np.array(
                            await connection.fetch(
                                "SELECT ST_X(geom), ST_Y(geom) FROM road_nodes WHERE network_id = $1",
                                result.network_id,
                            )
                        ).T,
                        strict=True,
                    )
                ]
            )
        )
        await jurisdictions.upsert(
            connection,
            code="NH-TEST",
            name="Ninghua test",
            level="township",
            boundary=shapely.MultiPolygon([hull]),
        )
        centre = hull.centroid
        records = [
            SquadRecord(code="NH-A", name="A", station=Point(centre.x, centre.y), jurisdiction="NH-TEST")
        ]
        await upsert_squads(connection, records=records)
        first = await refresh(connection, settings=settings, jurisdiction_code="NH-TEST")
        assert first is not None and first["cells"] > 10 and first["squads"] == 1
        run = await connection.fetchval("SELECT id FROM coverage_runs WHERE is_current")
        again = await refresh(connection, settings=settings, jurisdiction_code="NH-TEST")
        assert again == first
        assert await connection.fetchval("SELECT id FROM coverage_runs WHERE is_current") == run
        # A second squad at the far corner: a new run, and no cell gets slower.
        corner = hull.exterior.coords[0]
        records.append(SquadRecord(code="NH-B", name="B", station=Point(*corner), jurisdiction="NH-TEST"))
        before = dict(await connection.fetch("SELECT cell, time_s FROM coverage_cells"))
        await upsert_squads(connection, records=records)
        second = await refresh(connection, settings=settings, jurisdiction_code="NH-TEST")
        assert second is not None and second["squads"] == 2
        assert await connection.fetchval("SELECT id FROM coverage_runs WHERE is_current") != run
        after = dict(await connection.fetch("SELECT cell, time_s FROM coverage_cells"))
        assert after.keys() == before.keys()
        assert all(after[c] <= before[c] + 1e-3 for c in after)
        assert any(after[c] < before[c] - 1 for c in after)
        assert await connection.fetchval("SELECT count(*) FROM coverage_runs") == 1
    finally:
        await connection.close()


def _wait_for_new_run(client: TestClient, previous: str) -> dict:
    def recomputed() -> dict | None:
        body = client.get("/coverage", params={"jurisdiction": "LI"}).json()
        return body if body["computed_at"] != previous else None

    return wait_until(recomputed, 10, interval=0.1, message="coverage was not recomputed")


def test_squad_changes_through_the_api_refresh_coverage(client: TestClient) -> None:
    before = client.get("/coverage", params={"jurisdiction": "LI"}).json()
    # A post up at Malbun (Triesenberg), far from every demo station.
    created = client.post(
        "/squads",
        json={
            "code": "SQ-TEST-MALBUN",
            "name": "Malbun post",
            "jurisdiction": "LI",
            "station": {"lat": 47.1013, "lng": 9.6094},
            "grid_codes": ["LI-TRIESENBERG"],
        },
    )
    assert created.status_code == 201
    try:
        during = _wait_for_new_run(client, before["computed_at"])
        old = {g["code"]: g for g in before["grids"]}
        new = {g["code"]: g for g in during["grids"]}
        share = "cells_pct"
        assert (
            new["LI-TRIESENBERG"]["within"]["15min"][share] > old["LI-TRIESENBERG"]["within"]["15min"][share]
        )
        assert new["LI-TRIESENBERG"]["squads"] == ["SQ-LI-TRIESENBERG", "SQ-TEST-MALBUN"]
        for code, grid in new.items():
            assert grid["median_s"] <= old[code]["median_s"] + 0.01
    finally:
        assert client.delete(f"/squads/{created.json()['id']}").status_code == 204
    after = _wait_for_new_run(client, during["computed_at"])
    # areas are float sums rounded to m²-scale decimals: the order cells are summed in can move
    # the last digit (159.983 vs 159.982 km² seen), counts must match exactly
    assert _same_shares(after["total"], before["total"]), (after["total"], before["total"])


def _same_shares(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_shares(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, abs=0.002)
    return a == b
