"""Weekly patrol plans on the demo county (issue 10 items 1-3), against real PostGIS and the
real app with a frozen clock: every community grid planned, shifts kept, routes no longer
than nearest neighbour, AVL dwell marks a visit, missed visits carried, scope, findings.

Each test plans its own ISO week (re-planning a week replaces only that week's plans) and
sets the clock itself, so the tests pass alone and in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from gridsvc.settings import Settings
from tests.auth_support import bearer

pytestmark = pytest.mark.usefixtures("demo")

VADUZ_TZ = ZoneInfo("Europe/Vaduz")


class Clock:
    """Sets the app's clock: a fresh frozen clock at each ``set`` (tests go back in time
    freely, a :class:`FrozenClock` never does)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def set(self, when: datetime) -> None:
        self.client.app.state.clock = FrozenClock(when)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def patrol(settings: Settings, demo: Any) -> Iterator[tuple[TestClient, Clock]]:
    """The app on a frozen clock (each test sets it), calling as an admin."""
    assert settings.database_url is not None
    with TestClient(
        create_app(settings, clock=FrozenClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC)))
    ) as client:
        client.headers.update(bearer(settings.database_url, "admin"))
        yield client, Clock(client)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VADUZ_TZ)


def plan(client: TestClient, week: str) -> list[dict[str, Any]]:
    response = client.post("/patrols/plan", params={"jurisdiction": "LI", "week": week})
    assert response.status_code == 201, response.text
    plans: list[dict[str, Any]] = response.json()
    return plans


def community_grids(client: TestClient) -> set[str]:
    layer = client.get("/layers/community/grids", params={"jurisdiction": "LI"}).json()
    return {f["properties"]["code"] for f in layer["features"]}


def test_week_plan_covers_every_grid_within_shifts(patrol: tuple[TestClient, Clock]) -> None:
    client, clock = patrol
    clock.set(local(date(2026, 3, 6), 7))  # before the week: nothing missed yet
    # a holiday on Wednesday: nobody patrols that day
    holiday = date(2026, 3, 11)
    assert (
        client.put(f"/calendar/LI/{holiday}", json={"working": False, "name": "测试假日"}).status_code == 200
    )
    try:
        plans = plan(client, "2026-W11")
    finally:
        client.delete(f"/calendar/LI/{holiday}")
    visited = {v["grid_code"] for p in plans for v in p["visits"]}
    assert visited == community_grids(client)
    # one per squad of the demo county (a squad another test adds for a while may plan too)
    assert len([p for p in plans if p["squad_code"].startswith("SQ-LI-")]) == 11
    for p in plans:
        assert p["unplanned"] == []
        shift_s = 9 * 3600  # 08:30-17:30 (GRIDSVC_PATROL_SHIFT_START/END defaults)
        per_day = [len(d["visits"]) for d in p["days"]]
        assert max(per_day) - min(per_day) <= 1, per_day  # the week is balanced
        for d in p["days"]:
            day = date.fromisoformat(d["day"])
            assert day.weekday() < 5 and day != holiday
            assert d["duration_s"] <= shift_s
            assert d["distance_m"] <= d["nearest_neighbour_distance_m"] + 1e-6
            for v in d["visits"]:
                at = datetime.fromisoformat(v["planned_at"]).astimezone(VADUZ_TZ)
                assert at.date() == day and time(8, 30) <= at.time() <= time(17, 30)
        assert p["distance_m"] <= p["nearest_neighbour_distance_m"] + 1e-6
        assert {"grid_code", "planned_at", "point"} <= set(p["visits"][0])
    listed = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W11"}).json()
    assert {p["squad_code"] for p in listed} == {p["squad_code"] for p in plans}


def test_frequency_twice_a_week_on_two_days(patrol: tuple[TestClient, Clock]) -> None:
    client, clock = patrol
    clock.set(local(date(2026, 4, 3), 7))
    grid = sorted(community_grids(client))[0]
    assert client.put(f"/patrols/frequencies/{grid}", json={"visits_per_week": 2}).status_code == 200
    try:
        plans = plan(client, "2026-W15")
    finally:
        client.put(f"/patrols/frequencies/{grid}", json={"visits_per_week": 1})
    days = [v["day"] for p in plans for v in p["visits"] if v["grid_code"] == grid]
    assert len(days) == 2 and len(set(days)) == 2
    bad = client.put("/patrols/frequencies/NO-SUCH-GRID", json={"visits_per_week": 2})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "grid_code"


