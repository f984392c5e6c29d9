"""Whistles (镇街吹哨、部门报到) end to end through the real app and the real database.

Time cannot be mocked in the database, so lateness is made by moving due times (or whole
whistles) into the past with SQL, as if the minutes had gone by.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from gridsvc.geo.crs import wgs84_to_gcj02
from gridsvc.whistles.service import awaiting_ack_count
from tests.auth_support import issue_token

pytestmark = pytest.mark.usefixtures("demo")

# The duty officer's Authorization header (an operator account, made once for the module);
# the audit trail names them "operator:vaduz-duty-officer".
ACTOR: dict[str, str] = {}
ACTOR_NAME = "operator:vaduz-duty-officer"


@pytest.fixture(scope="module", autouse=True)
def duty_officer(database_url: str) -> None:
    token = issue_token(database_url, "operator", name="vaduz-duty-officer")
    ACTOR["Authorization"] = f"Bearer {token}"


async def free_spot(db: asyncpg.Connection, grid: str = "LI-VADUZ") -> dict:
    """A WGS84 point inside ``grid`` more than 250 m from every event (no accidental 并单)."""
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 200)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = $1) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1",
        grid,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lat": row["lat"], "lng": row["lng"]}


async def housing_matter(db: asyncpg.Connection) -> str:
    """A matter the townships keep no delegation for: the rules route it to a department."""
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = 'housing' "
        "AND kind = 'event' AND NOT auto_dispatch ORDER BY code LIMIT 1"
    )
    assert code is not None
    return code


async def summon(client, db, departments: list[str], *, township: str = "LI-VADUZ", **extra) -> dict:
    body = {
        "township_code": township,
        "title": f"违建拆除协调 {uuid.uuid4().hex[:6]}",
        "description": "镇街吹哨：违法建设涉及多部门",
        "location": await free_spot(db, township),
        "matter_code": await housing_matter(db),
        "departments": departments,
        **extra,
    }
    response = client.post("/whistles", json=body, headers=ACTOR)
    assert response.status_code == 201, response.text
    return response.json()


def act(
    client, whistle_id: int, department: str, step: str, body: dict | None = None, status: int = 200
) -> dict:
    response = client.post(
        f"/whistles/{whistle_id}/departments/{department}/{step}", json=body, headers=ACTOR
    )
    assert response.status_code == status, (step, department, response.text)
    return response.json()


async def make_due_pass(
    db: asyncpg.Connection, whistle_id: int, department: str, *, ack: bool = False, arrive: bool = False
) -> None:
    """As if the department's 报到 (and/or 到场) time limit had run out a minute ago."""
    if ack:
        await db.execute(
            "UPDATE whistle_attendance SET ack_due_at = now() - interval '1 minute' "
            "WHERE whistle_id = $1 AND department = $2",
            whistle_id,
            department,
        )
    if arrive:
        await db.execute(
            "UPDATE whistle_attendance SET arrive_due_at = now() - interval "
            "'1 minute' WHERE whistle_id = $1 AND department = $2",
            whistle_id,
            department,
        )


async def move_whistle(db: asyncpg.Connection, whistle_id: int, summoned_at: datetime) -> None:
    """Move a whole whistle in time: every time of it keeps its distance from the summons."""
    async with db.transaction():
        delta = await db.fetchval(
            "SELECT $2::timestamptz - summoned_at FROM whistles WHERE id = $1", whistle_id, summoned_at
        )
        await db.execute(
            "UPDATE whistle_attendance SET ack_due_at = ack_due_at + $2, "
            "arrive_due_at = arrive_due_at + $2, acknowledged_at = acknowledged_at + $2, "
            "arrived_at = arrived_at + $2 WHERE whistle_id = $1",
            whistle_id,
            delta,
        )
        await db.execute("UPDATE whistles SET summoned_at = $2 WHERE id = $1", whistle_id, summoned_at)


def close_event(client, event_id: int) -> None:
    state = client.get(f"/events/{event_id}").json()["state"]
    path = ["dispatch", "sign_for", "arrive", "handle", "verify", "close"]
    start = {"routed": 0, "dispatched": 1}[state]
    for action in path[start:]:
        response = client.post(
            f"/events/{event_id}/actions/{action}", json={"note": "已联合处置"} if action == "handle" else {}
        )
        assert response.status_code == 200, (action, response.text)


