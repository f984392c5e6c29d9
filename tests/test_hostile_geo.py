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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, box, mapping
from typer.testing import CliRunner

from gridsvc.cli import app as cli_app
from gridsvc.database.pool import connect
from gridsvc.grids.importer import GridImportError, prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.settings import get_settings
from tests.events_support import VADUZ

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
    response = client.post("/squads", json={
        "code": f"SQ-HOSTILE-{uuid.uuid4().hex[:8]}", "name": "Hostile test squad",
        "station": {**SCHAAN}, "grid_codes": ["LI-SCHAAN"]})
    assert response.status_code == 201, response.text
    created = response.json()
    yield created
    client.delete(f"/squads/{created['id']}")


def _eta_squad(client: TestClient, squad_id: int) -> dict[str, Any] | None:
    response = client.get("/eta", params=VADUZ)
    assert response.status_code == 200, response.text
    return next((s for s in response.json()["squads"] if s["squad"]["id"] == squad_id), None)


# -- D5: the poles and the antimeridian ---------------------------------------------------

POLAR = [(-90.0, 0.0), (90.0, 0.0), (0.0, 180.0), (0.0, -180.0), (-90.0, -180.0),
         (90.0, 180.0), (89.9999, 179.9999)]


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_d5_lookups_at_the_poles_and_the_antimeridian_are_answered(client: TestClient,
                                                                    crs: str) -> None:
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
    for result in results[-len(POLAR):]:
        assert result["layers"]["enforcement"]["grid"] is None
        assert result["layers"]["enforcement"]["nearest"]["distance_m"] > 4_000_000


# -- D11: NaN geometry and layers outside their jurisdiction ------------------------------

HOSTILE_CODE = "TEST-HOSTILE"
HOSTILE_LAYER = "specialist:hostiletest"
HOSTILE_BOX = (117.300, 25.300, 117.340, 25.330)  # Fujian, WGS84


def _write(path: Path, features: list[tuple[str, Any]]) -> Path:
    # json.dumps writes NaN/Infinity as the bare words other tools produce too.
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": code},
         "geometry": geometry if isinstance(geometry, dict) else mapping(geometry)}
        for code, geometry in features]}))
    return path


def _ring_with(bad: float) -> dict[str, Any]:
    x0, y0, x1, y1 = HOSTILE_BOX
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [bad, y1], [x0, y1],
                                                [x0, y0]]]}


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


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
        cli: CliRunner, database_url: str, demo: Any, tmp_path: Path, bad: float) -> None:
    path = _write(tmp_path / "nan.geojson",
                  [("GOOD", box(*HOSTILE_BOX)), ("BAD", _ring_with(bad))])
    with pytest.raises(GridImportError) as error:
        prepare_layer(path, layer=HOSTILE_LAYER)
    message = str(error.value)
    assert "nan.geojson" in message and "feature 2 (code BAD)" in message
    assert "vertex 3" in message and "not a finite number" in message, message
    before = _versions(database_url)
    result = cli.invoke(cli_app, ["grids", "import", str(path), "--layer", HOSTILE_LAYER,
                                  "--jurisdiction", "LI"])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith(f"error: {path}: feature 2 (code BAD): "), result.stderr
    assert "Traceback" not in result.stderr
    assert _versions(database_url) == before


def test_d11_a_layer_outside_its_jurisdiction_is_refused_unless_allowed(
        cli: CliRunner, database_url: str, client: TestClient, tmp_path: Path) -> None:
    path = _write(tmp_path / "beijing.geojson", [("BJ-1", BEIJING)])
    before = _versions(database_url)
    result = cli.invoke(cli_app, ["grids", "import", str(path), "--layer", HOSTILE_LAYER,
                                  "--jurisdiction", "LI"])
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
            await jurisdictions.upsert(connection, code=HOSTILE_CODE, name=HOSTILE_CODE,
                                       level="county", boundary=MultiPolygon([box(*HOSTILE_BOX)]),
                                       source="tests")
            with pytest.raises(GridImportError, match="wholly outside jurisdiction TEST-HOSTILE"):
                await import_layer(connection, prepare_layer(path, layer=HOSTILE_LAYER),
                                   jurisdiction_code=HOSTILE_CODE, resolution=10)
        finally:
            await connection.close()

    asyncio.run(refused_by_the_service())
    assert _versions(database_url) == before
    allowed = cli.invoke(cli_app, ["grids", "import", str(path), "--layer", HOSTILE_LAYER,
                                   "--jurisdiction", HOSTILE_CODE, "--allow-outside"])
    assert allowed.exit_code == 0, (allowed.stdout, allowed.stderr, allowed.exception)
    assert "outside jurisdiction TEST-HOSTILE: BJ-1" in allowed.stdout
    assert _versions(database_url) == before + 1
    # The running app reloads its overlay on the import's NOTIFY (and logs it): wait for it
    # here, so that the reload's log line lands in no later test's captured output.
    deadline = time.monotonic() + WAIT_S
    while HOSTILE_LAYER not in client.get("/health").json()["overlay"]["layers"]:
        assert time.monotonic() < deadline, "the app did not reload its overlay"
        time.sleep(0.05)
