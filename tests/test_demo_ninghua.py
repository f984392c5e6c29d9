"""The demo's second county, Ninghua (350424): one centre dispatches for two counties.

Everything here runs on the session demo (tests/conftest.py ``demo``), the way
``gridsvc up`` builds it: Liechtenstein and the Ninghua county seat under its real GCJ-02
county boundary, with its own road network, squads, grids, delegation lists and calendar.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from gridsvc.demo.build import demo_is_loaded
from gridsvc.demo.ninghua import NINGHUA
from gridsvc.geo.crs import gcj02_to_wgs84
from gridsvc.live.demo import DemoFeed
from gridsvc.settings import Settings
from tests.test_roads_jurisdictions import assert_matches_networkx

pytestmark = pytest.mark.usefixtures("demo")


async def delegated_matter(db: asyncpg.Connection) -> str:
    code: str | None = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = 'urban_management' AND kind = 'event' "
        "AND NOT auto_dispatch ORDER BY code LIMIT 1"
    )
    assert code is not None
    return code


async def free_spot(db: asyncpg.Connection, grid: str) -> dict[str, float]:
    """A point of ``grid`` more than 150 m from every event so far (no 并单 candidates)."""
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 300)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = $1) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 150)) LIMIT 1",
        grid,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lng": row["lng"], "lat": row["lat"]}


def ninghua_network(client: TestClient) -> int:
    rows = client.get("/roads/networks").json()
    ids = [n["id"] for n in rows if n.get("jurisdiction") == NINGHUA]
    assert len(ids) == 1, rows
    return int(ids[0])


def assert_routed_to_ninghua(client: TestClient, event: dict[str, Any]) -> dict[str, Any]:
    """The event is Ninghua's, its squad is a Ninghua squad, and the candidate's ETA is the
    /eta answer on the Ninghua network, which equals networkx on that network."""
    assert event["state"] == "routed", event
    assert event["grids"]["enforcement"]["code"].startswith("NH-")
    assert event["responsible_kind"] == "squad"
    ranked = client.get(f"/events/{event['id']}/candidates").json()
    recommended = ranked["recommended"]
    assert recommended["code"].startswith("SQ-NH-") and recommended["serves_grid"]
    scene = {"lng": event["lng"], "lat": event["lat"]}
    eta = client.get("/eta", params=scene).json()
    assert eta["road_network_id"] == ninghua_network(client)
    # Only Ninghua's squads are on Ninghua's network; Liechtenstein's get no ETA here.
    assert {a["squad"]["code"][:6] for a in eta["squads"]} == {"SQ-NH-"}
    mine = next(a for a in eta["squads"] if a["squad"]["code"] == recommended["code"])
    assert recommended["eta_s"] == pytest.approx(mine["eta_s"], abs=0.01)
    assert_matches_networkx(client, eta, scene)
    assert all(c["eta_s"] is None for c in ranked["candidates"] if c["code"].startswith("SQ-LI-"))
    return recommended


async def test_ninghua_is_a_county_with_grids_squads_roads_and_lists(db, settings: Settings):
    county = await db.fetchrow(
        "SELECT id, timezone, ST_AsGeoJSON(boundary) AS b FROM jurisdictions WHERE code = $1", NINGHUA
    )
    assert county is not None and county["timezone"] == "Asia/Shanghai"
    # The boundary in the database is the file's GCJ-02 polygon converted to WGS84: never mixed.
    features = json.loads(settings.county_boundaries.read_text(encoding="utf-8"))["features"]
    raw = shape(next(f for f in features if f["properties"]["adcode"] == NINGHUA)["geometry"])
    stored = shape(json.loads(county["b"]))
    converted = shapely.transform(raw, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
    assert stored.symmetric_difference(converted).area < 1e-4 * converted.area
    assert raw.symmetric_difference(converted).area > 1e-3 * converted.area  # offsets of ~500 m
    towns = await db.fetch(
        "SELECT code, timezone FROM jurisdictions WHERE parent_id = $1 ORDER BY code", county["id"]
    )
    assert [t["code"] for t in towns] == ["NH-CHENGJIAO", "NH-CUIJIANG"]
    assert {t["timezone"] for t in towns} == {"Asia/Shanghai"}
    grids = await db.fetch(
        "SELECT layer, code, ST_Within(geom, (SELECT boundary FROM jurisdictions WHERE id = $1)) AS inside "
        "FROM current_grids WHERE jurisdiction_id = $1",
        county["id"],
    )
    layers = {g["layer"] for g in grids}
    assert layers == {"enforcement", "community"}
    assert all(g["inside"] for g in grids)
    # community grids tile the townships: their areas add up
    sums = await db.fetchrow(
        "SELECT sum(ST_Area(geom::geography)) FILTER (WHERE layer = 'enforcement') AS towns, "
        "sum(ST_Area(geom::geography)) FILTER (WHERE layer = 'community') AS communities "
        "FROM current_grids WHERE jurisdiction_id = $1",
        county["id"],
    )
    assert sums["communities"] == pytest.approx(sums["towns"], rel=0.01)
    squads = await db.fetch(
        "SELECT s.code, s.station_rule FROM squads s JOIN jurisdictions j ON j.id = s.jurisdiction_id "
        "WHERE j.code = $1 ORDER BY s.code",
        NINGHUA,
    )
    assert [s["code"] for s in squads] == ["SQ-NH-CHENGJIAO", "SQ-NH-CUIJIANG"]
    assert all(s["station_rule"] in ("osm:townhall", "centroid_snapped") for s in squads)
    listed = await db.fetchval(
        "SELECT count(DISTINCT enforcement_code) FROM delegation_lists WHERE enforcement_code LIKE 'NH-%'"
    )
    assert listed == 2
    network = await db.fetchval(
        "SELECT count(*) FROM road_networks n JOIN jurisdictions j ON j.id = n.jurisdiction_id "
        "WHERE j.code = $1 AND n.is_current",
        NINGHUA,
    )
    assert network == 1
    assert await demo_is_loaded(db)


async def test_the_calendar_applies_to_ninghua(client: TestClient):
    days = client.get("/calendar", params={"jurisdiction": NINGHUA, "year": 2026})
    assert days.status_code == 200, days.text
    holidays = {d["day"] for d in days.json() if not d["working"]}
    assert "2026-10-01" in holidays  # 国庆节


async def test_a_ninghua_work_order_by_point_is_dispatched_over_ninghua_roads(client, db):
    spot = await free_spot(db, "NH-CHENGJIAO")
    created = client.post(
        "/events",
        json={"title": "宁化占道经营", "location": spot, "matter_code": await delegated_matter(db)},
    )
    assert created.status_code == 201, created.text
    event = client.get(f"/events/{created.json()['id']}").json()
    assert_routed_to_ninghua(client, event)


async def test_a_ninghua_address_only_work_order_is_located_and_routed(client, db, settings: Settings):
    answer = client.get("/geocode", params={"q": "宁化县北大街4号"}).json()
    assert answer["located"] and answer["candidates"][0]["jurisdiction"] == NINGHUA
    liechtenstein = client.get("/geocode", params={"q": "Städtle 1, Vaduz"}).json()
    assert liechtenstein["candidates"][0]["jurisdiction"] == "LI"
    created = client.post(
        "/events",
        json={
            "title": "宁化地址工单",
            "address": "宁化县北大街4号",
            "matter_code": await delegated_matter(db),
        },
    )
    assert created.status_code == 201, created.text
    event = client.get(f"/events/{created.json()['id']}").json()
    assert event["lng"] is not None, event["history"]
    assert_routed_to_ninghua(client, event)


async def test_a_grid_head_sees_only_their_county_and_an_operator_sees_both(
    client, db, field_token, make_token
):
    matter = await delegated_matter(db)
    spot = await free_spot(db, "NH-CUIJIANG")
    ninghua = client.post("/events", json={"title": "宁化", "location": spot, "matter_code": matter})
    vaduz = await free_spot(db, "LI-VADUZ")
    li = client.post("/events", json={"title": "瓦杜兹", "location": vaduz, "matter_code": matter})
    assert ninghua.status_code == 201 and li.status_code == 201
    nh_event = client.get(f"/events/{ninghua.json()['id']}").json()
    nh_grid = nh_event["grids"]["community"]["code"]
    assert nh_grid.startswith("NH-CUIJIANG-")
    li_head = {"Authorization": f"Bearer {field_token('grid_head', grid_codes=['LI-VADUZ-01'])}"}
    nh_head = {"Authorization": f"Bearer {field_token('grid_head', grid_codes=[nh_grid])}"}
    operator = {"Authorization": f"Bearer {make_token('operator')}"}
    assert client.get(f"/events/{nh_event['id']}", headers=li_head).status_code == 404
    assert client.get(f"/events/{nh_event['id']}", headers=nh_head).status_code == 200
    li_list = {
        e["id"] for e in client.get("/events", headers=li_head, params={"limit": 500}).json()["events"]
    }
    assert nh_event["id"] not in li_list
    seen = {e["id"] for e in client.get("/events", headers=operator, params={"limit": 500}).json()["events"]}
    assert {nh_event["id"], li.json()["id"]} <= seen


async def test_up_rebuilds_a_demo_without_ninghua(rollback: asyncpg.Connection) -> None:
    """``scripts/up.sh`` ends in ``gridsvc up``, which builds the demo unless both counties
    are loaded: a database with only Liechtenstein's layers is rebuilt."""
    assert await demo_is_loaded(rollback)
    await rollback.execute(
        "DELETE FROM layers WHERE jurisdiction_id = (SELECT id FROM jurisdictions WHERE code = $1)", NINGHUA
    )
    assert not await demo_is_loaded(rollback)


async def test_the_up_feed_posts_work_orders_in_both_counties(database_url: str) -> None:
    """`gridsvc up`'s background feed takes its batches of work orders from each county in turn."""
    feed = DemoFeed(base_url="http://127.0.0.1:9", database_url=database_url, rate=1.0, token="unused")
    counties = []
    for _ in range(2):
        placed = [o["location"] for o in await feed._orders() if o.get("location")]
        assert placed
        counties.append({"LI" if p["lng"] < 30 else NINGHUA for p in placed})
    assert counties == [{"LI"}, {NINGHUA}]