# -- summons -------------------------------------------------------------------------


async def test_summons_creates_a_routed_whistle_event_and_attendance_with_due_times(client, db):
    body = await summon(
        client, db, ["housing", "natural_resources", "urban_management"], ack_minutes=15, arrive_minutes=45
    )
    event = await db.fetchrow(
        "SELECT source, state, responsible_kind, responsible_code, received_at FROM events WHERE id = $1",
        body["event_id"],
    )
    assert event["source"] == "whistle"
    assert event["state"] == "routed"
    assert (event["responsible_kind"], event["responsible_code"]) == ("department", "housing")
    assert body["event"]["routing"]["rule"] == "not_delegated"
    whistle = await db.fetchrow("SELECT * FROM whistles WHERE id = $1", body["id"])
    assert whistle["event_id"] == body["event_id"] and whistle["township_code"] == "LI-VADUZ"
    assert whistle["summoned_by"] == ACTOR_NAME
    assert abs(whistle["summoned_at"] - event["received_at"]) < timedelta(seconds=5)
    rows = await db.fetch(
        "SELECT * FROM whistle_attendance WHERE whistle_id = $1 ORDER BY department", body["id"]
    )
    assert [r["department"] for r in rows] == ["housing", "natural_resources", "urban_management"]
    for row in rows:
        assert row["ack_due_at"] == whistle["summoned_at"] + timedelta(minutes=15)
        assert row["arrive_due_at"] == whistle["summoned_at"] + timedelta(minutes=45)
        assert row["acknowledged_at"] is None and row["arrived_at"] is None
    trail = await db.fetch(
        "SELECT actor, action, note, data FROM event_transitions WHERE event_id = $1 ORDER BY id",
        body["event_id"],
    )
    assert [t["action"] for t in trail] == ["receive", "route", "whistle"]
    assert trail[-1]["actor"] == ACTOR_NAME
    # the audit lines in Chinese with names (the routing reason too), the codes kept in data
    names = await db.fetch(
        "SELECT coalesce(name_zh, name) AS name FROM departments WHERE code = ANY($1::text[]) ORDER BY code",
        ["housing", "natural_resources", "urban_management"],
    )
    town = body["township_name"]
    assert (
        town != "LI-VADUZ"
        and trail[-1]["note"] == f"吹哨：{town}召集{'、'.join(r['name'] for r in names)}报到"
    )
    assert trail[-1]["data"]["say"]["code"] == "whistle"
    assert trail[1]["note"] == body["event"]["routing"]["reason_zh"] and "清单之外无执法" in trail[1]["note"]
    assert trail[1]["data"]["say"] == body["event"]["routing"]["why"]
    assert trail[-1]["data"]["departments"] == ["housing", "natural_resources", "urban_management"]
    assert trail[-1]["data"]["whistle_id"] == body["id"]
    # The answer shows every department waiting for 报到, with the time left.
    assert body["counts"] == {"summoned": 3, "acknowledged": 0, "arrived": 0, "awaiting_ack": 3, "overdue": 0}
    for department in body["departments"]:
        assert department["status"] == "awaiting_ack" and department["overdue"] is False
        assert 14 * 60 < department["time_left_s"] <= 15 * 60
    # The event view carries the whistle in its audit trail.
    history = client.get(f"/events/{body['event_id']}").json()["history"]
    assert history[-1]["action"] == "whistle"


