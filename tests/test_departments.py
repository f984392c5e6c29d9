"""Departments as first-class units (issue 8 item 1), through the real app and PostGIS.

A county department has accounts of its own (role ``department``): its token sees only the
cases its department is responsible for (another department's are 404, for reads and actions
alike), signs for, arrives, handles (reply, photo) and returns them; an account limited to a
station (a grid of the department's specialist layer) or a township sees that area only; it
makes its own whistle 报到 / 到场 (the desk may still record them, marked as on its behalf);
and its webhook receives the notice of each case sent to it.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridsvc.cli import app as cli_app
from gridsvc.settings import get_settings
from tests.access_support import png
from tests.department_support import (
    MARKET_DELEGATED,
    as_,
    create_event,
    grid_at,
    market_matter,
    matter_of,
    quiet_spot,
    summon,
)
from tests.events_support import CallbackReceiver, free_port, wait_for
from tests.live_support import BUSY_TOWNS, act, get, start_server

pytestmark = pytest.mark.usefixtures("demo")


def new_case(client: TestClient, matter: str, where: dict[str, float], *, dispatch: bool = True) -> dict:
    created = client.post(
        "/events",
        json={"title": f"违法建设 {uuid.uuid4().hex[:6]}", "matter_code": matter, "location": where},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    if dispatch and body["state"] == "routed":
        assert client.post(f"/events/{body['id']}/actions/dispatch", json={}).status_code == 200
    return dict(body)


def listed(client: TestClient, token: str) -> set[int]:
    response = client.get("/events", params={"limit": 500}, headers=as_(token))
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["events"]}


async def test_a_department_signs_for_and_handles_its_case_another_department_gets_404(
    client: TestClient, make_token: Any, db: asyncpg.Connection
) -> None:
    housing = make_token("department", department_code="housing", display_name="县住建局")
    water = make_token("department", department_code="water")
    where = await quiet_spot(db)
    case = new_case(client, await matter_of(db, "housing"), where)
    event_id = case["id"]
    assert case["responsible"]["kind"] == "department" and case["responsible"]["code"] == "housing"

    # its own case is listed and readable; for another department it does not exist
    assert event_id in listed(client, housing)
    assert event_id not in listed(client, water)
    assert client.get(f"/events/{event_id}", headers=as_(housing)).status_code == 200
    for method, path, body in (
        ("GET", f"/events/{event_id}", None),
        ("POST", f"/events/{event_id}/actions/sign_for", {}),
        ("POST", f"/events/{event_id}/actions/return", {"note": "不归我们管"}),
        ("POST", f"/events/{event_id}/extensions", {"minutes": 60, "reason": "x"}),
        ("GET", f"/events/{event_id}/attachments", None),
        ("POST", f"/events/{event_id}/reporter/reveal", {}),
    ):
        refused = client.request(method, path, json=body, headers=as_(water))
        assert refused.status_code == 404, (path, refused.text)
        assert refused.json()["error"] == "not_found"
    assert (
        client.post(
            f"/events/{event_id}/attachments",
            files={"file": ("x.png", png(), "image/png")},
            headers=as_(water),
        ).status_code
        == 404
    )
    # every event a department lists is its own
    for other in client.get("/events", params={"limit": 500}, headers=as_(water)).json()["events"]:
        assert other["responsible_kind"] == "department" and other["responsible_code"] == "water"

    # 签收, 到场 with the phone's position, 处置 with a photo and the reply text
    def step(action: str, **body: Any) -> dict:
        done = client.post(f"/events/{event_id}/actions/{action}", json=body, headers=as_(housing))
        assert done.status_code == 200, done.text
        return dict(done.json())

    assert step("sign_for")["state"] == "signed_for"
    assert step("arrive", position=where)["state"] == "on_scene"
    photo = client.post(
        f"/events/{event_id}/attachments",
        files={"file": ("scene.png", png(), "image/png")},
        headers=as_(housing),
    )
    assert photo.status_code == 201, photo.text
    handled = step("handle", note="已责令停工，违建部分限期拆除。")
    assert handled["state"] == "handled"
    trail = {h["action"]: h for h in handled["history"]}
    for action in ("sign_for", "arrive", "handle", "attach"):
        assert trail[action]["actor"].startswith("department:"), trail[action]
    assert trail["arrive"]["data"]["position"]["lat"] == pytest.approx(where["lat"])
    assert trail["handle"]["note"] == "已责令停工，违建部分限期拆除。"
    # what stays with the desk: 核查 / 结案
    refused = client.post(f"/events/{event_id}/actions/verify", json={}, headers=as_(housing))
    assert refused.status_code == 403 and "department" in refused.json()["message"]


async def test_a_department_returns_a_case_with_a_reason(
    client: TestClient, make_token: Any, db: asyncpg.Connection
) -> None:
    housing = make_token("department", department_code="housing")
    case = new_case(client, await matter_of(db, "housing"), await quiet_spot(db))
    path = f"/events/{case['id']}/actions/return"
    missing = client.post(path, json={}, headers=as_(housing))
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "body.note"
    done = client.post(path, json={"note": "属地乡镇职责，非住建事项"}, headers=as_(housing))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "returned"
    back = next(h for h in done.json()["history"] if h["action"] == "return")
    assert back["note"] == "属地乡镇职责，非住建事项" and back["actor"].startswith("department:")


async def test_station_and_township_accounts_see_their_area_only(
    client: TestClient, make_token: Any, db: asyncpg.Connection
) -> None:
    # a market matter outside the townships that keep it on their list: the market department
    # handles it, at the station of its specialist grid there
    where = await quiet_spot(db, avoid=(*BUSY_TOWNS, *MARKET_DELEGATED))
    station = await grid_at(db, "specialist:market", where)
    township = await grid_at(db, "enforcement", where)
    other_station = await db.fetchval(
        "SELECT code FROM current_grids WHERE layer = 'specialist:market' AND code <> $1 "
        "ORDER BY code LIMIT 1",
        station,
    )
    other_township = await db.fetchval(
        "SELECT code FROM current_grids WHERE layer = 'enforcement' AND code LIKE 'LI-%' AND code <> $1 "
        "ORDER BY code LIMIT 1",
        township,
    )
    case = new_case(client, await market_matter(db), where)
    assert case["responsible"]["kind"] == "department" and case["responsible"]["code"] == "market"
    # the routing names the station that receives the case
    received_by = case["routing"]["responsible"]["station"]
    assert received_by["grid"] == station and received_by["layer"] == "specialist:market"
    assert received_by["name"] in case["routing"]["reason_zh"]

    county = make_token("department", department_code="market")
    at_station = make_token("department", department_code="market", station_codes=[station])
    in_town = make_token("department", department_code="market", township_codes=[township])
    elsewhere = make_token("department", department_code="market", station_codes=[other_station])
    other_town = make_token("department", department_code="market", township_codes=[other_township])
    for token in (county, at_station, in_town):
        assert case["id"] in listed(client, token)
        assert client.get(f"/events/{case['id']}", headers=as_(token)).status_code == 200
    for token in (elsewhere, other_town):
        assert case["id"] not in listed(client, token)
        assert client.get(f"/events/{case['id']}", headers=as_(token)).status_code == 404
        sign = client.post(f"/events/{case['id']}/actions/sign_for", json={}, headers=as_(token))
        assert sign.status_code == 404
    signed = client.post(f"/events/{case['id']}/actions/sign_for", json={}, headers=as_(at_station))
    assert signed.status_code == 200 and signed.json()["state"] == "signed_for"


def test_accounts_need_a_real_department_and_areas_of_its_own(client: TestClient) -> None:
    def create(**body: Any) -> Any:
        return client.post(
            "/users", json={"name": f"dept-{uuid.uuid4().hex[:8]}", "role": "department", **body}
        )

    assert "needs department" in create().json()["message"]
    assert "no department 'no_such_dept'" in create(department_code="no_such_dept").json()["message"]
    wrong = create(department_code="housing", station_codes=["LI-VADUZ"])
    assert wrong.status_code == 422 and "specialist:housing" in wrong.json()["message"]
    assert create(department_code="market", township_codes=["NOPE"]).status_code == 422
    taken = client.post("/users", json={"name": "x-op", "role": "operator", "department_code": "market"})
    assert taken.status_code == 422 and "takes no department" in taken.json()["message"]
    made = create(department_code="market", township_codes=["LI-PLANKEN"])
    assert made.status_code == 201, made.text
    user = made.json()["user"]
    assert user["department_code"] == "market" and user["township_codes"] == ["LI-PLANKEN"]
    me = client.get("/me", headers=as_(made.json()["token"]["token"])).json()
    assert me["role"] == "department" and me["department_code"] == "market"


def test_users_add_department_from_the_cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    name = f"cli-forestry-{uuid.uuid4().hex[:6]}"
    try:
        station = "LI-FOREST-VADUZ"
        added = runner.invoke(
            cli_app,
            ["users", "add", name, "--role", "department", "--department", "forestry", "--station", station],
        )
        assert added.exit_code == 0, added.output
        token = added.stdout.split("token: ")[1].split()[0]
        me = client.get("/me", headers=as_(token)).json()
        assert me["department_code"] == "forestry" and me["station_codes"] == [station]
        assert f"department forestry ({station})" in runner.invoke(cli_app, ["users", "list"]).stdout
        bad = runner.invoke(
            cli_app, ["users", "add", f"x{name}", "--role", "department", "--department", "nope"]
        )
        assert bad.exit_code == 2 and "no department 'nope'" in bad.output
        bad = runner.invoke(
            cli_app,
            [
                "users",
                "add",
                f"y{name}",
                "--role",
                "department",
                "--department",
                "forestry",
                "--station",
                "LI-VADUZ",
            ],
        )
        assert bad.exit_code == 2 and "specialist:forestry" in bad.output
    finally:
        get_settings.cache_clear()


async def test_whistle_ack_and_arrival_by_the_department_account(
    client: TestClient, make_token: Any, db: asyncpg.Connection
) -> None:
    housing = make_token("department", department_code="housing", name=f"zhujian-{uuid.uuid4().hex[:6]}")
    forestry = make_token("department", department_code="forestry")
    where = await quiet_spot(db)
    township = await grid_at(db, "enforcement", where)
    created = client.post(
        "/whistles",
        json={
            "township_code": township,
            "title": "违建拆除协调",
            "matter_code": await matter_of(db, "housing"),
            "location": where,
            "departments": ["housing", "water"],
        },
    )
    assert created.status_code == 201, created.text
    whistle_id = created.json()["id"]
    base = f"/whistles/{whistle_id}/departments"

    # the department sees the whistles summoning it; another department does not
    mine = client.get("/whistles", params={"open": "true"}, headers=as_(housing)).json()["whistles"]
    assert whistle_id in {w["id"] for w in mine}
    assert all(any(d["department"] == "housing" for d in w["departments"]) for w in mine)
    assert client.get(f"/whistles/{whistle_id}", headers=as_(housing)).status_code == 200
    assert client.get(f"/whistles/{whistle_id}", headers=as_(forestry)).status_code == 404
    others = client.get("/whistles", headers=as_(forestry)).json()["whistles"]
    assert whistle_id not in {w["id"] for w in others}
    # it answers for itself only
    for step in ("ack", "arrive"):
        assert client.post(f"{base}/water/{step}", json={}, headers=as_(housing)).status_code == 404
        assert client.post(f"{base}/housing/{step}", json={}, headers=as_(forestry)).status_code == 404

    ack = client.post(f"{base}/housing/ack", json={"note": "收到，马上出发"}, headers=as_(housing))
    assert ack.status_code == 200, ack.text
    assert ack.json()["done"]["on_behalf"] is False
    arrive = client.post(f"{base}/housing/arrive", json={"position": where}, headers=as_(housing))
    assert arrive.status_code == 200, arrive.text
    # the desk records the other department's 报到 (a phone call): marked as on its behalf
    assert client.post(f"{base}/water/ack", json={"note": "电话报到"}).json()["done"]["on_behalf"] is True

    view = client.get(f"/whistles/{whistle_id}").json()
    by = {d["department"]: d for d in view["departments"]}
    assert by["housing"]["status"] == "arrived"
    assert by["housing"]["ack"]["by"].startswith("department:zhujian-")
    assert by["housing"]["ack"]["on_behalf"] is False and by["housing"]["arrive"]["on_behalf"] is False
    assert by["water"]["ack"]["by"].startswith("admin:") and by["water"]["ack"]["on_behalf"] is True
    trail = client.get(f"/events/{view['event_id']}").json()["history"]
    steps = {
        (h["action"], h["data"].get("department")): h for h in trail if h["action"].startswith("whistle_")
    }
    assert steps[("whistle_ack", "housing")]["data"]["by_department"] == "housing"
    assert steps[("whistle_arrive", "housing")]["data"]["position"]["lat"] == pytest.approx(where["lat"])
    assert steps[("whistle_ack", "water")]["data"]["on_behalf_of"] == "water"
    assert steps[("whistle_ack", "water")]["data"]["on_behalf"] is True


async def test_a_department_webhook_receives_the_notices_of_its_cases_and_whistles(
    settings: Any, make_token: Any, db: asyncpg.Connection
) -> None:
    # Accounts other tests gave a webhook would be posted to as well: judge this one alone.
    await db.execute("UPDATE users SET webhook_url = NULL WHERE webhook_url IS NOT NULL")
    # Fan-outs queued by earlier tests (no worker ran them) would be run first and send this
    # account the dispatches and whistles of older housing cases ahead of its own: drop them.
    await db.execute("DELETE FROM pgqueuer WHERE entrypoint = 'notices.fanout'")  # (job queue)
    port = free_port()
    url = f"http://127.0.0.1:{port}/callbacks"
    housing = make_token("department", department_code="housing", webhook_url=url)
    make_token("department", department_code="water", webhook_url=url)  # not its case: no notice
    admin = make_token("admin")
    where = await quiet_spot(db)
    matter = await matter_of(db, "housing")
    server = start_server(settings, background_workers=True)
    try:
        secret = get(f"{server.url}/notices/secret", housing).json()["secret"]
        receiver = CallbackReceiver(port, secret)  # checks X-Signature with housing's secret
        receiver.start()
        try:
            event_id = create_event(server.url, admin, matter, where)
            act(server.url, admin, event_id, "dispatch")
            got = wait_for(
                lambda: [r for r in receiver.received if r["payload"]["event_id"] == event_id], timeout=30
            )
            assert len(got) == 1  # one recipient: the water department does not see the case
            notice = got[0]["payload"]
            assert notice["kind"] == "dispatched" and notice["inbox"] == "/inbox"
            assert (
                notice["responsible"]["kind"] == "department" and notice["responsible"]["code"] == "housing"
            )
            mine = get(f"{server.url}/notices?event_id={event_id}", housing).json()["notices"]
            assert [n["status"] for n in mine] == ["delivered"]

            # a whistle summoning the department tells it too (吹哨, with the due times)
            scene = await quiet_spot(db)
            summons = {
                "township_code": await grid_at(db, "enforcement", scene),
                "title": "违建拆除协调",
                "location": scene,
                "departments": ["housing", "emergency"],
            }
            whistle = summon(server.url, admin, summons)
            # (whistles of earlier tests summoning housing may be fanned out to it as well)
            got = wait_for(
                lambda: [
                    r
                    for r in receiver.received
                    if r["payload"]["kind"] == "whistle" and r["payload"]["event_id"] == whistle["event_id"]
                ],
                timeout=30,
            )
            assert len(got) == 1  # housing is summoned; water is not
            told = got[0]["payload"]
            assert told["kind_zh"] == "吹哨"
            assert told["whistle"]["whistle_id"] == whistle["id"]
            assert told["whistle"]["departments"] == ["housing", "emergency"]
            assert told["whistle"]["ack_due_at"] == whistle["departments"][0]["ack"]["due_at"]
        finally:
            receiver.stop()
    finally:
        server.__exit__()
