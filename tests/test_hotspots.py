"""``GET /reports/hotspots`` (issue 11 item 2): events per H3 cell, matter class and ISO week
with their trend, on seeded events at known cells and times; counts computed by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import h3
import pytest
from fastapi.testclient import TestClient

from gridsvc.duban.service import set_leader
from tests.hotspots_support import VADUZ, World, clear, new_world, seed

pytestmark = pytest.mark.usefixtures("demo")


async def scenario(db: asyncpg.Connection, world: World, grids: dict[str, Any] | None = None) -> None:
    """Period = week 0, previous weeks -4..-1 (oldest first). By hand:

    A: class 0 in week 0 three times (Monday 00:30 local, the first minute, Wednesday, Sunday
       23:30, the last), week -1 once (Sunday 23:30: still week -1 in local time) and week
       -3 once; class 1 in week 0 once.  -> weekly [4], previous [0, 1, 0, 1]
    B: class 1 once in every previous week and once in week 0.  -> [1], [1, 1, 1, 1]
    C: class 0 twice in week -2.  -> [0], [0, 0, 2, 0]
    Outside the window: A in week 1 (Monday 00:30) and week -5.
    """
    p, w = world.places, world
    for at in (w.day(0, 0, 0, 30), w.day(0, 2), w.day(0, 6, 23, 30), w.day(-1, 6, 23, 30), w.day(-3)):
        await seed(db, w, p.a, at, grids=grids)
    await seed(db, w, p.a, w.day(0, 3), matter=1)
    for week in (-4, -3, -2, -1, 0):
        await seed(db, w, p.b, w.day(week, 1), matter=1)
    await seed(db, w, p.c, w.day(-2, 4), count=2)
    await seed(db, w, p.a, w.day(1, 0, 0, 30))
    await seed(db, w, p.a, w.day(-5))


def get(client: TestClient, world: World, **params: Any) -> Any:
    query = {"from": world.monday.isoformat(), "to": (world.monday + timedelta(days=6)).isoformat(), **params}
    answer = client.get("/reports/hotspots", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def by_cell(body: Any) -> dict[str, Any]:
    return {c["cell"]: c for c in body["cells"]}


async def test_counts_per_cell_week_and_class_with_trend(client: TestClient, db: asyncpg.Connection) -> None:
    world = await new_world(db)
    await scenario(db, world)
    try:
        body = get(client, world, res=9)
        first, second = world.classes
        p = world.places
        assert body["timezone"] == "Europe/Vaduz"
        assert body["from"] == world.monday.isoformat()
        assert body["to"] == (world.monday + timedelta(days=6)).isoformat()
        year, week, _ = world.monday.isocalendar()
        assert body["weeks"] == [f"{year}-W{week:02d}"]
        assert len(body["previous_weeks"]) == 4
        assert [c["cell"] for c in body["cells"]] == [p.a, p.b, p.c]  # by count, then previous
        cells = by_cell(body)
        a, b, c = cells[p.a], cells[p.b], cells[p.c]
        assert (a["count"], a["weekly"], a["previous"]) == (4, [4], [0, 1, 0, 1])
        assert a["trend"] == {
            "weekly_mean": 4.0,
            "previous_mean": 0.5,
            "change": 3.5,
            "ratio": 8.0,
            "direction": "up",
        }
        assert (b["count"], b["previous"], b["trend"]["ratio"], b["trend"]["direction"]) == (
            1,
            [1, 1, 1, 1],
            1.0,
            "flat",
        )
        assert (c["count"], c["previous"], c["trend"]["ratio"], c["trend"]["direction"]) == (
            0,
            [0, 0, 2, 0],
            0.0,
            "down",
        )
        classes_a = {k["matter_class"]: k for k in a["classes"]}
        assert (classes_a[first]["count"], classes_a[first]["previous"]) == (3, [0, 1, 0, 1])
        assert (classes_a[second]["count"], classes_a[second]["previous"]) == (1, [0, 0, 0, 0])
        assert classes_a[second]["trend"]["direction"] == "new"
        assert classes_a[second]["trend"]["ratio"] is None
        assert classes_a[first]["name"]  # the class's Chinese name from the catalogue
        # drawing: the centre is the cell's, the ring closed and around it
        lat, lng = h3.cell_to_latlng(p.a)
        assert a["centre"] == pytest.approx([lng, lat], abs=1e-6)
        assert a["boundary"][0] == a["boundary"][-1] and len(a["boundary"]) == 7
        totals = {k["matter_class"]: k for k in body["classes"]}
        assert (totals[first]["count"], totals[first]["previous"]) == (3, [0, 1, 2, 1])
        assert (totals[second]["count"], totals[second]["previous"]) == (2, [1, 1, 1, 1])
        assert body["total"] == 5 and body["truncated"] is False
    finally:
        await clear(db, world)


async def test_resolution_8_merges_siblings_and_filters(client: TestClient, db: asyncpg.Connection) -> None:
    world = await new_world(db)
    await scenario(db, world)
    try:
        p = world.places
        cells = by_cell(get(client, world, res=8))
        parent_ab, parent_c = h3.cell_to_parent(p.a, 8), h3.cell_to_parent(p.c, 8)
        assert set(cells) == {parent_ab, parent_c}
        assert (cells[parent_ab]["count"], cells[parent_ab]["previous"]) == (5, [1, 2, 1, 2])
        assert (cells[parent_c]["count"], cells[parent_c]["previous"]) == (0, [0, 0, 2, 0])
        # one matter class only
        body = get(client, world, res=9, matter_class=world.classes[1])
        assert {c["cell"]: (c["count"], c["previous"]) for c in body["cells"]} == {
            p.a: (1, [0, 0, 0, 0]),
            p.b: (1, [1, 1, 1, 1]),
        }
        assert body["total"] == 2
        # two previous weeks only, and a limit of one cell
        body = get(client, world, res=9, weeks=2, limit=1)
        assert [(c["cell"], c["previous"]) for c in body["cells"]] == [(p.a, [0, 1])]
        assert body["truncated"] is True
        # a jurisdiction: Vaduz's township has A and B, not C (Eschen)
        vaduz = await db.fetchval(
            "SELECT code FROM jurisdictions WHERE level = 'township' "
            "AND ST_Contains(boundary, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
            *VADUZ,
        )
        body = get(client, world, res=9, jurisdiction=vaduz)
        assert set(by_cell(body)) == {p.a, p.b} and body["jurisdiction"] == vaduz
    finally:
        await clear(db, world)


async def test_period_widened_to_iso_weeks(client: TestClient, db: asyncpg.Connection) -> None:
    """From a Wednesday to the next Tuesday: the two whole weeks, Monday to Sunday."""
    world = await new_world(db)
    await scenario(db, world)
    try:
        start, end = world.monday + timedelta(days=2), world.monday + timedelta(days=8)
        body = get(client, world, res=9, **{"from": start.isoformat(), "to": end.isoformat()})
        assert body["from"] == world.monday.isoformat()
        assert body["to"] == (world.monday + timedelta(days=13)).isoformat()
        assert len(body["weeks"]) == 2
        a = by_cell(body)[world.places.a]
        # week 1's Monday 00:30 is in now; the previous weeks are still those before week 0
        assert (a["count"], a["weekly"], a["previous"]) == (5, [4, 1], [0, 1, 0, 1])
        assert a["trend"]["weekly_mean"] == 2.5 and a["trend"]["ratio"] == 5.0
    finally:
        await clear(db, world)


async def test_scope_grid_head_and_township_leader(
    client: TestClient, db: asyncpg.Connection, field_token: Any, make_token: Any
) -> None:
    """A grid head counts only its grids' events, a township leader its townships', as the
    events API scopes them; an account that sees no event gets empty cells."""
    grid, town = await db.fetchrow(
        "SELECT code, enforcement_code FROM current_grids WHERE layer = 'community' "
        "AND enforcement_code IS NOT NULL ORDER BY code LIMIT 1"
    )
    world = await new_world(db)
    # class 0 at A (5 events, 3 in week 0) in the grid and township; the rest nowhere
    await scenario(db, world, grids={"community": {"code": grid}, "enforcement": {"code": town}})
    try:
        p = world.places
        head = {"Authorization": f"Bearer {field_token('grid_head', grid_codes=[grid])}"}
        name = f"test-leader-{world.monday.isoformat()}-{len(world.ids)}"
        leader = {"Authorization": f"Bearer {make_token('leader', name=name)}"}
        await set_leader(db, name=name, reach="township", township_codes=[town])
        department = await db.fetchval("SELECT code FROM departments ORDER BY code LIMIT 1")
        # a department sees the cases it is responsible for: none of these
        nobody = {"Authorization": f"Bearer {field_token('department', department_code=department)}"}
        query = {"from": world.monday.isoformat(), "to": world.monday.isoformat(), "res": 9}
        for headers in (head, leader):
            body = client.get("/reports/hotspots", params=query, headers=headers).json()
            assert {c["cell"]: (c["count"], c["previous"]) for c in body["cells"]} == {p.a: (3, [0, 1, 0, 1])}
        body = client.get("/reports/hotspots", params=query, headers=nobody).json()
        assert body["cells"] == [] and body["total"] == 0
        assert get(client, world, res=9)["total"] == 5  # the admin: all of them
    finally:
        await clear(db, world)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2020-01-05", "res": 9}, "query.from"),
        ({"from": "2020-01-06", "to": "2020-01-05"}, "to"),
        ({"from": "2020-01-06", "to": "2020-01-12", "res": 7}, "res"),
        ({"from": "2020-01-06", "to": "2020-01-12", "res": "x"}, "query.res"),
        ({"from": "2020-13-01", "to": "2020-01-12"}, "query.from"),
        ({"from": "2020-01-06", "to": "2021-03-01"}, "to"),
        ({"from": "2020-01-06", "to": "2020-01-12", "weeks": 0}, "query.weeks"),
        ({"from": "2020-01-06", "to": "2020-01-12", "matter_class": "CG"}, "query.matter_class"),
        ({"from": "2020-01-06", "to": "2020-01-12", "jurisdiction": "NOPE"}, "jurisdiction"),
    ],
)
def test_bad_parameters_answer_422_naming_the_field(client: TestClient, params: Any, field: str) -> None:
    answer = client.get("/reports/hotspots", params=params)
    assert answer.status_code == 422, answer.text
    assert field in [f["field"] for f in answer.json()["fields"]]