async def test_default_limits_summoner_and_scene_crs(client, db):
    # (Outside mainland China GCJ-02 is WGS84 itself: here only the bookkeeping can be checked.)
    spot = await free_spot(db)
    gx, gy = wgs84_to_gcj02(spot["lng"], spot["lat"])
    response = client.post(
        "/whistles",
        headers=ACTOR,
        json={
            "township_code": "LI-VADUZ",
            "title": "占道经营联合整治",
            "departments": ["market"],
            "location": {"lat": float(gy), "lng": float(gx), "crs": "gcj02"},
            "summoned_by": "瓦杜兹镇综治中心",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["summoned_by"] == "瓦杜兹镇综治中心"
    assert (body["ack_minutes"], body["arrive_minutes"]) == (30, 120)
    row = await db.fetchrow(
        "SELECT a.ack_due_at - w.summoned_at AS ack, a.arrive_due_at - w.summoned_at AS arrive, "
        "ST_Distance(e.geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) AS m, "
        "e.source_crs, e.source_lng, e.source_lat FROM whistles w "
        "JOIN whistle_attendance a ON a.whistle_id = w.id "
        "JOIN events e ON e.id = w.event_id WHERE w.id = $1",
        body["id"],
        spot["lng"],
        spot["lat"],
    )
    assert row["ack"] == timedelta(minutes=30) and row["arrive"] == timedelta(minutes=120)
    assert row["m"] < 0.5 and row["source_crs"] == "gcj02"
    assert (row["source_lng"], row["source_lat"]) == (float(gx), float(gy))
    # No matter given: stored and queued for an operator, like any event of unknown matter.
    assert body["event"]["responsible_kind"] == "triage"


async def test_bad_bodies_are_refused_naming_the_field_and_store_nothing(client, db):
    spot = await free_spot(db)
    good: dict[str, Any] = {
        "township_code": "LI-VADUZ",
        "title": "联合执法",
        "location": spot,
        "departments": ["housing", "ecology"],
    }
    schaan = await free_spot(db, "LI-SCHAAN")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"departments": []}, "body.departments"),
        ({"departments": None}, "body.departments"),
        ({"departments": ["housing", "ecology", "housing"]}, "body.departments"),
        ({"departments": ["housing", "no_such_department"]}, "body.departments.1"),
        ({"departments": ["Housing Bureau"]}, "body.departments.0"),
        ({"location": {"lat": 95, "lng": spot["lng"]}}, "body.location.lat"),
        ({"location": {**spot, "crs": "mars2"}}, "body.location.crs"),
        ({"location": schaan}, "body.location"),
        ({"township_code": "LI-NOWHERE"}, "body.township_code"),
        ({"matter_code": "EV-99-99"}, "body.matter_code"),
        ({"ack_minutes": 0}, "body.ack_minutes"),
        ({"ack_minutes": 60, "arrive_minutes": 30}, "body.arrive_minutes"),
        ({"title": ""}, "body.title"),
    ]
    before = await db.fetchval("SELECT count(*) FROM events WHERE source = 'whistle'")
    for change, field in cases:
        response = client.post("/whistles", json={**good, **change})
        assert response.status_code == 422, (change, response.text)
        fields = [f["field"] for f in response.json()["fields"]]
        assert field in fields, (change, fields)
    duplicated = client.post("/whistles", json={**good, "departments": ["ecology", "ecology"]})
    assert "ecology" in duplicated.json()["message"]
    outside = client.post("/whistles", json={**good, "location": schaan}).json()
    assert "LI-SCHAAN" in outside["message"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE source = 'whistle'") == before


async def test_event_whistle_and_attendance_are_one_transaction(client, db):
    title = f"原子性 {uuid.uuid4().hex[:8]}"
    spot = await free_spot(db)
    # Make the attendance insert fail after the event was created and routed.
    await db.execute(
        "ALTER TABLE whistle_attendance ADD CONSTRAINT test_refuse_fire "
        "CHECK (department <> 'fire_rescue') NOT VALID"
    )
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            client.post(
                "/whistles",
                json={
                    "township_code": "LI-VADUZ",
                    "title": title,
                    "location": spot,
                    "departments": ["housing", "fire_rescue"],
                },
            )
    finally:
        await db.execute("ALTER TABLE whistle_attendance DROP CONSTRAINT test_refuse_fire")
    assert await db.fetchval("SELECT count(*) FROM events WHERE title = $1", title) == 0


# -- 报到 and 到场 ---------------------------------------------------------------------


async def test_ack_and_arrive_on_time_and_late_with_audit_trail(client, db):
    body = await summon(client, db, ["ecology", "housing", "water"])
    whistle_id, event_id = body["id"], body["event_id"]

    on_time = act(client, whistle_id, "ecology", "ack", {"note": "生态环境局张三，20分钟到"})
    assert on_time["done"]["on_time"] is True and on_time["done"]["late"] is False
    row = await db.fetchrow(
        "SELECT acknowledged_at, acknowledged_by, ack_note, ack_due_at FROM "
        "whistle_attendance WHERE whistle_id = $1 AND department = 'ecology'",
        whistle_id,
    )
    assert row["acknowledged_by"] == ACTOR_NAME and row["ack_note"].startswith("生态环境局")
    assert row["acknowledged_at"] <= row["ack_due_at"]

    await make_due_pass(db, whistle_id, "housing", ack=True, arrive=True)
    overdue = client.get(f"/whistles/{whistle_id}").json()
    housing = next(d for d in overdue["departments"] if d["department"] == "housing")
    assert housing["status"] == "awaiting_ack" and housing["overdue"] is True
    assert housing["ack"]["overdue"] is True and housing["time_left_s"] < 0
    assert overdue["counts"]["overdue"] == 1
    late = act(client, whistle_id, "housing", "ack")
    assert late["done"]["on_time"] is False and late["done"]["late"] is True

    position = {"lat": body["event"]["lat"] + 0.0003, "lng": body["event"]["lng"]}  # ~33 m
    arrived = act(client, whistle_id, "ecology", "arrive", {"position": position})
    assert arrived["done"]["on_time"] is True
    act(client, whistle_id, "housing", "arrive")
    view = client.get(f"/whistles/{whistle_id}").json()
    by_code = {d["department"]: d for d in view["departments"]}
    assert by_code["ecology"]["status"] == "arrived" and by_code["ecology"]["overdue"] is False
    assert by_code["ecology"]["ack"]["late"] is False and by_code["ecology"]["arrive"]["late"] is False
    assert 30 < by_code["ecology"]["arrive"]["distance_m"] < 37
    assert by_code["ecology"]["time_left_s"] is None
    assert by_code["housing"]["status"] == "arrived"
    assert by_code["housing"]["ack"]["late"] is True and by_code["housing"]["arrive"]["late"] is True
    assert by_code["water"]["status"] == "awaiting_ack" and by_code["water"]["overdue"] is False
    assert view["counts"] == {"summoned": 3, "acknowledged": 2, "arrived": 2, "awaiting_ack": 1, "overdue": 0}

    trail = await db.fetch(
        "SELECT actor, action, data FROM event_transitions WHERE event_id = $1 "
        "AND action LIKE 'whistle_%' ORDER BY id",
        event_id,
    )
    assert [(t["action"], t["data"]["department"], t["data"]["on_time"]) for t in trail] == [
        ("whistle_ack", "ecology", True),
        ("whistle_ack", "housing", False),
        ("whistle_arrive", "ecology", True),
        ("whistle_arrive", "housing", False),
    ]
    assert all(t["actor"] == ACTOR_NAME for t in trail)
    assert trail[2]["data"]["position"]["lat"] == pytest.approx(position["lat"])


async def test_refusals_409_and_404(client, db):
    body = await summon(client, db, ["forestry", "transport"])
    whistle_id = body["id"]
    early = act(client, whistle_id, "forestry", "arrive", status=409)
    assert "acknowledge first" in early["message"]
    assert (
        await db.fetchval(
            "SELECT arrived_at FROM whistle_attendance WHERE whistle_id = $1 AND department = 'forestry'",
            whistle_id,
        )
        is None
    )

    act(client, whistle_id, "forestry", "ack")
    first = await db.fetchval(
        "SELECT acknowledged_at FROM whistle_attendance WHERE whistle_id = $1 AND department = 'forestry'",
        whistle_id,
    )
    again = act(client, whistle_id, "forestry", "ack", status=409)
    assert first.isoformat() in again["message"]
    act(client, whistle_id, "forestry", "arrive")
    arrived = await db.fetchval(
        "SELECT arrived_at FROM whistle_attendance WHERE whistle_id = $1 AND department = 'forestry'",
        whistle_id,
    )
    twice = act(client, whistle_id, "forestry", "arrive", status=409)
    assert arrived.isoformat() in twice["message"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions WHERE event_id = $1 AND "
            "action IN ('whistle_ack', 'whistle_arrive')",
            body["event_id"],
        )
        == 2
    )

    not_summoned = act(client, whistle_id, "ecology", "ack", status=404)
    assert "not summoned" in not_summoned["message"] and "transport" in not_summoned["message"]
    assert "no department" in act(client, whistle_id, "no_such_dept", "ack", status=404)["message"]
    assert act(client, 999_999_999, "forestry", "ack", status=404)["error"] == "not_found"
    assert client.get("/whistles/999999999").status_code == 404
    bad_crs = act(
        client,
        whistle_id,
        "transport",
        "arrive",
        {"position": {"lat": 47.14, "lng": 9.52, "crs": "mars2"}},
        status=422,
    )
    assert bad_crs["fields"][0]["field"] == "body.position.crs"


