"""Squads, AVL positions and GET /eta over the real app with the demo loaded.

Squads a test creates are deleted again, so the demo's 11 squads stay as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from gridsvc.geo.crs import wgs84_to_gcj02
from gridsvc.squads.service import read_squad_file

VADUZ_CENTRE = {"lat": 47.1410, "lng": 9.5209}
DEMO_MUNICIPALITIES = 11


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def squad(client: TestClient) -> Iterator[dict[str, Any]]:
    """A squad of this test's own, stationed at Schaan's fire station area."""
    response = client.post(
        "/squads",
        json={
            "code": f"SQ-TEST-{datetime.now(UTC).timestamp():.6f}",
            "name": "Test squad",
            "station": {"lat": 47.1713, "lng": 9.5122},
            "grid_codes": ["LI-SCHAAN"],
            "size": 4,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    yield created
    client.delete(f"/squads/{created['id']}")


def _eta_of(client: TestClient, squad_id: int, **params: Any) -> dict[str, Any]:
    response = client.get("/eta", params={**VADUZ_CENTRE, **params})
    assert response.status_code == 200, response.text
    return next(s for s in response.json()["squads"] if s["squad"]["id"] == squad_id)


def test_demo_squads_are_placed_by_a_stated_rule(client: TestClient) -> None:
    squads = [s for s in client.get("/squads").json() if s["code"].startswith("SQ-LI-")]
    assert len(squads) == DEMO_MUNICIPALITIES
    rules = {s["code"]: s["station_rule"] for s in squads}
    assert rules["SQ-LI-BALZERS"] == "osm:fire_station"
    assert rules["SQ-LI-VADUZ"] == "osm:townhall"  # no fire station tagged in Vaduz
    by_vaduz = next(s for s in squads if s["code"] == "SQ-LI-VADUZ")
    assert by_vaduz["station_name"] == "Rathaus Vaduz" and by_vaduz["station_source"].startswith("w")
    for code in ("SQ-LI-PLANKEN", "SQ-LI-MAUREN", "SQ-LI-GAMPRIN", "SQ-LI-RUGGELL"):
        assert rules[code] == "centroid_snapped"
    for s in squads:
        assert s["grid_codes"] == [s["code"].removeprefix("SQ-")]
        assert s["status"] == "available"
        if s["station_rule"].startswith("osm:"):
            assert s["station_source"][0] in "nwr"
    # A centroid-snapped station lies on a road: /eta snaps it with no off-road leg.
    body = client.get("/eta", params=VADUZ_CENTRE).json()
    planken = next(a for a in body["squads"] if a["squad"]["code"] == "SQ-LI-PLANKEN")
    assert planken["origin"]["road"]["offroad_m"] < 0.5


def test_eta_lists_every_squad_fastest_first(client: TestClient) -> None:
    response = client.get("/eta", params=VADUZ_CENTRE)
    assert response.status_code == 200
    body = response.json()
    codes = [a["squad"]["code"] for a in body["squads"]]
    assert {f"SQ-LI-{m}" for m in ("VADUZ", "SCHAAN", "BALZERS")} <= set(codes)
    etas = [a["eta_s"] for a in body["squads"]]
    assert etas == sorted(etas) and all(math.isfinite(e) and e > 0 for e in etas)
    assert codes[0] == "SQ-LI-VADUZ"
    for answer in body["squads"]:
        assert answer["eta_s"] == pytest.approx(answer["drive_s"] + answer["offroad_s"], abs=0.15)
        assert answer["distance_m"] > 0
    assert body["scene"]["road"]["far_from_road"] is False


def test_eta_endpoint_agrees_with_networkx(client: TestClient) -> None:
    """The API wiring adds nothing: drive time equals networkx on the loaded graph."""
    from test_eta_engine import reference_graph, with_points

    engine = client.app.state.eta.state_for("LI").engine  # type: ignore[attr-defined]
    scene_point = {"lat": 47.0660, "lng": 9.4990}  # Balzers
    body = client.get("/eta", params=scene_point).json()
    scene = engine.snapper.snap(np.array([scene_point["lng"]]), np.array([scene_point["lat"]]))
    reference = reference_graph(engine.graph)
    for answer in body["squads"][:6]:
        origin = engine.snapper.snap(np.array([answer["origin"]["lng"]]), np.array([answer["origin"]["lat"]]))
        split = with_points(
            engine.graph,
            reference,
            {
                "squad": (int(origin.edge[0]), float(origin.frac[0])),
                "scene": (int(scene.edge[0]), float(scene.frac[0])),
            },
        )
        expected = nx.shortest_path_length(split, "squad", "scene", weight="time")
        assert answer["drive_s"] == pytest.approx(expected, abs=0.06), answer["squad"]["code"]


def test_route_of_one_squad_as_geojson(client: TestClient) -> None:
    squads = client.get("/squads").json()
    schaan = next(s for s in squads if s["code"] == "SQ-LI-SCHAAN")
    body = client.get("/eta", params={**VADUZ_CENTRE, "route": schaan["id"]}).json()
    route = body["route"]
    assert route["type"] == "Feature" and route["geometry"]["type"] == "LineString"
    coords = route["geometry"]["coordinates"]
    assert coords[0] == pytest.approx([schaan["station"]["lng"], schaan["station"]["lat"]])
    assert coords[-1] == pytest.approx([VADUZ_CENTRE["lng"], VADUZ_CENTRE["lat"]])
    answer = next(a for a in body["squads"] if a["squad"]["id"] == schaan["id"])
    assert route["properties"]["eta_s"] == answer["eta_s"]
    assert len(coords) > 10


def test_stale_position_falls_back_to_the_station(client: TestClient, squad: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    from_station = _eta_of(client, squad["id"])
    assert from_station["origin"]["kind"] == "station"
    assert from_station["origin"]["reason"] == "no position received"
    # 11 minutes old: beyond the 10-minute limit.
    old = client.post(
        f"/squads/{squad['id']}/positions",
        json={"lat": 47.0660, "lng": 9.4990, "timestamp": _iso(now - timedelta(minutes=11))},
    )
    assert old.status_code == 201 and old.json()["applied"] is True
    stale = _eta_of(client, squad["id"])
    assert stale["origin"]["kind"] == "station"
    assert "older than the 10 min limit" in stale["origin"]["reason"]
    assert stale["eta_s"] == pytest.approx(from_station["eta_s"], abs=0.01)
    viewed = client.get(f"/squads/{squad['id']}").json()["position"]
    assert viewed["trusted"] is False and viewed["age_s"] > 600
    # A fresh ping from Balzers (far south): the ETA now starts there and is longer.
    fresh = client.post(
        f"/squads/{squad['id']}/positions",
        json={"lat": 47.0660, "lng": 9.4990, "timestamp": _iso(now), "accuracy": 8},
    )
    assert fresh.status_code == 201
    assert fresh.json()["trusted_until"].startswith((now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"))
    live = _eta_of(client, squad["id"])
    assert live["origin"]["kind"] == "live" and live["origin"]["reason"] is None
    assert live["origin"]["age_s"] < 60
    assert live["eta_s"] > from_station["eta_s"] + 120


def test_a_ping_survives_a_reload_that_read_the_positions_before_it(
    client: TestClient, squad: dict[str, Any]
) -> None:
    """A squads reload (any squad's change, heard over LISTEN) reads the positions from the
    database and publishes later; a ping applied in between, or one for a squad the process
    had not loaded yet, must not be dropped. Here the ping is applied as the position
    endpoint applies it but is not in the database, as when the reload read before it was
    stored: after the reload the squad still answers from it."""
    holder = client.app.state.eta  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    portal.call(holder.reload_squads)
    assert _eta_of(client, squad["id"])["origin"]["kind"] == "station"
    ping = {"lng": 9.4990, "lat": 47.0660, "observed_at": datetime.now(UTC), "accuracy_m": 8.0}
    portal.call(holder.set_position, squad["id"], ping)
    assert _eta_of(client, squad["id"])["origin"]["kind"] == "live"
    portal.call(holder.reload_squads)
    after = _eta_of(client, squad["id"])
    assert after["origin"]["kind"] == "live", after["origin"]


def test_a_moved_station_is_answered_from_after_the_reload(client: TestClient, squad: dict[str, Any]) -> None:
    """Prepared origins are cached per network by squad, kind and ping time, not by station:
    the squads reload that follows a station change must drop every network's cache, or
    /eta keeps answering from the old station."""
    holder = client.app.state.eta  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    portal.call(holder.reload_squads)
    at_schaan = _eta_of(client, squad["id"])
    assert at_schaan["origin"]["kind"] == "station"
    moved = client.patch(f"/squads/{squad['id']}", json={"station": {"lat": 47.0660, "lng": 9.4990}})
    assert moved.status_code == 200, moved.text
    portal.call(holder.reload_squads)
    at_balzers = _eta_of(client, squad["id"])
    assert at_balzers["origin"]["kind"] == "station"
    # Balzers lies far south of Vaduz, Schaan just north of it
    assert at_balzers["eta_s"] > at_schaan["eta_s"] + 120, (at_schaan["eta_s"], at_balzers["eta_s"])


def test_out_of_order_and_future_pings(client: TestClient, squad: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    url = f"/squads/{squad['id']}/positions"

    def ping(lat: float, lng: float, seconds: float) -> Any:
        return client.post(
            url, json={"lat": lat, "lng": lng, "timestamp": _iso(now + timedelta(seconds=seconds))}
        )

    newer = ping(47.14, 9.52, -30)
    assert newer.json()["applied"] is True
    older = ping(47.06, 9.49, -90)
    assert older.status_code == 201
    assert older.json()["applied"] is False and "older than" in older.json()["reason"]
    position = client.get(f"/squads/{squad['id']}").json()["position"]
    assert position["lat"] == pytest.approx(47.14)  # not moved back
    track = client.get(url).json()
    assert [p["applied"] for p in track[:2]] == [True, False]
    # Far in the future: refused, with the server time in the message.
    future = ping(47.1, 9.5, 8 * 3600)
    assert future.status_code == 422
    assert "ahead of the server clock" in future.json()["message"]
    # Slightly ahead (clock skew): accepted, clamped to the time of receipt.
    skewed = ping(47.15, 9.51, 30)
    assert skewed.status_code == 201
    body = skewed.json()
    assert body["applied"] is True and body["observed_at"] <= body["received_at"]
    # A naive local time is ambiguous.
    naive = client.post(url, json={"lat": 47.1, "lng": 9.5, "timestamp": "2024-05-01T08:30:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["message"]


def test_positions_in_chinese_coordinates_are_stored_in_wgs84(
    client: TestClient, squad: dict[str, Any]
) -> None:
    # A point in Ninghua (Fujian): GCJ-02 differs from WGS84 by a few hundred metres there.
    lng, lat = 116.6405, 26.2625
    glng, glat = wgs84_to_gcj02(lng, lat)
    response = client.post(
        f"/squads/{squad['id']}/positions",
        json={"lat": float(glat), "lng": float(glng), "crs": "gcj02", "timestamp": _iso(datetime.now(UTC))},
    )
    assert response.status_code == 201
    stored = response.json()["wgs84"]
    assert stored["lat"] == pytest.approx(lat, abs=1e-7)
    assert stored["lng"] == pytest.approx(lng, abs=1e-7)


def test_bad_input(client: TestClient, squad: dict[str, Any]) -> None:
    for params in (
        {"lat": "abc", "lng": 9.5},
        {"lat": "nan", "lng": 9.5},
        {"lat": 47.1, "lng": "inf"},
        {"lat": 95, "lng": 9.5},
        {"lng": 9.5},
        {"lat": 47.1, "lng": 9.5, "crs": "mars-2"},
    ):
        response = client.get("/eta", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"] == "invalid_request"
    assert client.get("/eta", params={**VADUZ_CENTRE, "route": 987654321}).status_code == 404
    ping = {"lat": 47.1, "lng": 9.5, "timestamp": _iso(datetime.now(UTC))}
    unknown = client.post("/squads/987654321/positions", json=ping)
    assert unknown.status_code == 404 and "987654321" in unknown.json()["message"]
    for bad in (
        '{"lat": NaN, "lng": 9.5, "timestamp": "2024-01-01T00:00:00Z"}',
        '{"lat": 47.1, "lng": 1e400, "timestamp": "2024-01-01T00:00:00Z"}',
        '{"lat": 47.1, "lng": 9.5, "timestamp": "yesterday"}',
        '{"lat": 47.1, "lng": 9.5, "timestamp": "2024-01-01T00:00:00Z", "crs": "x"}',
    ):
        response = client.post(
            f"/squads/{squad['id']}/positions", content=bad, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, bad
    assert client.patch("/squads/987654321", json={"status": "busy"}).status_code == 404
    assert client.delete("/squads/987654321").status_code == 404
    assert client.get("/squads/987654321").status_code == 404


def test_scene_far_from_any_road_is_answered_with_the_distance(client: TestClient) -> None:
    response = client.get("/eta", params={"lat": 47.30, "lng": 9.75})  # Vorarlberg, ~20 km
    assert response.status_code == 200
    body = response.json()
    road = body["scene"]["road"]
    assert road["far_from_road"] is True and road["offroad_m"] > 5_000
    assert f"{road['offroad_m']:.0f} m" in body["scene"]["note"]
    assert all(math.isfinite(a["eta_s"]) for a in body["squads"])


def test_squad_crud_and_status_filter(client: TestClient, squad: dict[str, Any]) -> None:
    duplicate = client.post(
        "/squads", json={"code": squad["code"], "name": "again", "station": {"lat": 47.1, "lng": 9.5}}
    )
    assert duplicate.status_code == 409
    unknown_place = client.post(
        "/squads",
        json={
            "code": "SQ-NOWHERE",
            "name": "x",
            "jurisdiction": "NOPE",
            "station": {"lat": 47.1, "lng": 9.5},
        },
    )
    assert unknown_place.status_code == 422
    changed = client.patch(f"/squads/{squad['id']}", json={"status": "busy"})
    assert changed.status_code == 200 and changed.json()["status"] == "busy"
    ids = [
        a["squad"]["id"]
        for a in client.get("/eta", params={**VADUZ_CENTRE, "available_only": True}).json()["squads"]
    ]
    assert squad["id"] not in ids and ids
    moved = client.patch(f"/squads/{squad['id']}", json={"station": {"lat": 47.0660, "lng": 9.4990}})
    assert moved.json()["station_rule"] == "given"
    assert moved.json()["station"]["lat"] == pytest.approx(47.0660)
    assert client.delete(f"/squads/{squad['id']}").status_code == 204
    ids = [a["squad"]["id"] for a in client.get("/eta", params=VADUZ_CENTRE).json()["squads"]]
    assert squad["id"] not in ids


def test_squad_files_csv_and_geojson(tmp_path: Path) -> None:
    csv_file = tmp_path / "squads.csv"
    csv_file.write_text(
        "code,name,lat,lng,grid_codes,size,status\nNH-1,宁化城区中队,26.2625,116.6405,A;B,12,busy\n",
        encoding="utf-8",
    )
    records = read_squad_file(csv_file, crs="gcj02")
    assert records[0].grid_codes == ["A", "B"] and records[0].size == 12
    assert records[0].status == "busy"
    # GCJ-02 in the file -> WGS84 in the record: a few hundred metres apart in China.
    glng, glat = wgs84_to_gcj02(records[0].station.x, records[0].station.y)
    assert (float(glng), float(glat)) == pytest.approx((116.6405, 26.2625), abs=1e-7)
    geojson = tmp_path / "squads.geojson"
    geojson.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"geometry": {"type": "Point", "coordinates": [9.52, 47.14]}, '
        '"properties": {"code": "X", "name": "Y", "grid_codes": ["LI-VADUZ"]}}]}'
    )
    assert read_squad_file(geojson)[0].grid_codes == ["LI-VADUZ"]
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,lat,lng\nA,B,nan,9.5\n")
    from gridsvc.squads.service import SquadError

    with pytest.raises(SquadError, match="row 2"):
        read_squad_file(bad)
