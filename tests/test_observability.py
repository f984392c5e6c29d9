"""Observability through the real app: /metrics against the database, request ids, JSON log
lines, and readiness with and without a road graph."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gridsvc.app import create_app
from gridsvc.observability.logs import JsonFormatter
from gridsvc.settings import Settings
from tests.auth_support import bearer
from tests.events_support import post_order
from tests.roads_support import scratch_database

pytestmark = pytest.mark.usefixtures("demo")
VADUZ = {"lat": 47.1410, "lng": 9.5209}


def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics: name -> {sorted labels: value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


async def urban_matter(db: asyncpg.Connection) -> str:
    return await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' AND NOT auto_dispatch "
        "ORDER BY code LIMIT 1"
    )


async def spot(db: asyncpg.Connection) -> dict[str, float]:
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, "
        "300))).geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-SCHAAN'"
        ") s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1"
    )
    return {"lat": row["lat"], "lng": row["lng"]}


@pytest.fixture(scope="module")
async def secret(database_url: str, demo) -> str:  # noqa: ARG001 - demo creates it
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    finally:
        await connection.close()


# -- /metrics ----------------------------------------------------------------------------


async def test_database_gauges_match_the_database(client: TestClient, db, secret: str) -> None:
    # Something to count: an overdue event (deadline moved into the past, as if time had
    # passed) and a pending hotline message.
    order = {
        "work_order_no": f"OB{uuid.uuid4().hex[:10]}",
        "title": "噪音扰民",
        "matter_code": await urban_matter(db),
        "location": await spot(db),
    }
    event_id = post_order(client, secret, order).json()["id"]
    client.post(f"/events/{event_id}/actions/dispatch", json={})
    client.post(f"/events/{event_id}/actions/sign_for", json={})
    await db.execute("UPDATE events SET due_at = now() - interval '5 minutes' WHERE id = $1", event_id)
    samples = scrape(client)
    by_state = dict(await db.fetch("SELECT state, count(*) FROM events GROUP BY state"))
    assert by_state and sum(by_state.values()) > 0
    for state in ("received", "routed", "dispatched", "signed_for", "closed", "suspended"):
        assert value(samples, "gridsvc_events", state=state) == by_state.get(state, 0), state
    overdue = dict(
        await db.fetch(
            "SELECT stage, count(*) FROM events WHERE state NOT IN "
            "('closed', 'suspended') AND due_at < now() GROUP BY stage"
        )
    )
    assert overdue.get("arrive", 0) >= 1
    for stage, count in overdue.items():
        assert value(samples, "gridsvc_events_overdue", stage=stage) == count, stage
    # a counter: the 督办 raised, those archived with their events (archive.tallies) included
    assert value(samples, "gridsvc_sla_escalations_total") == await db.fetchval(
        "SELECT (SELECT count(*) FROM escalations)"
        " + (SELECT coalesce(sum(n), 0) FROM archive.tallies WHERE kind = 'escalation_level')"
    )
    outbox = dict(await db.fetch("SELECT status, count(*) FROM outbox GROUP BY status"))
    assert outbox.get("pending", 0) >= 1
    for status in ("pending", "dead", "delivered"):
        assert value(samples, "gridsvc_outbox_messages", status=status) == outbox.get(status, 0)
    oldest = await db.fetchval(
        "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE status = 'pending'"
    )
    assert abs(value(samples, "gridsvc_outbox_oldest_pending_seconds") - float(oldest)) < 5


async def test_intake_eta_and_request_histograms_count_what_happened(
    client: TestClient, db, secret: str
) -> None:
    before = scrape(client)
    matter = await urban_matter(db)
    order = {
        "work_order_no": f"OB{uuid.uuid4().hex[:10]}",
        "title": "占道经营",
        "matter_code": matter,
        "location": await spot(db),
    }
    assert post_order(client, secret, order).status_code == 201
    assert post_order(client, "wrong-secret", {**order, "work_order_no": "X1"}).status_code == 401
    created = client.post(
        "/events", json={"title": "巡查", "matter_code": matter, "location": await spot(db)}
    )
    assert created.status_code == 201
    squad_id = await db.fetchval("SELECT id FROM squads WHERE code = 'SQ-LI-VADUZ'")
    assert client.get("/eta", params=VADUZ).status_code == 200
    assert client.get("/eta", params={**VADUZ, "route": squad_id}).status_code == 200
    assert client.get(f"/events/{created.json()['id']}/candidates").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Accepted intake only: the refused (401) delivery is not an intake.
    assert grew("gridsvc_intake_duration_seconds_count", source="hotline") == 1
    assert grew("gridsvc_intake_duration_seconds_count", source="operator") == 1
    assert grew("gridsvc_intake_duration_seconds_sum", source="hotline") > 0
    assert grew("gridsvc_eta_duration_seconds_count", with_route="false") == 2  # /eta, ranking
    assert grew("gridsvc_eta_duration_seconds_count", with_route="true") == 1
    assert grew("gridsvc_http_requests_total", method="POST", route="/webhooks/12345", status="401") == 1
    assert (
        grew("gridsvc_http_requests_total", method="GET", route="/events/{event_id}/candidates", status="200")
        == 1
    )
    assert grew("gridsvc_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert grew("gridsvc_http_request_duration_seconds_count", method="GET", route="/eta") == 2
    # buckets are cumulative and end at +Inf = count
    inf = value(after, "gridsvc_intake_duration_seconds_bucket", source="hotline", le="+Inf")
    assert inf == value(after, "gridsvc_intake_duration_seconds_count", source="hotline")


# -- request ids and log lines -------------------------------------------------------------


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/layers", headers={"X-Request-ID": "hotline-7f3a:42"})
    assert given.headers["x-request-id"] == "hotline-7f3a:42"
    made = client.get("/layers").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/layers").headers["x-request-id"] != made
    odd = client.get("/layers", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", odd)  # too long: replaced, not logged
    refused = client.get("/events", headers={"Authorization": "Bearer gs_nope", "X-Request-ID": "req-401"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "req-401"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every gridsvc log record of the test, formatted as the app formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gridsvc")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_access_lines_are_json_with_request_id_and_actor(client: TestClient, json_lines: io.StringIO) -> None:
    me = client.get("/me").json()
    client.get("/events", params={"limit": 1}, headers={"X-Request-ID": "trace-abc-123"})
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    line = next(entry for entry in lines if entry.get("request_id") == "trace-abc-123")
    assert line["logger"] == "gridsvc.access" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["route"], line["status"]) == ("GET", "/events", "/events", 200)
    assert line["actor"] == me["actor"] and line["duration_ms"] > 0
    assert line["time"].endswith("+00:00") and "GET /events 200" in line["message"]


def test_lines_written_during_a_request_carry_its_id(
    settings: Settings, json_lines: io.StringIO, capsys
) -> None:
    app = create_app(settings)

    @app.get("/no-rule-here")
    async def no_rule() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        capsys.readouterr()
        client.get("/no-rule-here", headers={"X-Request-ID": "deny-7"})
        printed = capsys.readouterr().out
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    denied = next(entry for entry in lines if entry["logger"] == "gridsvc.auth")
    assert denied["request_id"] == "deny-7" and denied["level"] == "ERROR"
    assert "no access rule for GET /no-rule-here" in denied["message"]
    # the app's own handler prints the same records as JSON lines on stdout
    printed_lines = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert any(
        entry.get("request_id") == "deny-7" and entry["logger"] == "gridsvc.access" for entry in printed_lines
    )
    assert sum(getattr(h, "_gridsvc", False) for h in logging.getLogger().handlers) == 1


# -- readiness ---------------------------------------------------------------------------


def test_ready_with_the_demo(client: TestClient) -> None:
    response = client.get("/ready", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["missing"] == [] and body["database"] == "ok"
    # the demo has two counties; Liechtenstein's network is the large one
    li = next(n for n in body["road_graph"]["networks"] if n["jurisdiction"] == "LI")
    assert li["nodes"] > 1000 and li["squads"] >= 11


async def test_not_ready_without_a_road_graph(server_url: str, shared_geodata: Path, tmp_path: Path) -> None:
    async with scratch_database(server_url, "ready") as url:
        fresh = Settings(
            database_url=url, shared_geodata=shared_geodata, background_workers=False, road_cache_dir=tmp_path
        )
        with TestClient(create_app(fresh)) as client:
            response = client.get("/ready")
            assert response.status_code == 503
            body = response.json()
            assert body["missing"] == ["road_graph"] and body["database"] == "ok"
            assert "gridsvc roads import" in body["road_graph"]
            assert client.get("/health").status_code == 200  # alive all the same
            client.headers.update(bearer(url))
            assert client.get("/eta", params=VADUZ).status_code == 503