async def test_concurrent_acks_of_one_department_record_one(client, db):
    body = await summon(client, db, ["emergency"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: client.post(f"/whistles/{body['id']}/departments/emergency/ack", headers=ACTOR),
                range(8),
            )
        )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions WHERE event_id = $1 AND action = 'whistle_ack'",
            body["event_id"],
        )
        == 1
    )


# -- lists and the counter -----------------------------------------------------------


async def test_list_filters_and_awaiting_ack_count(client, db):
    async def independent_count() -> int:
        return await db.fetchval(
            "SELECT count(*) FROM whistle_attendance a JOIN whistles w ON w.id = a.whistle_id "
            "JOIN events e ON e.id = w.event_id WHERE a.acknowledged_at IS NULL "
            "AND e.state <> 'closed'"
        )

    start = await awaiting_ack_count(db)
    assert start == await independent_count()
    vaduz = await summon(client, db, ["culture_tourism", "health", "sports"])
    schaan = await summon(client, db, ["culture_tourism", "education"], township="LI-SCHAAN")
    assert await awaiting_ack_count(db) == start + 5
    act(client, vaduz["id"], "health", "ack")
    assert await awaiting_ack_count(db) == start + 4
    assert client.get("/whistles-counters").json() == {"awaiting_ack": start + 4}

    def ids(**params) -> set[int]:
        response = client.get("/whistles", params=params)
        assert response.status_code == 200, response.text
        return {w["id"] for w in response.json()["whistles"]}

    assert {vaduz["id"], schaan["id"]} <= ids(open="true")
    assert vaduz["id"] in ids(open="true", township_code="LI-VADUZ")
    assert schaan["id"] not in ids(open="true", township_code="LI-VADUZ")
    assert ids(department="education") >= {schaan["id"]} and vaduz["id"] not in ids(department="education")
    assert vaduz["id"] not in ids(open="false")

    # Closing the event ends the whistle: its departments no longer await 报到, it shows as
    # closed, and 报到 is refused.
    close_event(client, schaan["event_id"])
    assert await awaiting_ack_count(db) == start + 2 == await independent_count()
    assert schaan["id"] in ids(open="false") and schaan["id"] not in ids(open="true")
    # Half an hour passes after the closure: the 报到 deadlines that fell after it were
    # stood down, not missed (not overdue, not scored).
    summoned = datetime.fromisoformat(schaan["summoned_at"]) - timedelta(minutes=31)
    await move_whistle(db, schaan["id"], summoned)
    await db.execute(
        "UPDATE events SET closed_at = closed_at - interval '31 minutes' WHERE id = $1", schaan["event_id"]
    )
    closed = client.get(f"/whistles/{schaan['id']}").json()
    assert closed["open"] is False
    assert all(d["time_left_s"] is None and d["overdue"] is False for d in closed["departments"])
    assert all(datetime.fromisoformat(d["ack"]["due_at"]) < datetime.now(UTC) for d in closed["departments"])
    education = client.get(
        "/whistles/scores",
        params={"from": (summoned - timedelta(seconds=1)).isoformat(), "township_code": "LI-SCHAAN"},
    ).json()["departments"]
    assert [
        (d["department"], d["summoned"], d["ack_pending"], d["arrive_pending"], d["score"])
        for d in education
        if d["department"] == "education"
    ] == [("education", 1, 1, 1, None)]
    assert "closed" in act(client, schaan["id"], "education", "ack", status=409)["message"]
    listed = next(
        w
        for w in client.get("/whistles", params={"township_code": "LI-VADUZ"}).json()["whistles"]
        if w["id"] == vaduz["id"]
    )
    assert listed["counts"]["awaiting_ack"] == 2


