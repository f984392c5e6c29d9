"""Events end to end through the real app: intake, routing, lifecycle, SLA, duplicates."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gridsvc.calendar.worktime import deadline
from gridsvc.events import lifecycle
from gridsvc.events.sla import calendar_for, forget_calendars, stage_due
from gridsvc.grids.service import load_overlay
from gridsvc.matters.service import get_matter
from gridsvc.routing.service import route
from tests.checks import present
from tests.events_support import VADUZ, post_order

pytestmark = pytest.mark.usefixtures("demo")


async def free_spot(db: asyncpg.Connection, grid: str = "LI-VADUZ") -> dict:
    """A point inside ``grid`` more than 250 m from every event so far (no accidental 并单)."""
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 200)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = $1) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1",
        grid,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lat": row["lat"], "lng": row["lng"]}


def order_no() -> str:
    return f"T{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def secret(database_url: str, demo) -> str:  # noqa: ARG001 - demo creates it
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    finally:
        await connection.close()


async def matter_owned_by(db: asyncpg.Connection, owner: str, *, auto: bool | None = None) -> str:
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = $1 AND kind = 'event' "
        "AND ($2::boolean IS NULL OR auto_dispatch = $2) ORDER BY code LIMIT 1",
        owner,
        auto,
    )
    assert code is not None, f"demo catalogue has no event matter owned by {owner}"
    return code


def work_order(matter: str | None, location: dict | None = None, **extra) -> dict:
    order: dict[str, Any] = {
        "work_order_no": order_no(),
        "title": "测试工单",
        "content": "市民反映",
        "matter_code": matter,
    }
    if location is not None:
        order["location"] = location
    order.update(extra)
    return order


# -- routing ---------------------------------------------------------------------------


async def test_delegated_and_not_delegated_matters_at_the_same_point(client, db, secret):
    delegated = await matter_owned_by(db, "urban_management")
    kept = await matter_owned_by(db, "housing")
    squad_answer = post_order(client, secret, work_order(delegated, VADUZ)).json()
    department_answer = post_order(client, secret, work_order(kept, VADUZ)).json()

    assert squad_answer["responsible"]["kind"] == "squad"
    assert squad_answer["responsible"]["code"] == "LI-VADUZ"
    assert squad_answer["routing"]["rule"] == "delegated"
    assert squad_answer["routing"]["delegation"]["delegated"] is True
    assert department_answer["responsible"]["kind"] == "department"
    assert department_answer["responsible"]["code"] == "housing"
    assert department_answer["routing"]["rule"] == "not_delegated"
    assert "清单之外无执法" in department_answer["routing"]["reason_zh"]
    assert "赋权事项清单" in squad_answer["routing"]["reason_zh"]
    # Same place, same grids: only the list decided.
    assert (
        squad_answer["routing"]["grids"]["enforcement"]["code"]
        == department_answer["routing"]["grids"]["enforcement"]["code"]
        == "LI-VADUZ"
    )


async def test_withdrawn_delegation_changes_routing_from_its_date_only(client, db):
    matter_code = await matter_owned_by(db, "urban_management")
    current = await db.fetch(
        "SELECT i.matter_code FROM delegation_items i JOIN delegation_lists l ON l.id = i.list_id"
        " WHERE l.enforcement_code = 'LI-SCHAAN' AND l.effective_to IS NULL"
    )
    remaining = [r["matter_code"] for r in current if r["matter_code"] != matter_code]
    withdrawn_at = datetime.now(UTC) + timedelta(days=10)
    response = client.post(
        "/delegations",
        json={
            "enforcement_code": "LI-SCHAAN",
            "name": "沙恩 清单（收回一项）",
            "effective_from": withdrawn_at.isoformat(),
            "matter_codes": remaining,
        },
    )
    assert response.status_code in (200, 201), response.text
    overlay = await load_overlay(db)
    matter = await get_matter(db, code=matter_code)
    schaan = await db.fetchrow(
        "SELECT ST_X(ST_PointOnSurface(geom)) AS lng, "
        "ST_Y(ST_PointOnSurface(geom)) AS lat FROM current_grids "
        "WHERE layer = 'enforcement' AND code = 'LI-SCHAAN'"
    )
    before = await route(
        db,
        overlay=overlay,
        lng=schaan["lng"],
        lat=schaan["lat"],
        matter=matter,
        at=withdrawn_at - timedelta(seconds=1),
    )
    after = await route(
        db,
        overlay=overlay,
        lng=schaan["lng"],
        lat=schaan["lat"],
        matter=matter,
        at=withdrawn_at + timedelta(seconds=1),
    )
    assert (before.responsible_kind, before.responsible_code) == ("squad", "LI-SCHAAN")
    assert (after.responsible_kind, after.responsible_code) == ("department", "urban_management")
    assert present(after.delegation)["version"] == present(before.delegation)["version"] + 1
    assert present(after.delegation)["delegated"] is False


async def test_unknown_matter_outside_grids_and_address_only_are_stored_and_triaged(client, db, secret):
    unknown = post_order(client, secret, work_order("EV-99-99", VADUZ))
    xinluo_gcj02 = {"lat": 25.0760, "lng": 117.0330, "crs": "gcj02"}  # Longyan, Fujian
    outside = post_order(
        client, secret, work_order(await matter_owned_by(db, "urban_management"), xinluo_gcj02)
    )
    # The same unknown-place event placed by an operator somewhere still outside: stays queued.
    delegated = await matter_owned_by(db, "urban_management")
    address_only = post_order(client, secret, work_order(delegated, None, address="瓦杜兹某路口"))
    for response, rule in (
        (unknown, "unknown_matter"),
        (outside, "outside_grids"),
        (address_only, "no_location"),
    ):
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["responsible"]["kind"] == "triage"
        assert body["routing"]["rule"] == rule
        stored = await db.fetchrow("SELECT state, responsible_kind FROM events WHERE id = $1", body["id"])
        assert dict(stored) == {"state": "received", "responsible_kind": "triage"}
    triage = client.get("/events", params={"responsible_kind": "triage"}).json()["events"]
    assert {unknown.json()["id"], outside.json()["id"], address_only.json()["id"]} <= {
        e["id"] for e in triage
    }
    # The operator places the address-only event; the rules then route it.
    event_id = address_only.json()["id"]
    placed = client.post(
        f"/events/{event_id}/location", json={"location": VADUZ, "note": "回拨来电人确认位置"}
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["responsible_kind"] == "squad"
    assert placed.json()["responsible_code"] == "LI-VADUZ"
    assert placed.json()["history"][-2]["action"] == "locate" or "locate" in [
        h["action"] for h in placed.json()["history"]
    ]


async def test_gcj02_and_bd09_work_orders_land_where_wgs84_does(client, db, secret):
    from gridsvc.geo.crs import wgs84_to_bd09, wgs84_to_gcj02

    # Shenzhen Longgang has no grids, so compare the stored WGS84 points instead.
    lng, lat = 114.2470, 22.7210
    gx, gy = wgs84_to_gcj02(lng, lat)
    bx, by = wgs84_to_bd09(lng, lat)
    ids = []
    for location in (
        {"lat": float(gy), "lng": float(gx), "crs": "gcj02"},
        {"lat": float(by), "lng": float(bx), "crs": "bd09"},
    ):
        response = post_order(client, secret, work_order(None, location))
        assert response.status_code == 201
        ids.append(response.json()["id"])
    rows = await db.fetch(
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2),"
        " 4326)::geography) AS metres FROM events WHERE id = ANY($3)",
        lng,
        lat,
        ids,
    )
    assert all(r["metres"] < 0.5 for r in rows), [r["metres"] for r in rows]


# -- webhook security and bad input ------------------------------------------------


def test_webhook_refuses_bad_signature_stale_timestamp_and_bad_bodies(client, secret):
    order = work_order(None, VADUZ)
    bad_signature = post_order(client, secret, order, signature="sha256=" + "0" * 64)
    stale = post_order(client, secret, order, timestamp=int(time.time()) - 3600)
    future = post_order(client, secret, order, timestamp=int(time.time()) + 3600)
    wrong_integration = post_order(client, secret, order, integration="no-such-hotline")
    for response in (bad_signature, stale, future, wrong_integration):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorised"
    assert "signature" in bad_signature.json()["message"]
    assert "timestamp" in stale.json()["message"]

    from gridsvc.webhooks.signing import signed_headers

    malformed = b'{"work_order_no": "X1", "title": '
    response = client.post(
        "/webhooks/12345",
        content=malformed,
        headers=signed_headers(secret, malformed, integration="hotline-demo"),
    )
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"

    huge = b'{"work_order_no": "X2", "title": "t", "content": "' + b"x" * 70_000 + b'"}'
    response = client.post(
        "/webhooks/12345", content=huge, headers=signed_headers(secret, huge, integration="hotline-demo")
    )
    assert response.status_code == 413

    wrong_types = post_order(
        client, secret, {"work_order_no": 5, "title": "", "location": {"lat": 95, "lng": "east"}}
    )
    assert wrong_types.status_code == 422
    fields = {f["field"] for f in wrong_types.json()["fields"]}
    assert {"body.work_order_no", "body.title", "body.location.lat", "body.location.lng"} <= fields

    missing_headers = client.post("/webhooks/12345", json=order)
    assert missing_headers.status_code == 422


async def test_refused_deliveries_store_nothing(client, db, secret):
    order = work_order(None, VADUZ)
    post_order(client, secret, order, signature="sha256=" + "1" * 64)
    assert (
        await db.fetchval("SELECT count(*) FROM events WHERE external_id = $1", order["work_order_no"]) == 0
    )


async def test_fifty_concurrent_deliveries_make_one_event(client, db, secret):
    order = work_order(await matter_owned_by(db, "urban_management"), VADUZ)
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: post_order(client, secret, order), range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == 49, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert (
        await db.fetchval("SELECT count(*) FROM events WHERE external_id = $1", order["work_order_no"]) == 1
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions t JOIN events e ON e.id = t.event_id "
            "WHERE e.external_id = $1 AND t.action = 'receive'",
            order["work_order_no"],
        )
        == 1
    )


# -- lifecycle ---------------------------------------------------------------------


def drive(client, event_id: int, *actions: tuple[str, dict]) -> dict:
    body = {}
    for action, payload in actions:
        response = client.post(f"/events/{event_id}/actions/{action}", json=payload)
        assert response.status_code == 200, (action, response.text)
        body = response.json()
    return body


async def test_full_lifecycle_with_audit_trail_and_feedback(client, db, secret):
    matter = await matter_owned_by(db, "urban_management", auto=False)
    created = post_order(client, secret, work_order(matter, await free_spot(db))).json()
    assert created["state"] == "routed"
    event_id = created["id"]
    candidates = client.get(f"/events/{event_id}/candidates").json()
    assert candidates["recommended"]["serves_grid"] is True
    assert candidates["candidates"][0]["eta_s"] is not None
    final = drive(
        client,
        event_id,
        ("dispatch", {"squad_id": candidates["recommended"]["id"]}),
        ("sign_for", {}),
        ("arrive", {"position": VADUZ}),
        ("handle", {"note": "已劝离占道摊贩，现场恢复"}),
        ("verify", {}),
        ("close", {}),
    )
    assert final["state"] == "closed"
    assert [h["action"] for h in final["history"]] == [
        "receive",
        "route",
        "dispatch",
        "sign_for",
        "arrive",
        "handle",
        "verify",
        "close",
    ]
    assert [h["to_state"] for h in final["history"]][-1] == "closed"
    assert all(h["actor"] for h in final["history"])
    kinds = [
        r["kind"] for r in await db.fetch("SELECT kind FROM outbox WHERE event_id = $1 ORDER BY id", event_id)
    ]
    assert kinds == ["signed_for", "handled", "closed"]
    handled = await db.fetchval(
        "SELECT payload FROM outbox WHERE event_id = $1 AND kind = 'handled'", event_id
    )
    assert handled["text"] == "已劝离占道摊贩，现场恢复"
    assert handled["work_order_no"] == await db.fetchval(
        "SELECT external_id FROM events WHERE id = $1", event_id
    )


async def _event_in(client, db, secret, state: str) -> int:
    """An event brought to ``state`` through the API."""
    matter = await matter_owned_by(db, "urban_management", auto=False)
    if state == "received":
        return post_order(client, secret, work_order("EV-99-98", VADUZ)).json()["id"]
    event_id = post_order(client, secret, work_order(matter, await free_spot(db))).json()["id"]
    paths: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "routed": [],
        "dispatched": [("dispatch", {})],
        "signed_for": [("dispatch", {}), ("sign_for", {})],
        "on_scene": [("dispatch", {}), ("sign_for", {}), ("arrive", {})],
        "handled": [("dispatch", {}), ("sign_for", {}), ("arrive", {}), ("handle", {"note": "done"})],
        "verified": [
            ("dispatch", {}),
            ("sign_for", {}),
            ("arrive", {}),
            ("handle", {"note": "done"}),
            ("verify", {}),
        ],
        "closed": [
            ("dispatch", {}),
            ("sign_for", {}),
            ("arrive", {}),
            ("handle", {"note": "done"}),
            ("verify", {}),
            ("close", {}),
        ],
        "returned": [("dispatch", {}), ("return", {"note": "不属于本中队职责"})],
        "suspended": [("suspend", {"note": "需协调多部门，暂时挂账"})],
    }
    if paths[state]:
        assert drive(client, event_id, *paths[state])["state"] == state
    return event_id


@pytest.mark.parametrize("state", [s for s in lifecycle.STATES])
async def test_every_illegal_transition_is_refused_with_409(client, db, secret, state):
    event_id = await _event_in(client, db, secret, state)
    allowed = set(lifecycle.allowed_actions(state))
    for action in lifecycle.ACTIONS:
        if action in allowed:
            continue
        response = client.post(
            f"/events/{event_id}/actions/{action}",
            json={"note": "x", "target": {"kind": "department", "code": "housing"}},
        )
        assert response.status_code == 409, (state, action, response.text)
        body = response.json()
        assert body["state"] == state and set(body["allowed_actions"]) == allowed
        assert state in body["message"]
    assert await db.fetchval("SELECT state FROM events WHERE id = $1", event_id) == state


async def test_return_reroute_transfer_suspend_resume(client, db, secret):
    event_id = await _event_in(client, db, secret, "returned")
    assert (
        await db.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1 AND kind = 'returned'", event_id)
        == 1
    )
    rerouted = drive(
        client,
        event_id,
        (
            "route",
            {"target": {"kind": "department", "code": "housing", "name": "住建局"}, "note": "改由住建处理"},
        ),
    )
    assert rerouted["state"] == "routed" and rerouted["responsible_code"] == "housing"
    transferred = drive(
        client,
        event_id,
        ("transfer", {"target": {"kind": "department", "code": "ecology"}, "note": "涉及污染，改派生态环境"}),
    )
    assert transferred["state"] == "dispatched" and transferred["responsible_code"] == "ecology"
    parked = drive(client, event_id, ("suspend", {"note": "等待上级协调"}))
    assert parked["sla"]["stage"] == "sign_for"
    assert parked["due_at"] == transferred["due_at"]
    # Parked two hours ago, instead of waiting: the stored times move back together.
    await db.execute(
        "UPDATE events SET due_at = due_at - interval '2 hours', stage_started_at "
        "= stage_started_at - interval '2 hours' WHERE id = $1",
        event_id,
    )
    await db.execute(
        "UPDATE event_transitions SET at = at - interval '2 hours' "
        "WHERE event_id = $1 AND action = 'suspend'",
        event_id,
    )
    resumed = drive(client, event_id, ("resume", {}))
    assert resumed["state"] == "dispatched"
    # The clock stopped while parked and resumed with the time that was left: the deadline
    # moved two hours on (back to what it was when parked, give or take the test's seconds).
    assert abs(resumed["sla"]["time_left_s"] - parked["sla"]["time_left_s"]) <= 1
    shift = datetime.fromisoformat(resumed["due_at"]) - datetime.fromisoformat(parked["due_at"])
    assert abs(shift.total_seconds()) <= 5
    missing_reason = client.post(f"/events/{event_id}/actions/return", json={})
    assert missing_reason.status_code == 422
    assert missing_reason.json()["fields"][0]["field"] == "body.note"


def test_unknown_event_and_action(client):
    assert client.get("/events/999999999").status_code == 404
    assert client.post("/events/999999999/actions/sign_for", json={}).status_code == 404
    assert client.post("/events/1/actions/teleport", json={}).status_code == 404


# -- SLA -----------------------------------------------------------------------------


async def test_sla_deadlines_skip_weekend_and_holiday(client, db, settings):
    # Friday 2026-12-04 16:00 in Vaduz; Monday 2026-12-07 made a holiday for LI.
    for day in ("2026-12-07",):
        response = client.put(f"/calendar/LI/{day}", json={"working": False, "name": "测试假日"})
        assert response.status_code in (200, 201), response.text
    forget_calendars()
    calendar = await calendar_for(db, jurisdiction_code="LI")
    from zoneinfo import ZoneInfo

    friday = datetime(2026, 12, 4, 16, 0, tzinfo=ZoneInfo("Europe/Vaduz"))
    due = deadline(friday, 1, "working_days", calendar)
    assert due.astimezone(ZoneInfo("Europe/Vaduz")) == datetime(
        2026, 12, 8, 16, 0, tzinfo=ZoneInfo("Europe/Vaduz")
    )
    # Clock-hour stages ignore the calendar: sign-for is due 30 minutes later, weekend or not.
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=ZoneInfo("Europe/Vaduz"))
    assert stage_due(
        stage="sign_for", start=saturday, calendar=calendar, settings=settings, handle_due_at=None
    ) == saturday + timedelta(minutes=30)


async def test_time_left_is_part_of_every_view_and_overdue_is_escalated(client, db, secret, settings):
    from gridsvc.duban.flows import escalate

    async def escalate_overdue(connection):
        return await escalate(connection, default_levels=settings.duban_levels, event_id=event_id)

    event_id = await _event_in(client, db, secret, "dispatched")
    view = client.get(f"/events/{event_id}").json()
    assert view["sla"]["stage"] == "sign_for"
    assert 0 < view["sla"]["time_left_s"] <= 30 * 60
    assert view["sla"]["status"] in {"on_time", "due_soon"}
    # Let the sign-for deadline pass (as if 31 minutes went by).
    await db.execute(
        "UPDATE events SET due_at = now() - interval '1 minute', "
        "stage_started_at = now() - interval '31 minutes' WHERE id = $1",
        event_id,
    )
    assert await escalate_overdue(db) >= 1
    assert await escalate_overdue(db) == 0  # raised once per stage and deadline, not again
    assert await db.fetchval("SELECT count(*) FROM escalations WHERE event_id = $1", event_id) == 1
    view = client.get(f"/events/{event_id}").json()
    assert view["sla"]["status"] == "overdue" and view["sla"]["time_left_s"] < 0
    assert view["history"][-1]["action"] == "escalate"
    assert event_id in {e["id"] for e in client.get("/events", params={"overdue": True}).json()["events"]}


async def test_extension_moves_the_deadline_only_when_approved(client, db, secret):
    event_id = await _event_in(client, db, secret, "signed_for")
    before = client.get(f"/events/{event_id}").json()["due_at"]
    ask = client.post(f"/events/{event_id}/extensions", json={"minutes": 60, "reason": "道路封闭，绕行"})
    assert ask.status_code == 201
    refused = client.post(
        f"/events/{event_id}/extensions/{ask.json()['id']}/decision", json={"approved": False}
    )
    assert refused.json()["due_at"] == before
    again = client.post(f"/events/{event_id}/extensions/{ask.json()['id']}/decision", json={"approved": True})
    assert again.status_code == 409
    second = client.post(f"/events/{event_id}/extensions", json={"minutes": 60, "reason": "再延"})
    approved = client.post(
        f"/events/{event_id}/extensions/{second.json()['id']}/decision", json={"approved": True}
    ).json()
    moved = datetime.fromisoformat(approved["due_at"]) - datetime.fromisoformat(before)
    assert moved == timedelta(minutes=60)


# -- duplicates (并单) -----------------------------------------------------------------


async def test_nearby_same_matter_is_offered_confirmed_and_follows_its_master(client, db, secret):
    matter = await matter_owned_by(db, "urban_management", auto=False)
    spot = await free_spot(db, "LI-BALZERS")
    first = post_order(client, secret, work_order(matter, spot)).json()
    near = {"lat": spot["lat"] + 0.0003, "lng": spot["lng"]}  # about 33 m north
    second = post_order(client, secret, work_order(matter, near)).json()
    far = await free_spot(db, "LI-BALZERS")
    third = post_order(client, secret, work_order(matter, far)).json()
    # Offered, not linked: the operator confirms.
    assert second["duplicate_of"] is None
    offered = client.get(f"/events/{second['id']}").json()["duplicate_candidates"]
    assert [c["event_id"] for c in offered] == [first["id"]]
    assert client.get(f"/events/{third['id']}").json()["duplicate_candidates"] == []
    linked = client.post(f"/events/{second['id']}/duplicate_of", json={"event_id": first["id"]})
    assert linked.status_code == 200, linked.text
    assert linked.json()["duplicate_of"] == first["id"]
    drive(client, first["id"], ("dispatch", {}))
    follower = client.get(f"/events/{second['id']}").json()
    assert follower["state"] == "routed"  # dispatch alone moves nobody else
    drive(client, first["id"], ("sign_for", {}))
    follower = client.get(f"/events/{second['id']}").json()
    assert follower["state"] == "signed_for"
    assert follower["squad_id"] == client.get(f"/events/{first['id']}").json()["squad_id"]
    drive(client, first["id"], ("arrive", {}), ("handle", {"note": "已处理"}))
    follower = client.get(f"/events/{second['id']}").json()
    assert follower["state"] == "handled"
    assert [h["action"] for h in follower["history"]][-4:] == ["dispatch", "sign_for", "arrive", "handle"]
    feedback = await db.fetch(
        "SELECT event_id, kind FROM outbox WHERE event_id = ANY($1) AND kind = 'handled'",
        [first["id"], second["id"]],
    )
    assert {r["event_id"] for r in feedback} == {first["id"], second["id"]}
    unlinked = client.delete(f"/events/{second['id']}/duplicate_of", params={"note": "并非同一事件"})
    assert unlinked.status_code == 200 and unlinked.json()["duplicate_of"] is None
    assert client.delete(f"/events/{second['id']}/duplicate_of").status_code == 409


def test_operator_and_patrol_events(client):
    created = client.post(
        "/events",
        json={"source": "patrol", "title": "巡查发现乱堆物料", "location": VADUZ, "matter_code": "EV-99-97"},
    )
    assert created.status_code == 201
    assert created.json()["responsible"]["kind"] == "triage"
    bad = client.post("/events", json={"title": "", "location": {"lat": 200, "lng": 9}})
    assert bad.status_code == 422
    assert {"body.title", "body.location.lat"} <= {f["field"] for f in bad.json()["fields"]}
    bad_crs = client.post("/events", json={"title": "x", "location": {**VADUZ, "crs": "mars2"}})
    assert bad_crs.status_code == 422 and bad_crs.json()["fields"][0]["field"] == "body.location.crs"


async def test_closed_today_counts_from_the_county_midnight(client, db, secret):
    from zoneinfo import ZoneInfo

    from gridsvc.events.supervision import counters

    event_id = await _event_in(client, db, secret, "closed")
    vaduz_midnight = datetime.now(ZoneInfo("Europe/Vaduz")).replace(hour=0, minute=0, second=0, microsecond=0)
    # Closed just after the county's midnight: today there, whatever the server's zone.
    await db.execute(
        "UPDATE events SET closed_at = $2 WHERE id = $1", event_id, vaduz_midnight + timedelta(minutes=1)
    )
    with_event = (await counters(db, timezone="Europe/Vaduz"))["closed_today"]
    await db.execute(
        "UPDATE events SET closed_at = $2 WHERE id = $1", event_id, vaduz_midnight - timedelta(minutes=1)
    )
    without = (await counters(db, timezone="Europe/Vaduz"))["closed_today"]
    assert with_event == without + 1
    assert (await counters(db))["closed_today"] == without  # LI's zone is the default here