def _visit_today(plans: list[dict[str, Any]], day: date) -> tuple[dict[str, Any], dict[str, Any]]:
    for p in plans:
        for v in p["visits"]:  # the day's own (not one carried from an earlier day or week)
            if v["day"] == str(day) and v["carried_from"] is None:
                return p, v
    raise AssertionError(f"no visit on {day}")


def ping(client: TestClient, squad_id: int, token: str, lng: float, lat: float, at: datetime) -> None:
    response = client.post(
        f"/squads/{squad_id}/positions",
        json={"lat": lat, "lng": lng, "timestamp": at.isoformat()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def test_avl_track_through_a_grid_marks_its_visit(
    patrol: tuple[TestClient, Clock], field_token: Callable[..., str]
) -> None:
    client, clock = patrol
    day = date(2026, 3, 18)  # Wednesday of 2026-W12
    clock.set(local(date(2026, 3, 13), 8))
    plan(client, "2026-W12")
    clock.set(local(day, 8))  # Monday's and Tuesday's visits are carried as this is read
    plans = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W12"}).json()
    p, visit = _visit_today(plans, day)
    token = field_token("squad", squad_code=p["squad_code"])
    other = next(v for q in plans if q["squad_code"] != p["squad_code"] for v in q["visits"])
    point = visit["point"]
    ping(client, p["squad_id"], token, other["point"]["lng"], other["point"]["lat"], local(day, 9, 50))
    ping(client, p["squad_id"], token, point["lng"], point["lat"], local(day, 10, 0))
    ping(client, p["squad_id"], token, point["lng"], point["lat"], local(day, 10, 5))
    clock.set(local(day, 10, 6))
    after = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W12"}).json()
    now = next(v for q in after for v in q["visits"] if v["id"] == visit["id"])
    assert now["status"] == "arrived"  # 5 of the 10 minutes' dwell so far
    ping(client, p["squad_id"], token, point["lng"], point["lat"], local(day, 10, 11))
    clock.set(local(day, 10, 12))
    after = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W12"}).json()
    now = next(v for q in after for v in q["visits"] if v["id"] == visit["id"])
    assert now["status"] == "done" and now["done_by"] == "avl"
    assert datetime.fromisoformat(now["done_at"]) == local(day, 10, 10)
    coverage = client.get("/patrols/coverage", params={"jurisdiction": "LI", "week": "2026-W12"}).json()
    mine = next(s for s in coverage["squads"] if s["squad_code"] == p["squad_code"])
    assert mine["visited"] == 1
    assert mine["planned"] == len([v for v in p["visits"] if v["carried_from"] is None])
    township = next(t for t in coverage["townships"] if t["township"] == visit["township"])
    assert township["visited"] >= 1
    assert coverage["total"]["planned"] == sum(
        1 for q in plans for v in q["visits"] if v["carried_from"] is None
    )


def test_missed_visits_are_carried_to_the_next_working_day(patrol: tuple[TestClient, Clock]) -> None:
    client, clock = patrol
    clock.set(local(date(2026, 3, 20), 7))
    plans = plan(client, "2026-W13")
    early = [v for p in plans for v in p["visits"] if v["day"] in ("2026-03-23", "2026-03-24")]
    assert early
    clock.set(local(date(2026, 3, 25), 9))  # Wednesday: Monday's and Tuesday's visits are over
    for _ in range(2):  # reading twice carries once
        after = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W13"}).json()
        # (visits carried in from last week's plan, if another test left one, are its own)
        visits = {v["id"]: v for p in after for v in p["visits"] if v["carried_from_week"] is None}
        for v in early:
            assert visits[v["id"]]["status"] == "missed"
            carried = [c for c in visits.values() if c["carried_from"] == v["id"]]
            assert len(carried) == 1
            assert carried[0]["day"] == "2026-03-25" and carried[0]["grid_code"] == v["grid_code"]
            assert carried[0]["status"] == "planned"
        assert len(visits) == sum(len(p["visits"]) for p in plans) + len(early)
    coverage = client.get("/patrols/coverage", params={"jurisdiction": "LI", "week": "2026-W13"}).json()
    assert coverage["total"]["missed"] == len(early) and coverage["total"]["carried"] == len(early)


def test_check_in_scope_and_adjustments(
    patrol: tuple[TestClient, Clock], field_token: Callable[..., str]
) -> None:
    client, clock = patrol
    day = date(2026, 4, 1)  # Wednesday of 2026-W14
    # last week planned too and never patrolled: its visits are carried onto today, beside
    # today's own visits of the same grids (one stay must count once, findings go to one)
    clock.set(local(date(2026, 3, 20), 7))
    plan(client, "2026-W13")
    clock.set(local(date(2026, 3, 27), 7))
    plans = plan(client, "2026-W14")
    p, visit = _visit_today(plans, day)
    q = next(x for x in plans if x["squad_code"] != p["squad_code"])
    token = field_token("squad", squad_code=p["squad_code"])
    mine = {"Authorization": f"Bearer {token}"}
    seen = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W14"}, headers=mine).json()
    assert [x["squad_code"] for x in seen] == [p["squad_code"]]
    other_visit = q["visits"][0]
    assert (
        client.post(
            f"/patrols/visits/{other_visit['id']}/check_in", json=other_visit["point"], headers=mine
        ).status_code
        == 404
    )
    # operators adjust: a weekend day, a grid of another squad, a time outside the shift
    add = client.post(
        f"/patrols/{p['id']}/visits", json={"grid_code": visit["grid_code"], "day": "2026-04-04"}
    )
    assert add.status_code == 422 and add.json()["fields"][0]["field"] == "body.day"
    add = client.post(
        f"/patrols/{p['id']}/visits", json={"grid_code": other_visit["grid_code"], "day": str(day)}
    )
    assert add.status_code == 422 and add.json()["fields"][0]["field"] == "body.grid_code"
    late = client.patch(f"/patrols/visits/{visit['id']}", json={"planned_at": local(day, 19).isoformat()})
    assert late.status_code == 422 and late.json()["fields"][0]["field"] == "body.planned_at"
    added = client.post(
        f"/patrols/{p['id']}/visits", json={"grid_code": visit["grid_code"], "day": "2026-04-02"}
    )
    assert added.status_code == 201, added.text
    moved = client.patch(f"/patrols/visits/{added.json()['id']}", json={"day": "2026-03-31"})
    assert moved.status_code == 200 and moved.json()["day"] == "2026-03-31"
    # the squad's phone: today's route, then the tap on arrival
    clock.set(local(day, 9))
    today = client.get("/patrols/today", headers=mine).json()
    assert [v["id"] for v in today["visits"]][:1] and visit["id"] in [v["id"] for v in today["visits"]]
    assert len(today["route"]) >= 2
    far = client.post(f"/patrols/visits/{visit['id']}/check_in", json=q["station"], headers=mine)
    assert far.status_code == 422 and far.json()["fields"][0]["field"] == "body.lat"
    tap = client.post(f"/patrols/visits/{visit['id']}/check_in", json=visit["point"], headers=mine)
    assert tap.status_code == 200 and tap.json()["status"] == "arrived" and tap.json()["checked_in_at"]
    clock.set(local(day, 9, 11))
    point = visit["point"]
    ping(client, p["squad_id"], token, point["lng"], point["lat"], local(day, 9, 11))
    done = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W14"}, headers=mine).json()
    now = next(v for v in done[0]["visits"] if v["id"] == visit["id"])
    assert now["status"] == "done" and now["done_by"] == "check_in"
    # a finding on patrol is linked to the visit it was made on
    report = client.post(
        "/events",
        json={"title": "巡查发现占道经营", "location": point, "matter_code": None},
        headers=mine,
    )
    assert report.status_code == 201, report.text
    event_id = report.json()["id"]
    found = client.get("/patrols/today", headers=mine).json()
    assert event_id in next(v for v in found["visits"] if v["id"] == visit["id"])["findings"]
    same_grid = [
        v for v in found["visits"] if v["grid_code"] == visit["grid_code"] and v["id"] != visit["id"]
    ]
    assert same_grid and all(v["status"] == "planned" and not v["findings"] for v in same_grid)
    wrong = client.post(
        "/events", json={"title": "x", "location": point, "visit_id": other_visit["id"]}, headers=mine
    )
    assert wrong.status_code == 422 and wrong.json()["fields"][0]["field"] == "body.visit_id"


def test_week_and_jurisdiction_are_checked(patrol: tuple[TestClient, Clock]) -> None:
    client, _clock = patrol
    bad = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-49"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "query.week"
    bad = client.get("/patrols", params={"jurisdiction": "NOWHERE", "week": "2026-W49"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "query.jurisdiction"
    assert client.get("/patrols", params={"jurisdiction": "LI", "week": "2031-W02"}).json() == []


def test_bounded_travel_matrix_equals_full_trees(patrol: tuple[TestClient, Clock]) -> None:
    """The planner's bounded searches give the same matrix as the ETA engine's full trees."""
    import numpy as np

    from gridsvc.patrols import routes

    client, _clock = patrol
    engine = client.app.state.eta.state_for("LI").engine  # type: ignore[attr-defined]
    graph = engine.graph
    rng = np.random.default_rng(3)
    centre = int(rng.integers(graph.node_count))
    near = np.flatnonzero(
        np.hypot(graph.node_lng - graph.node_lng[centre], graph.node_lat - graph.node_lat[centre]) < 0.01
    )
    cases = [rng.choice(graph.node_count, n, replace=False) for n in (2, 6, 12)]
    cases.append(rng.choice(near, min(8, len(near)), replace=False))  # one squad's few km: bound bites
    for pick in cases:
        size = len(pick)
        lng, lat = graph.node_lng[pick] + 0.0003, graph.node_lat[pick] - 0.0002
        seconds, metres = routes.travel_matrix(routes.planning_engine(engine), lng, lat)
        snap = engine.snapper.snap(lng, lat)
        full = routes.planning_engine(engine).matrix(snap, snap)
        off = ~np.eye(size, dtype=bool)
        assert np.allclose(seconds[off], full.total_s[off], rtol=1e-5, atol=0.01)
        expected = full.drive_m + snap.offroad_m[:, None] + snap.offroad_m[None, :]
        assert np.allclose(metres[off], expected[off], rtol=1e-4, atol=0.5)


def test_friday_miss_carried_into_next_weeks_plan_counts_once(
    patrol: tuple[TestClient, Clock], field_token: Callable[..., str]
) -> None:
    client, clock = patrol
    friday, monday = date(2026, 5, 8), date(2026, 5, 11)  # 2026-W19's Friday, 2026-W20's Monday
    clock.set(local(date(2026, 5, 1), 7))
    first = {v["id"]: v for p in plan(client, "2026-W19") for v in p["visits"]}
    second = plan(client, "2026-W20")
    own = {v["id"] for p in second for v in p["visits"]}
    # Friday morning: Monday to Thursday are over, carried onto Friday (a chain begins)
    clock.set(local(friday, 7))
    client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W19"})
    clock.set(local(monday, 9))  # Friday is over too: carried to Monday of the next week
    week = client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W20"}).json()
    listed = [v for p in week for v in p["visits"]]
    assert len(listed) == len({v["id"] for v in listed})
    carried = [v for v in listed if v["id"] not in own]
    assert len(carried) == len(first)  # nothing of W19 was visited: all of it is on Monday
    for v in carried:
        assert v["carried"] and v["carried_from"] is not None and v["carried_from_week"] == "2026-W19"
        assert v["day"] == str(monday) and v["status"] == "planned"
    assert sorted(v["original_day"] for v in carried) == sorted(v["day"] for v in first.values())
    assert {(v["grid_code"], v["original_day"]) for v in carried} == {
        (v["grid_code"], v["day"]) for v in first.values()
    }
    for p in week:  # each plan lists its own squad's carried visits, on the day in time order
        assert all(v["plan_id"] == p["id"] or v["carried_from_week"] for v in p["visits"])
        squad_grids = {v["grid_code"] for q in second if q["squad_id"] == p["squad_id"] for v in q["visits"]}
        assert {v["grid_code"] for v in p["visits"]} <= squad_grids
        for d in p["days"]:
            times = [v["planned_at"] for v in d["visits"] if v["carried_from_week"]]
            assert times == sorted(times)
    # the squad's phone lists a carried visit once; its check-in counts for W19, not W20
    v = carried[0]
    p = next(p for p in week if any(x["id"] == v["id"] for x in p["visits"]))
    token = field_token("squad", squad_code=p["squad_code"])
    mine = {"Authorization": f"Bearer {token}"}
    today = client.get("/patrols/today", headers=mine).json()
    ids = [x["id"] for x in today["visits"]]
    assert v["id"] in ids and len(ids) == len(set(ids))
    tap = client.post(f"/patrols/visits/{v['id']}/check_in", json=v["point"], headers=mine)
    assert tap.status_code == 200, tap.text
    clock.set(local(monday, 9, 11))
    ping(client, p["squad_id"], token, v["point"]["lng"], v["point"]["lat"], local(monday, 9, 11))
    old = client.get("/patrols/coverage", params={"jurisdiction": "LI", "week": "2026-W19"}).json()
    new = client.get("/patrols/coverage", params={"jurisdiction": "LI"}).json()  # this week: W20
    assert new["week"] == "2026-W20"
    assert old["total"]["planned"] == len(first) and old["total"]["visited"] == 1
    assert new["total"]["planned"] == len(own) and new["total"]["visited"] == 0
    squad = next(s for s in old["squads"] if s["squad_code"] == p["squad_code"])
    assert squad["visited"] == 1