# -- scores --------------------------------------------------------------------------


def expected_scores(outcomes: dict[str, list[tuple[bool, bool, bool, bool]]]) -> dict[str, dict]:
    """From (acknowledged, ack on time, arrived, arrived on time) per summons; every step
    decided (done or past due)."""
    expected = {}
    for department, rows in outcomes.items():
        n = len(rows)
        ack_on_time = sum(r[1] for r in rows) / n
        arrive_on_time = sum(r[3] for r in rows) / n
        expected[department] = {
            "summoned": n,
            "acknowledged": sum(r[0] for r in rows),
            "acknowledged_on_time": sum(r[1] for r in rows),
            "arrived": sum(r[2] for r in rows),
            "arrived_on_time": sum(r[3] for r in rows),
            "response_rate": sum(r[0] for r in rows) / n,
            "ack_on_time_rate": ack_on_time,
            "arrival_rate": sum(r[2] for r in rows) / n,
            "arrive_on_time_rate": arrive_on_time,
            "score": round(100 * (0.4 * ack_on_time + 0.6 * arrive_on_time), 1),
        }
    return expected


async def test_scores_count_outcomes_in_the_window(client, db):
    base = datetime(2001, 3, 1, 8, 0, tzinfo=UTC)
    # Whistle 1: ecology on time throughout; housing late for both; market never comes.
    w1 = await summon(client, db, ["ecology", "housing", "market"])
    # As if summoned 20 minutes ago: ecology answers 20 minutes in, within its 30.
    await move_whistle(db, w1["id"], datetime.fromisoformat(w1["summoned_at"]) - timedelta(minutes=20))
    act(client, w1["id"], "ecology", "ack")
    act(client, w1["id"], "ecology", "arrive")
    await make_due_pass(db, w1["id"], "housing", ack=True, arrive=True)
    act(client, w1["id"], "housing", "ack")
    act(client, w1["id"], "housing", "arrive")
    # Whistle 2: ecology acks on time but arrives late; housing acks on time, never arrives.
    w2 = await summon(client, db, ["ecology", "housing"])
    act(client, w2["id"], "ecology", "ack")
    act(client, w2["id"], "housing", "ack")
    # Two hours and a minute go by: both acknowledged in time, ecology then arrives late.
    await move_whistle(db, w2["id"], datetime.fromisoformat(w2["summoned_at"]) - timedelta(minutes=121))
    act(client, w2["id"], "ecology", "arrive")
    # Whistle 3 (Vaduz, two days later) and 4 (Schaan, same day): perfect ecology.
    w3 = await summon(client, db, ["ecology"])
    w4 = await summon(client, db, ["ecology"], township="LI-SCHAAN")
    for whistle in (w3, w4):
        act(client, whistle["id"], "ecology", "ack")
        act(client, whistle["id"], "ecology", "arrive")
    minutes_to_ack = {}
    for whistle, at in (
        (w1, base),
        (w2, base + timedelta(hours=3)),
        (w3, base + timedelta(days=2)),
        (w4, base + timedelta(hours=5)),
    ):
        rows = await db.fetch(
            "SELECT a.department, extract(epoch FROM a.acknowledged_at - "
            "w.summoned_at) / 60 AS m FROM whistle_attendance a JOIN whistles w "
            "ON w.id = a.whistle_id WHERE w.id = $1",
            whistle["id"],
        )
        minutes_to_ack[whistle["id"]] = {r["department"]: r["m"] for r in rows}
        await move_whistle(db, whistle["id"], at)

    def scores(**params) -> dict[str, dict]:
        response = client.get("/whistles/scores", params=params)
        assert response.status_code == 200, response.text
        return {d["department"]: d for d in response.json()["departments"]}

    day = {"from": base.isoformat(), "to": (base + timedelta(days=1)).isoformat()}
    vaduz_day = scores(**day, township_code="LI-VADUZ")
    expected = expected_scores(
        {
            "ecology": [(True, True, True, True), (True, True, True, False)],
            "housing": [(True, False, True, False), (True, True, False, False)],
            "market": [(False, False, False, False)],
        }
    )
    assert set(vaduz_day) == set(expected)
    for department, values in expected.items():
        got = vaduz_day[department]
        for key, value in values.items():
            assert got[key] == pytest.approx(value, abs=1e-9), (department, key, got[key], value)
        assert got["ack_pending"] == got["arrive_pending"] == 0
    assert vaduz_day["ecology"]["score"] == 70.0 and vaduz_day["market"]["score"] == 0.0
    mean = (minutes_to_ack[w1["id"]]["ecology"] + minutes_to_ack[w2["id"]]["ecology"]) / 2
    assert 9.9 < float(mean) < 10.5  # 20 minutes and a few milliseconds
    assert vaduz_day["ecology"]["mean_minutes_to_ack"] == pytest.approx(float(mean), abs=0.05)
    assert vaduz_day["market"]["mean_minutes_to_ack"] is None

    # Whole county, same day: Schaan's perfect ecology counts too.
    county_day = scores(**day)
    assert county_day["ecology"]["summoned"] == 3
    assert county_day["ecology"]["arrive_on_time_rate"] == pytest.approx(2 / 3)
    # The window is [from, to): to = whistle 3's summons leaves it out, a microsecond more
    # takes it in.
    w3_at = base + timedelta(days=2)
    without = scores(**{"from": base.isoformat(), "to": w3_at.isoformat()}, township_code="LI-VADUZ")
    with_w3 = scores(
        **{"from": base.isoformat(), "to": (w3_at + timedelta(microseconds=1)).isoformat()},
        township_code="LI-VADUZ",
    )
    assert without["ecology"]["summoned"] == 2 and with_w3["ecology"]["summoned"] == 3
    only_w3 = scores(**{"from": w3_at.isoformat(), "to": (w3_at + timedelta(hours=1)).isoformat()})
    assert set(only_w3) == {"ecology"} and only_w3["ecology"]["score"] == 100.0
    # A time zone other than UTC means the same instant.
    shanghai = (base + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert (
        scores(**{"from": base.isoformat(), "to": shanghai}, township_code="LI-VADUZ")["housing"]["summoned"]
        == 2
    )


async def test_running_summons_are_not_scored_yet(client, db):
    whistle = await summon(client, db, ["agriculture", "civil_affairs"], township="LI-TRIESEN")
    act(client, whistle["id"], "agriculture", "ack")
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    response = client.get("/whistles/scores", params={"from": since, "township_code": "LI-TRIESEN"})
    rows = {d["department"]: d for d in response.json()["departments"]}
    # agriculture: 报到 on time, 到场 still running -> the score is its 报到 alone.
    assert rows["agriculture"]["ack_on_time_rate"] == 1.0
    assert rows["agriculture"]["arrive_pending"] == 1 and rows["agriculture"]["arrive_scored"] == 0
    assert rows["agriculture"]["arrive_on_time_rate"] is None
    assert rows["agriculture"]["score"] == 100.0
    # civil_affairs: nothing due yet, nothing to score.
    assert rows["civil_affairs"]["ack_pending"] == 1
    assert rows["civil_affairs"]["response_rate"] is None and rows["civil_affairs"]["score"] is None
    # Once its time limit has passed, the silence counts.
    await make_due_pass(db, whistle["id"], "civil_affairs", ack=True)
    rows = {
        d["department"]: d
        for d in client.get("/whistles/scores", params={"from": since, "township_code": "LI-TRIESEN"}).json()[
            "departments"
        ]
    }
    assert rows["civil_affairs"]["ack_pending"] == 0
    assert rows["civil_affairs"]["response_rate"] == 0.0 and rows["civil_affairs"]["score"] == 0.0


def test_score_times_must_carry_an_offset(client):
    naive = client.get("/whistles/scores", params={"from": "2026-03-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["fields"][0]["field"] == "query.from"
    garbage = client.get("/whistles/scores", params={"to": "next tuesday"})
    assert garbage.status_code == 422 and garbage.json()["fields"][0]["field"] == "query.to"
    backwards = client.get(
        "/whistles/scores", params={"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-01T00:00:00+08:00"}
    )
    assert backwards.status_code == 422 and backwards.json()["fields"][0]["field"] == "query.to"
