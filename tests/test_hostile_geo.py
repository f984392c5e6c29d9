"""Hostile coordinates never become a 500 (issue 13: D1, D5, D11).

Everything goes through the real app (ASGI) or the real ``gridsvc`` CLI over the demo
database. Squads a test creates are deleted again; rows a test plants directly in the
database (as an older version or another process could have stored them) are removed too.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, box, mapping
from typer.testing import CliRunner

from gridsvc.app import create_app
from gridsvc.cli import app as cli_app
from gridsvc.database.pool import connect
from gridsvc.grids.importer import GridImportError, prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.settings import Settings, get_settings
from tests.auth_support import bearer
from tests.events_support import VADUZ, post_order

# The GPS ping of the report: the equator in the Indian Ocean, ~9,000 km from every road.
BAD = {"lat": 0.0, "lng": 99.5}
SCHAAN = {"lat": 47.1713, "lng": 9.5122}  # by Schaan's fire station, on the road network
BEIJING = box(116.39, 39.90, 116.41, 39.92)
WAIT_S = 30.0  # an overlay reload takes seconds on a loaded machine; a condition wait


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _fields(response: Any) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in response.json().get("fields", [])}


async def _wait_for(condition: Any, what: str) -> Any:
    """Poll ``condition()`` until it returns something truthy (the app reloads on NOTIFY)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def squad(client: TestClient) -> Iterator[dict[str, Any]]:
    """A squad of this test's own at Schaan (no jurisdiction: not part of coverage)."""
    response = client.post(
        "/squads",
        json={
            "code": f"SQ-HOSTILE-{uuid.uuid4().hex[:8]}",
            "name": "Hostile test squad",
            "station": {**SCHAAN},
            "grid_codes": ["LI-SCHAAN"],
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    yield created
    client.delete(f"/squads/{created['id']}")


def _eta_squad(client: TestClient, squad_id: int) -> dict[str, Any]:
    response = client.get("/eta", params=VADUZ)
    assert response.status_code == 200, response.text
    found = next((s for s in response.json()["squads"] if s["squad"]["id"] == squad_id), None)
    assert found is not None, f"squad {squad_id} not in /eta"
    return found


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


# -- D1: one bad GPS ping, one bad station ------------------------------------------------


def test_d1_a_ping_off_the_jurisdiction_is_refused_before_it_is_stored(
    client: TestClient, squad: dict[str, Any]
) -> None:
    url = f"/squads/{squad['id']}/positions"
    response = client.post(url, json={**BAD, "timestamp": _now()})
    assert response.status_code == 422, response.text
    fields = _fields(response)
    assert {"body.lat", "body.lng"} <= set(fields), fields
    assert "outside" in fields["body.lat"] and "jurisdiction" in fields["body.lat"]
    assert client.get(url).json() == []  # nothing stored
    # A good ping still goes through, and /eta answers for every squad.
    good = client.post(url, json={**SCHAAN, "timestamp": _now()})
    assert good.status_code == 201, good.text
    assert _eta_squad(client, squad["id"])["origin"]["kind"] == "live"


def test_d1_a_ping_too_far_from_any_road_is_refused_naming_the_distance(
    client: TestClient, squad: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside Liechtenstein but farther from a road than the configured limit."""
    monkeypatch.setattr(
        client.app.state.settings,  # type: ignore[attr-defined]
        "squad_max_road_distance_m",
        5.0,
    )
    response = client.post(
        f"/squads/{squad['id']}/positions", json={"lat": 47.1420, "lng": 9.5290, "timestamp": _now()}
    )
    assert response.status_code == 422, response.text
    reason = _fields(response)["body.lat"]
    assert "m from the nearest road" in reason and "5 m" in reason, reason
    assert client.get(f"/squads/{squad['id']}/positions").json() == []


def test_d1_a_ping_where_no_roads_are_loaded_is_stored_and_left_out_of_eta(
    client: TestClient, squad: dict[str, Any]
) -> None:
    """A Liechtenstein squad pinging from Ninghua (Fujian), off its own network (Liechtenstein's
    roads): the ping is kept for the track, and /eta says the squad cannot be reached instead
    of failing."""
    response = client.post(
        f"/squads/{squad['id']}/positions", json={"lat": 26.2625, "lng": 116.6405, "timestamp": _now()}
    )
    assert response.status_code == 201, response.text
    answer = _eta_squad(client, squad["id"])
    assert answer["reachable"] is False and answer["origin"]["kind"] == "live"
    assert "off the road network" in answer["unreachable_reason"]


def test_d1_a_station_off_the_network_is_refused_and_not_committed(
    client: TestClient, squad: dict[str, Any]
) -> None:
    response = client.patch(f"/squads/{squad['id']}", json={"station": BAD})
    assert response.status_code == 422, response.text
    assert "body.station" in _fields(response)
    after = client.get(f"/squads/{squad['id']}").json()
    assert after["station"] == pytest.approx(SCHAAN)
    created = client.post(
        "/squads", json={"code": f"SQ-HOSTILE-{uuid.uuid4().hex[:8]}", "name": "never", "station": BAD}
    )
    assert created.status_code == 422, created.text
    assert "body.station" in _fields(created)
    assert _eta_squad(client, squad["id"]) is not None


def test_d1_squads_import_refuses_a_station_off_its_jurisdiction(
    cli: CliRunner, database_url: str, demo: Any, tmp_path: Path
) -> None:
    code = f"SQ-HOSTILE-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "squads.csv"
    path.write_text(
        "code,name,jurisdiction,lat,lng\n"
        f"{code}-OK,fine,LI,{SCHAAN['lat']},{SCHAAN['lng']}\n"
        f"{code},far away,LI,{BAD['lat']},{BAD['lng']}\n"
    )
    result = cli.invoke(cli_app, ["squads", "import", str(path)])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert f"squads.csv: squad {code}: station:" in result.stderr
    assert "outside jurisdiction LI" in result.stderr and "Traceback" not in result.stderr

    async def stored() -> int:
        connection = await connect(database_url)
        try:
            return int(
                await connection.fetchval("SELECT count(*) FROM squads WHERE code LIKE $1", f"{code}%")
            )
        finally:
            await connection.close()

    assert asyncio.run(stored()) == 0  # not even the good one: one transaction


@pytest.fixture
async def planted(squad: dict[str, Any], db: asyncpg.Connection) -> AsyncIterator[int]:
    """A bad position stored for the test squad directly, as the old code let it be."""
    await db.execute(
        "INSERT INTO squad_positions (squad_id, observed_at, device_time, received_at, geom, "
        "source_crs, accuracy_m, applied) VALUES ($1, now(), now(), now(), "
        "ST_SetSRID(ST_MakePoint($2, $3), 4326), 'wgs84', NULL, true)",
        squad["id"],
        BAD["lng"],
        BAD["lat"],
    )
    yield squad["id"]
    await db.execute("DELETE FROM squad_positions WHERE squad_id = $1", squad["id"])


async def test_d1_a_stored_bad_position_makes_one_squad_unreachable_not_a_500(
    client: TestClient, planted: int, db: asyncpg.Connection
) -> None:
    answer = await _wait_for(
        lambda: (lambda s: s if s and s["origin"]["kind"] == "live" else None)(_eta_squad(client, planted)),
        "the planted position to reach the ETA state",
    )
    assert answer["reachable"] is False and answer["eta_s"] is None
    assert "road" in answer["unreachable_reason"]
    body = client.get("/eta", params=VADUZ).json()
    assert body["squads"][-1]["squad"]["id"] == planted  # unreachable ones come last
    assert any(s["reachable"] and math.isfinite(s["eta_s"]) for s in body["squads"])
    assert [u["id"] for u in body["unreachable"]] == [planted]
    route = client.get("/eta", params={**VADUZ, "route": planted})
    assert route.status_code == 200 and route.json()["route"] is None
    # Dispatch: an auto-dispatch matter over the webhook, then the event's candidates.
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    matter = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = 'urban_management' "
        "AND kind = 'event' AND auto_dispatch ORDER BY code LIMIT 1"
    )
    assert matter is not None
    order = {
        "work_order_no": f"T{uuid.uuid4().hex[:12]}",
        "title": "测试工单",
        "content": "市民反映",
        "matter_code": matter,
        "location": VADUZ,
    }
    delivered = post_order(client, secret, order)
    assert delivered.status_code in (200, 201, 202), delivered.text
    event_id = delivered.json()["id"]
    candidates = client.get(f"/events/{event_id}/candidates")
    assert candidates.status_code == 200, candidates.text
    ranked = {c["id"]: c for c in candidates.json()["candidates"]}
    assert ranked[planted]["eta_s"] is None
    assert any(c["eta_s"] is not None for c in ranked.values())


async def test_d1_the_app_starts_with_bad_stations_and_positions_stored(
    settings: Settings, planted: int, db: asyncpg.Connection, demo: Any
) -> None:
    """Rows stored before the checks existed: flagged and skipped, never a failed start."""
    # Of Liechtenstein: a squad of no jurisdiction stationed outside every county would go on
    # the network with the nearest road (Ninghua's, from the equator), not the one asked here.
    await db.execute(
        "UPDATE squads SET station = ST_SetSRID(ST_MakePoint($2, $3), 4326), "
        "jurisdiction_id = (SELECT id FROM jurisdictions WHERE code = 'LI') WHERE id = $1",
        planted,
        BAD["lng"],
        BAD["lat"],
    )
    assert settings.database_url is not None
    with TestClient(create_app(settings)) as fresh:
        fresh.headers.update(bearer(settings.database_url, "admin"))
        body = fresh.get("/eta", params=VADUZ)
        assert body.status_code == 200, body.text
        mine = next(s for s in body.json()["squads"] if s["squad"]["id"] == planted)
        assert mine["reachable"] is False
        assert sum(s["reachable"] for s in body.json()["squads"]) >= 11  # the demo's squads
        assert fresh.get("/squads").status_code == 200


def test_d1_a_scene_off_the_road_network_is_a_clear_error(client: TestClient) -> None:
    response = client.get("/eta", params=BAD)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "scene_off_network"
    assert "road" in response.json()["message"]


# -- D5: the poles and the antimeridian ---------------------------------------------------

POLAR = [
    (-90.0, 0.0),
    (90.0, 0.0),
    (0.0, 180.0),
    (0.0, -180.0),
    (-90.0, -180.0),
    (90.0, 180.0),
    (89.9999, 179.9999),
]


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_d5_lookups_at_the_poles_and_the_antimeridian_are_answered(client: TestClient, crs: str) -> None:
    for lat, lng in POLAR:
        response = client.get("/grids/lookup", params={"lat": lat, "lng": lng, "crs": crs})
        assert response.status_code == 200, (lat, lng, crs, response.text)
        layers = response.json()["layers"]
        assert layers and all(a["grid"] is None for a in layers.values())
        nearest = layers["enforcement"]["nearest"]
        assert nearest is not None and nearest["distance_m"] > 4_000_000


def test_d5_one_polar_point_does_not_fail_a_batch_of_ten_thousand(client: TestClient) -> None:
    points = [{**VADUZ, "id": f"p{i}"} for i in range(10_000 - len(POLAR))]
    points += [{"lat": lat, "lng": lng, "id": f"polar{i}"} for i, (lat, lng) in enumerate(POLAR)]
    response = client.post("/grids/lookup", json={"points": points})
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert len(results) == 10_000
    assert results[0]["layers"]["enforcement"]["grid"]["code"] == "LI-VADUZ"
    for result in results[-len(POLAR) :]:
        assert result["layers"]["enforcement"]["grid"] is None
        assert result["layers"]["enforcement"]["nearest"]["distance_m"] > 4_000_000


# -- D11: NaN geometry and layers outside their jurisdiction ------------------------------

HOSTILE_CODE = "TEST-HOSTILE"
HOSTILE_LAYER = "specialist:hostiletest"
HOSTILE_BOX = (117.300, 25.300, 117.340, 25.330)  # Fujian, WGS84


def _write(path: Path, features: list[tuple[str, Any]]) -> Path:
    # json.dumps writes NaN/Infinity as the bare words other tools produce too.
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": code, "name": code},
                        "geometry": geometry if isinstance(geometry, dict) else mapping(geometry),
                    }
                    for code, geometry in features
                ],
            }
        )
    )
    return path


def _ring_with(bad: float) -> dict[str, Any]:
    x0, y0, x1, y1 = HOSTILE_BOX
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [bad, y1], [x0, y1], [x0, y0]]]}


def _versions(database_url: str) -> int:
    async def count() -> int:
        connection = await connect(database_url)
        try:
            return int(await connection.fetchval("SELECT count(*) FROM layer_versions"))
        finally:
            await connection.close()

    return asyncio.run(count())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_d11_non_finite_coordinates_are_refused_naming_file_feature_and_reason(
    cli: CliRunner, database_url: str, demo: Any, tmp_path: Path, bad: float
) -> None:
    path = _write(tmp_path / "nan.geojson", [("GOOD", box(*HOSTILE_BOX)), ("BAD", _ring_with(bad))])
    with pytest.raises(GridImportError) as error:
        prepare_layer(path, layer=HOSTILE_LAYER)
    message = str(error.value)
    assert "nan.geojson" in message and "feature 2 (code BAD)" in message
    assert "vertex 3" in message and "not a finite number" in message, message
    before = _versions(database_url)
    result = cli.invoke(
        cli_app, ["grids", "import", str(path), "--layer", HOSTILE_LAYER, "--jurisdiction", "LI"]
    )
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith(f"error: {path}: feature 2 (code BAD): "), result.stderr
    assert "Traceback" not in result.stderr
    assert _versions(database_url) == before


def test_d11_a_layer_outside_its_jurisdiction_is_refused_unless_allowed(
    cli: CliRunner, database_url: str, client: TestClient, tmp_path: Path
) -> None:
    path = _write(tmp_path / "beijing.geojson", [("BJ-1", BEIJING)])
    before = _versions(database_url)
    result = cli.invoke(
        cli_app, ["grids", "import", str(path), "--layer", HOSTILE_LAYER, "--jurisdiction", "LI"]
    )
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("error: ") and path.name in result.stderr, result.stderr
    assert "wholly outside jurisdiction LI" in result.stderr
    assert "--allow-outside" in result.stderr
    assert _versions(database_url) == before

    # Into a jurisdiction of the test's own: refused by the service too, then imported with
    # --allow-outside, the report saying which grids lie outside.
    async def refused_by_the_service() -> None:
        connection = await connect(database_url)
        try:
            await jurisdictions.upsert(
                connection,
                code=HOSTILE_CODE,
                name=HOSTILE_CODE,
                level="county",
                boundary=MultiPolygon([box(*HOSTILE_BOX)]),
                source="tests",
            )
            with pytest.raises(GridImportError, match="wholly outside jurisdiction TEST-HOSTILE"):
                await import_layer(
                    connection,
                    prepare_layer(path, layer=HOSTILE_LAYER),
                    jurisdiction_code=HOSTILE_CODE,
                    resolution=10,
                )
        finally:
            await connection.close()

    asyncio.run(refused_by_the_service())
    assert _versions(database_url) == before
    allowed = cli.invoke(
        cli_app,
        [
            "grids",
            "import",
            str(path),
            "--layer",
            HOSTILE_LAYER,
            "--jurisdiction",
            HOSTILE_CODE,
            "--allow-outside",
        ],
    )
    assert allowed.exit_code == 0, (allowed.stdout, allowed.stderr, allowed.exception)
    assert "outside jurisdiction TEST-HOSTILE: BJ-1" in allowed.stdout
    assert _versions(database_url) == before + 1
    # The running app reloads its overlay on the import's NOTIFY (and logs it): wait for it
    # here, so that the reload's log line lands in no later test's captured output.
    deadline = time.monotonic() + WAIT_S
    while HOSTILE_LAYER not in client.get("/health").json()["overlay"]["layers"]:
        assert time.monotonic() < deadline, "the app did not reload its overlay"
        time.sleep(0.05)
