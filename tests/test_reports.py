"""The leaders' summary (GET /reports/summary) on real PostGIS: work orders taken through the
real lifecycle with a frozen app clock, every figure against the value worked out by hand,
the rollups against the direct aggregate, GET /events' count, and the scope rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from gridsvc.database.pool import connect
from gridsvc.duban import flows as duban
from gridsvc.duban import service as duban_service
from gridsvc.reports import service
from gridsvc.settings import Settings
from tests.auth_support import bearer, issue_token
from tests.live_support import spot_in
from tests.reports_support import act, quiet_grids, receive, revisit, stamp

pytestmark = pytest.mark.usefixtures("demo")

ZONE = ZoneInfo("Europe/Vaduz")  # the demo county's time zone
# This module's periods (and the three days before them) lie in 2038, a year no other test
# files events in: the summary counts every event of the period, not only this module's
# (tests/test_inspections.py files closed events on its clock's 2031-03-02).
FIRST = date(2038, 3, 1)
LAST = date(2038, 3, 3)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(local(FIRST - timedelta(days=7), 0))


@pytest.fixture(scope="module")
def app_client(settings: Settings, demo: Any, clock: FrozenClock) -> Iterator[TestClient]:
    assert settings.database_url is not None
    with TestClient(create_app(settings, clock=clock)) as client:
        client.headers.update(bearer(settings.database_url, "admin"))
        yield client


def at(clock: FrozenClock, when: datetime) -> None:
    clock.set(when)


async def seed(client: TestClient, db: asyncpg.Connection, clock: FrozenClock, settings: Settings) -> dict:
    """The scenario (days D1..D3 = FIRST..LAST, town A and town B; the previous period is the
    three days before):

    ====  ================  ==========================================================
    E1    A, D1 09:00       sent 09:05, 签收 09:15 (10 min), 到场 09:20 (20), closed D2 in
                            time; 回访 满意
    E2    A, D1 10:00       sent 10:05, 签收 10:50 (45 min: late), 到场 10:50 (50), closed;
                            回访 不满意 -> 重办 (reopened: no longer closed)
    E3    A, D2 08:00       sent, 签收 in time, 到场 08:35 (35), 退单 D2
    E4    A, D2 09:00       never dispatched; one 督办 (dispatch stage overdue)
    E5    B, D3 07:00       sent, 签收 in time, 到场 07:10 (10), 延期 approved; 回访 不满意
                            while open (recorded, nothing reopened)
    E7    A, D1 11:00       sent, 签收 in time, 到场 11:25 (25), closed, 回访 不满意 ->
                            重办 declined by the desk (closed again, after its deadline)
    E6    A, D1-2 09:00     (previous period) sent, 签收 in time
    ====  ================  ==========================================================
    """
    (grid_a, town_a), (grid_b, town_b) = await quiet_grids(db, 2)
    d1, d2, d3 = FIRST, FIRST + timedelta(days=1), LAST
    cases: dict[str, dict[str, Any]] = {}
    plan = {
        "E1": (grid_a, local(d1, 9)),
        "E2": (grid_a, local(d1, 10)),
        "E3": (grid_a, local(d2, 8)),
        "E4": (grid_a, local(d2, 9)),
        "E5": (grid_b, local(d3, 7)),
        "E7": (grid_a, local(d1, 11)),
        "E6": (grid_a, local(d1 - timedelta(days=2), 9)),
    }
    for name, (grid, received) in sorted(plan.items(), key=lambda item: item[1][1]):
        at(clock, received)
        cases[name] = await receive(client, db, grid=grid)
    ids = {name: case["id"] for name, case in cases.items()}
    # the lifecycle through the API, then each stamp where the table says
    for name, minutes in (("E1", (5, 15, 20)), ("E2", (5, 50, 50)), ("E3", (5, 20, 35))):
        start = plan[name][1]
        act(client, ids[name], "dispatch")
        act(client, ids[name], "sign_for")
        act(client, ids[name], "arrive")
        await stamp(db, ids[name], "dispatch", start + timedelta(minutes=minutes[0]))
        await stamp(db, ids[name], "sign_for", start + timedelta(minutes=minutes[1]))
        await stamp(db, ids[name], "arrive", start + timedelta(minutes=minutes[2]))
    for name, minutes in (("E5", (2, 5, 10)), ("E7", (3, 8, 25)), ("E6", (1, 4, 30))):
        start = plan[name][1]
        act(client, ids[name], "dispatch")
        act(client, ids[name], "sign_for")
        await stamp(db, ids[name], "dispatch", start + timedelta(minutes=minutes[0]))
        await stamp(db, ids[name], "sign_for", start + timedelta(minutes=minutes[1]))
        if name != "E6":
            act(client, ids[name], "arrive")
            await stamp(db, ids[name], "arrive", start + timedelta(minutes=minutes[2]))
    for name in ("E1", "E2", "E7"):
        act(client, ids[name], "handle", note="已清理")
        act(client, ids[name], "verify")
        act(client, ids[name], "close")
    act(client, ids["E3"], "return", note="不属于本中队")
    await stamp(db, ids["E3"], "return", local(d2, 12))
    # 延期 on E5, approved
    asked = client.post(f"/events/{ids['E5']}/extensions", json={"minutes": 60, "reason": "等待配合"})
    assert asked.status_code == 201, asked.text
    decided = client.post(
        f"/events/{ids['E5']}/extensions/{asked.json()['id']}/decision", json={"approved": True}
    )
    assert decided.status_code == 200, decided.text
    await db.execute(
        "UPDATE event_extensions SET decided_at = $2 WHERE id = $1", asked.json()["id"], local(d3, 8)
    )
    # 督办 on E4: the job run with the clock past its dispatch deadline
    e4 = await db.fetchrow("SELECT due_at FROM events WHERE id = $1", ids["E4"])
    raised = await duban.escalate(
        db,
        default_levels="1:unit",
        clock=FrozenClock(e4["due_at"] + timedelta(minutes=1)),
        event_id=ids["E4"],
    )
    assert raised == 1
    await db.execute("UPDATE escalations SET raised_at = $2 WHERE event_id = $1", ids["E4"], local(d2, 10))
    # 回访
    revisit(client, cases["E1"], "满意")
    revisit(client, cases["E2"], "不满意")
    revisit(client, cases["E7"], "不满意")
    revisit(client, cases["E5"], "不满意")
    declined = client.post(f"/events/{ids['E7']}/redo/decline", json={"reason": "诉求已解决，不予重办"})
    assert declined.status_code == 200, declined.text
    for name, day in (("E1", d3), ("E2", d3), ("E7", d3), ("E5", d3)):
        await db.execute("UPDATE revisits SET received_at = $2 WHERE event_id = $1", ids[name], local(day, 9))
    # closing times: E1 on time (D2 10:00, deadline later), E7 after its deadline
    await db.execute(
        "UPDATE events SET closed_at = $2, handle_due_at = $2::timestamptz + interval '1 day' WHERE id = $1",
        ids["E1"],
        local(d2, 10),
    )
    await db.execute(
        "UPDATE events SET closed_at = $2, handle_due_at = $2::timestamptz - interval '1 hour' WHERE id = $1",
        ids["E7"],
        local(d3, 15),
    )
    state = await db.fetchval("SELECT state FROM events WHERE id = $1", ids["E2"])
    assert state == "dispatched"  # 重办: reopened, no longer closed
    return {"ids": ids, "town_a": town_a, "town_b": town_b}


EXPECTED_TOTAL = {
    "received": 6,
    "signed_for": 5,
    "signed_in_time": 4,
    "response_rate": 4 / 6,
    "arrive_p50_min": 25.0,  # 10, 20, 25, 35, 50: rank ceil(0.5 * 5) = 3
    "arrive_p90_min": 50.0,  # rank ceil(0.9 * 5) = 5
    "closed": 2,
    "closed_in_time": 1,
    "on_time_close_rate": 0.5,
    "revisited": 4,
    "satisfaction_rate": 1 / 4,  # E1 满意
    "resolution_rate": 2 / 4,  # E1, and E7 whose 重办 the desk declined
    "redo_rate": 1 / 4,  # E2
    "returns": 1,
    "extensions": 1,
    "duban": 1,
    "whistle_score": None,
}
EXPECTED_PREVIOUS = {"received": 1, "signed_for": 1, "signed_in_time": 1, "response_rate": 1.0, "closed": 0}


def check(figures: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert figures[name] == pytest.approx(value), name


@pytest.fixture(scope="module")
async def scenario(app_client: TestClient, clock: FrozenClock, settings: Settings, database_url: str) -> dict:
    db = await connect(database_url)
    try:
        seeded = await seed(app_client, db, clock, settings)
    finally:
        await db.close()
    at(clock, local(LAST + timedelta(days=10), 12))
    return seeded


def summary(client: TestClient, by: str = "township", **params: Any) -> dict[str, Any]:
    answer = client.get("/reports/summary", params={"from": str(FIRST), "to": str(LAST), "by": by, **params})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_every_figure_against_the_hand_computed_one(app_client: TestClient, scenario: dict) -> None:
    body = summary(app_client)
    assert body["from"] == str(FIRST) and body["to"] == str(LAST) and body["by"] == "township"
    total = body["total"]
    check(total, EXPECTED_TOTAL)
    check(total["previous"], EXPECTED_PREVIOUS)
    assert total["change"]["received"] == 5
    assert total["change"]["response_rate"] == pytest.approx(4 / 6 - 1, abs=1e-6)
    assert total["change"]["on_time_close_rate"] is None  # nothing closed before
    rows = {r["key"]: r for r in body["rows"]}
    assert set(rows) == {scenario["town_a"], scenario["town_b"]}
    town_b = rows[scenario["town_b"]]
    check(
        town_b, {"received": 1, "signed_in_time": 1, "arrive_p50_min": 10.0, "extensions": 1, "revisited": 1}
    )
    check(town_b, {"satisfaction_rate": 0.0, "resolution_rate": 0.0, "redo_rate": 0.0, "closed": 0})
    assert town_b["on_time_close_rate"] is None  # no denominator: None, not 0
    assert rows[scenario["town_a"]]["received"] == 5
    assert all(r["name"] and r["name"] != r["key"] for r in body["rows"])  # display names


def test_total_received_equals_the_events_list(app_client: TestClient, scenario: dict) -> None:
    body = summary(app_client)
    start, end = service.local_bounds(FIRST, LAST, "Europe/Vaduz")
    listed = app_client.get(
        "/events",
        params={"received_from": start.isoformat(), "received_to": end.isoformat(), "counts": "true"},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == body["total"]["received"] == 6
    naive = app_client.get("/events", params={"received_from": "2038-03-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["fields"][0]["field"] == "query.received_from"


async def test_rollups_give_the_direct_answer(
    app_client: TestClient, scenario: dict, database_url: str
) -> None:
    db = await connect(database_url)
    try:
        now = local(LAST + timedelta(days=10), 12)
        previous_first = FIRST - timedelta(days=3)
        args: dict[str, Any] = {
            "first": FIRST,
            "last": LAST,
            "jurisdiction": None,
            "scope": service.ReportScope(),
            "now": now,
        }
        for by in ("township", "department", "squad", "grid", "matter"):
            direct = await service.summary(db, by=by, sign_for_minutes=30, use_rollups=False, **args)
            await service.rebuild(db, first=previous_first, last=LAST, now=now, sign_for_minutes=30)
            rolled = await service.summary(db, by=by, sign_for_minutes=30, **args)
            assert rolled.model_dump() == direct.model_dump(), by
            assert rolled.total.received == 6
            # a township leader's rows (split by township) agree too
            town = {**args, "scope": service.ReportScope(townships=(scenario["town_a"],))}
            direct = await service.summary(db, by=by, sign_for_minutes=30, use_rollups=False, **town)
            rolled = await service.summary(db, by=by, sign_for_minutes=30, **town)
            assert rolled.model_dump() == direct.model_dump(), by
            assert rolled.total.received == 5
        rolled_days = await db.fetchval(
            "SELECT count(*) FROM report_rollup_days WHERE day BETWEEN $1 AND $2", previous_first, LAST
        )
        assert rolled_days == 6
    finally:
        await db.close()


async def test_a_late_change_after_the_rollup_is_picked_up(
    app_client: TestClient, scenario: dict, clock: FrozenClock, database_url: str
) -> None:
    """A late 退单 on a day already rolled up is picked up by the job's refresh. On a day of its
    own (April 2038): the module's scenario stays as the table above says, whatever the order
    the tests run in."""
    day = date(2038, 4, 6)
    now = local(day + timedelta(days=10), 12)
    db = await connect(database_url)
    try:
        ((grid, _town),) = await quiet_grids(db, 1)
        at(clock, local(day, 9))
        case = await receive(app_client, db, grid=grid)
        for action in ("dispatch", "sign_for", "arrive"):
            act(app_client, case["id"], action)
        at(clock, now)
        await service.rebuild(db, first=day, last=day, now=now, sign_for_minutes=30)
        args: dict[str, Any] = {
            "first": day,
            "last": day,
            "jurisdiction": None,
            "scope": service.ReportScope(),
            "now": now,
        }
        before = await service.summary(db, by="township", sign_for_minutes=30, **args)
        assert before.total.received == 1 and before.total.returns == 0
        act(app_client, case["id"], "return", note="改由部门处理")
        await stamp(db, case["id"], "return", local(day, 18))
        await db.execute("UPDATE events SET updated_at = now() WHERE id = $1", case["id"])
        days = await service.refresh(db, now=now, sign_for_minutes=30)
        assert day in days
        after = await service.summary(db, by="township", sign_for_minutes=30, **args)
        direct = await service.summary(db, by="township", sign_for_minutes=30, use_rollups=False, **args)
        assert after.total.returns == 1 and after.model_dump() == direct.model_dump()
    finally:
        await db.close()  # the clock stays in April: the other tests only need it past LAST


async def test_a_township_leader_sees_its_township_only(
    app_client: TestClient, scenario: dict, database_url: str, settings: Settings
) -> None:
    name = f"report-leader-{scenario['town_b'].lower()}"
    token = issue_token(database_url, "leader", name=name)
    db = await connect(database_url)
    try:
        await duban_service.set_leader(db, name=name, reach="township", township_codes=[scenario["town_b"]])
    finally:
        await db.close()
    headers = {"Authorization": f"Bearer {token}"}
    answer = app_client.get("/reports/summary", params={"from": str(FIRST), "to": str(LAST)}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["key"] for r in body["rows"]] == [scenario["town_b"]]
    assert body["total"]["received"] == 1
    by_grid = app_client.get(
        "/reports/summary", params={"from": str(FIRST), "to": str(LAST), "by": "grid"}, headers=headers
    ).json()
    assert by_grid["total"]["received"] == 1
    grid_head = issue_token(database_url, "grid_head", grid_codes=["LI-VADUZ-01"])
    refused = app_client.get(
        "/reports/summary",
        params={"from": str(FIRST), "to": str(LAST)},
        headers={"Authorization": f"Bearer {grid_head}"},
    )
    assert refused.status_code == 403


def test_bad_parameters_name_the_field(app_client: TestClient) -> None:
    cases = [
        ({"from": "2031-02-30", "to": "2031-03-01"}, "query.from"),
        ({"from": "2031-03-05", "to": "2031-03-01"}, "query.to"),
        ({"from": "2031-03-01", "to": "2031-03-02", "by": "village"}, "query.by"),
        ({"from": "2031-03-01", "to": "2031-03-02", "jurisdiction": "NOPE"}, "query.jurisdiction"),
        ({"to": "2031-03-02"}, "query.from"),
    ]
    for params, field in cases:
        answer = app_client.get("/reports/summary", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert field in [f["field"] for f in answer.json()["fields"]], (params, answer.text)
    export = app_client.get("/reports/export.xlsx", params={"from": "2031-13-01", "to": "2031-03-02"})
    assert export.status_code == 422 and export.json()["fields"][0]["field"] == "query.from"


def test_a_department_sees_its_own_cases_only(
    app_client: TestClient, scenario: dict, database_url: str
) -> None:
    """The scenario's cases are all the squads' (delegated matters): a department sees none
    of them, while the desk sees all six."""
    token = issue_token(database_url, "department", department_code="emergency")
    mine = app_client.get(
        "/reports/summary",
        params={"from": str(FIRST), "to": str(LAST), "by": "matter"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["total"]["received"] == 0 and mine.json()["rows"] == []
    assert summary(app_client, by="matter")["total"]["received"] == 6


async def test_departments_carry_their_whistle_score(
    app_client: TestClient, scenario: dict, database_url: str
) -> None:
    """One whistle on D2 summoning 应急 (emergency): 报到 in 20 min (limit 30: on time), 到场
    in 90 min (limit 60: late). Score = 100 × (0.4 × 1 + 0.6 × 0) = 40.0; no previous one."""
    db = await connect(database_url)
    try:
        (grid, town), _ = await quiet_grids(db, 2)
        where = await spot_in(db, grid)
        made = app_client.post(
            "/whistles",
            json={
                "township_code": town,
                "title": "联合执法",
                "departments": ["emergency"],
                "location": {**where, "crs": "wgs84"},
                "ack_minutes": 30,
                "arrive_minutes": 60,
            },
        )
        assert made.status_code == 201, made.text
        whistle = made.json()["id"]
        for step in ("ack", "arrive"):
            done = app_client.post(f"/whistles/{whistle}/departments/emergency/{step}", json={})
            assert done.status_code == 200, done.text
        summoned = local(FIRST + timedelta(days=1), 10)
        await db.execute("UPDATE whistles SET summoned_at = $2 WHERE id = $1", whistle, summoned)
        await db.execute(
            "UPDATE whistle_attendance SET ack_due_at = $2::timestamptz + interval '30 minutes', "
            "arrive_due_at = $2::timestamptz + interval '60 minutes', "
            "acknowledged_at = $2::timestamptz + interval '20 minutes', "
            "arrived_at = $2::timestamptz + interval '90 minutes' WHERE whistle_id = $1",
            whistle,
            summoned,
        )
    finally:
        await db.close()
    rows = {r["key"]: r for r in summary(app_client, by="department")["rows"]}
    assert rows["emergency"]["whistle_score"] == pytest.approx(40.0)
    assert rows["emergency"]["previous"]["whistle_score"] is None
    assert rows["emergency"]["name"] != "emergency"  # the department's Chinese name
    assert summary(app_client, by="department")["total"]["whistle_score"] is None
