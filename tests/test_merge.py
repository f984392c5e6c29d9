"""并单 the operator confirms (issue 8 item 2), through the real app and PostGIS.

Candidates are open events of the same minor matter (or of a related one configured per
matter) near the event; a link is an operator's confirmation, automatic only for a matter set
to merge on its own and only for a same-matter text similar enough. Each work order's hotline
callbacks (the outbox rows, one per work order) tell the truth about that work order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.events_support import post_order

pytestmark = pytest.mark.usefixtures("demo")

GARBAGE, RAMP = "EV-01-10", "EV-01-03"  # 暴露生活垃圾, 违章接坡: same major class, other minors
METRES_PER_DEGREE_LAT = 111_320.0


async def free_spot(db: asyncpg.Connection, grid: str) -> dict[str, float]:
    """A point inside ``grid`` more than 400 m from every event so far (nothing nearby)."""
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 300)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = $1) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 400)) LIMIT 1",
        grid,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lat": row["lat"], "lng": row["lng"]}


def north(spot: dict[str, float], metres: float) -> dict[str, float]:
    return {"lat": spot["lat"] + metres / METRES_PER_DEGREE_LAT, "lng": spot["lng"]}


@pytest.fixture
async def secret(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'"))


def order(matter: str, location: dict[str, float], title: str, content: str) -> dict[str, Any]:
    return {
        "work_order_no": f"M{uuid.uuid4().hex[:12]}",
        "title": title,
        "content": content,
        "matter_code": matter,
        "location": location,
    }


def act(client: Any, event_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(f"/events/{event_id}/actions/{action}", json=body or {})
    assert response.status_code == 200, (action, response.text)
    return dict(response.json())


def to_handled(client: Any, event_id: int, reply: str) -> None:
    """Drive an event (dispatched at intake or not) to 处置 with ``reply``."""
    if client.get(f"/events/{event_id}").json()["state"] == "routed":
        act(client, event_id, "dispatch")
    act(client, event_id, "sign_for")
    act(client, event_id, "arrive")
    act(client, event_id, "handle", {"note": reply})


async def callbacks(db: asyncpg.Connection, event_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT kind, payload FROM outbox WHERE event_id = $1 ORDER BY id", event_id)
    return [{"kind": r["kind"], **r["payload"]} for r in rows]


@pytest.fixture
async def matter_settings(client: Any, db: asyncpg.Connection) -> AsyncIterator[Any]:
    """``set(code, **patch)``: change a matter's 并单 options for one test, restored after."""
    saved: dict[str, dict[str, Any]] = {}

    def change(code: str, **patch: Any) -> None:
        response = client.patch(f"/matters/{code}", json=patch)
        assert response.status_code == 200, response.text

    async def set_(code: str, **patch: Any) -> None:
        if code not in saved:
            row = await db.fetchrow("SELECT auto_merge, related_matters FROM matters WHERE code = $1", code)
            saved[code] = {"auto_merge": row["auto_merge"], "related_matters": list(row["related_matters"])}
        change(code, **patch)

    yield set_
    for code, patch in saved.items():
        change(code, **patch)


async def test_a_different_minor_matter_next_door_is_never_linked_and_never_told_handled(
    client, db, secret, matter_settings
):
    # Even with 违章接坡 set to merge on its own and 暴露生活垃圾 listed as related, a
    # different minor matter is only ever offered, never linked without an operator.
    await matter_settings(RAMP, auto_merge=True, related_matters=[GARBAGE])
    spot = await free_spot(db, "LI-TRIESEN")
    garbage = post_order(client, secret, order(GARBAGE, spot, "暴露生活垃圾", "路边垃圾堆放")).json()
    ramp = post_order(client, secret, order(RAMP, north(spot, 15), "违章接坡", "路边垃圾堆放")).json()
    assert ramp["duplicate_of"] is None
    offered = client.get(f"/events/{ramp['id']}").json()["duplicate_candidates"]
    assert [(c["event_id"], c["matter_code"]) for c in offered] == [(garbage["id"], GARBAGE)]

    to_handled(client, garbage["id"], "垃圾已清运")
    act(client, garbage["id"], "verify")
    act(client, garbage["id"], "close")
    assert [c["kind"] for c in await callbacks(db, garbage["id"])] == ["signed_for", "handled", "closed"]
    # The 违章接坡 work order was never touched: no 签收, no 办结 "垃圾已清运", still waiting.
    assert await callbacks(db, ramp["id"]) == []
    assert client.get(f"/events/{ramp['id']}").json()["state"] == "routed"


async def test_without_related_matters_a_different_minor_matter_is_not_even_offered(client, db, secret):
    spot = await free_spot(db, "LI-SCHAAN")
    post_order(client, secret, order(GARBAGE, spot, "暴露生活垃圾", "垃圾"))
    ramp = post_order(client, secret, order(RAMP, north(spot, 15), "违章接坡", "接坡")).json()
    assert ramp["duplicate_of"] is None
    assert client.get(f"/events/{ramp['id']}").json()["duplicate_candidates"] == []


async def test_the_same_matter_20_m_away_is_offered_with_distance_time_and_similarity(client, db, secret):
    spot = await free_spot(db, "LI-MAUREN")
    first = post_order(client, secret, order(RAMP, spot, "违章接坡", "门前私自用水泥接坡占用人行道")).json()
    second = post_order(
        client, secret, order(RAMP, north(spot, 20), "违章接坡", "门前私自接坡占用人行道")
    ).json()
    assert second["duplicate_of"] is None  # offered, not linked
    detail = client.get(f"/events/{second['id']}").json()
    assert detail["duplicate_of"] is None
    [candidate] = detail["duplicate_candidates"]
    assert candidate["event_id"] == first["id"]
    assert 19.0 <= candidate["distance_m"] <= 21.0
    assert 0 <= candidate["minutes_apart"] < 5
    assert 0.3 < candidate["similarity"] < 1.0
    # Both ways: the first is offered the second.
    back = client.get(f"/events/{first['id']}").json()["duplicate_candidates"]
    assert [c["event_id"] for c in back] == [second["id"]]
    # Lists do not seek candidates (null), grid heads and squads are not shown other events.
    listed = client.get("/events", params={"limit": 5}).json()["events"]
    assert all(e["duplicate_candidates"] is None for e in listed)


async def test_a_confirmed_merge_gives_each_work_order_its_own_callbacks(client, db, secret):
    spot = await free_spot(db, "LI-ESCHEN")
    original_order = order(RAMP, spot, "违章接坡", "门前接坡")
    duplicate_order = order(RAMP, north(spot, 20), "违章接坡", "有人接坡")
    original = post_order(client, secret, original_order).json()
    duplicate = post_order(client, secret, duplicate_order).json()
    act(client, original["id"], "dispatch")
    act(client, original["id"], "sign_for")
    assert await callbacks(db, duplicate["id"]) == []  # not linked yet: nothing said for it

    linked = client.post(
        f"/events/{duplicate['id']}/duplicate_of", json={"event_id": original["id"], "note": "同一处接坡"}
    )
    assert linked.status_code == 200, linked.text
    body = linked.json()
    assert body["duplicate_of"] == original["id"] and body["state"] == "signed_for"
    assert body["duplicate_candidates"] == []
    link_row = next(h for h in body["history"] if h["action"] == "link_duplicate")
    assert link_row["data"]["confirmed"] is True and link_row["note"] == "同一处接坡"
    assert link_row["data"]["candidate"]["distance_m"] == pytest.approx(20, abs=1)
    # Its own 签收, for its own work-order number, at confirmation.
    own = await callbacks(db, duplicate["id"])
    assert [(c["kind"], c["work_order_no"]) for c in own] == [
        ("signed_for", duplicate_order["work_order_no"])
    ]

    act(client, original["id"], "arrive")
    act(client, original["id"], "handle", {"note": "已拆除违章接坡，恢复人行道"})
    act(client, original["id"], "verify")
    act(client, original["id"], "close")
    own = await callbacks(db, duplicate["id"])
    theirs = await callbacks(db, original["id"])
    assert [c["kind"] for c in own] == [c["kind"] for c in theirs] == ["signed_for", "handled", "closed"]
    assert {c["work_order_no"] for c in own} == {duplicate_order["work_order_no"]}
    assert {c["work_order_no"] for c in theirs} == {original_order["work_order_no"]}
    handled = next(c for c in own if c["kind"] == "handled")
    assert handled["text"] == "已拆除违章接坡，恢复人行道"  # the original's reply
    assert handled["event_id"] == duplicate["id"]


async def test_linking_to_an_original_already_handled_reports_its_reply_at_once(client, db, secret):
    spot = await free_spot(db, "LI-GAMPRIN")
    original = post_order(client, secret, order(RAMP, spot, "违章接坡", "接坡")).json()
    to_handled(client, original["id"], "接坡已拆除")
    late = post_order(client, secret, order(RAMP, north(spot, 10), "违章接坡", "接坡")).json()
    assert await callbacks(db, late["id"]) == []
    linked = client.post(f"/events/{late['id']}/duplicate_of", json={"event_id": original["id"]})
    assert linked.status_code == 200, linked.text
    assert linked.json()["state"] == "handled"
    own = await callbacks(db, late["id"])
    assert [(c["kind"], c["text"]) for c in own] == [("signed_for", None), ("handled", "接坡已拆除")]


async def test_link_refusals_and_unlink(client, db, secret):
    spot = await free_spot(db, "LI-RUGGELL")
    a = post_order(client, secret, order(RAMP, spot, "违章接坡", "接坡")).json()["id"]
    b = post_order(client, secret, order(RAMP, north(spot, 10), "违章接坡", "接坡")).json()["id"]
    c = post_order(client, secret, order(RAMP, north(spot, 20), "违章接坡", "接坡")).json()["id"]

    itself = client.post(f"/events/{a}/duplicate_of", json={"event_id": a})
    assert itself.status_code == 422 and itself.json()["fields"][0]["field"] == "body.event_id"
    missing = client.post(f"/events/{a}/duplicate_of", json={"event_id": 987654321})
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "body.event_id"
    assert client.post("/events/987654321/duplicate_of", json={"event_id": a}).status_code == 404
    bad = client.post(f"/events/{a}/duplicate_of", json={"event_id": "x"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "body.event_id"

    assert client.post(f"/events/{b}/duplicate_of", json={"event_id": a}).status_code == 200
    again = client.post(f"/events/{b}/duplicate_of", json={"event_id": a})  # confirmed already
    assert again.status_code == 200 and again.json()["duplicate_of"] == a
    other = client.post(f"/events/{b}/duplicate_of", json={"event_id": c})
    assert other.status_code == 409 and "unlink" in other.json()["message"]
    chained = client.post(f"/events/{c}/duplicate_of", json={"event_id": b})
    assert chained.status_code == 409 and f"link to event {a}" in chained.json()["message"]
    around = client.post(f"/events/{a}/duplicate_of", json={"event_id": b})
    assert around.status_code == 409 and "turn the link around" in around.json()["message"]
    master = client.post(f"/events/{a}/duplicate_of", json={"event_id": c})
    assert master.status_code == 409 and "duplicates of its own" in master.json()["message"]

    unlinked = client.delete(f"/events/{b}/duplicate_of", params={"note": "不是同一处"})
    assert unlinked.status_code == 200 and unlinked.json()["duplicate_of"] is None
    assert client.delete(f"/events/{b}/duplicate_of").status_code == 409
    assert await db.fetchval("SELECT duplicate_of FROM events WHERE id = $1", b) is None


async def test_a_matter_set_to_merge_links_only_similar_same_matter_reports(
    client, db, secret, matter_settings
):
    await matter_settings(RAMP, auto_merge=True)
    spot = await free_spot(db, "LI-PLANKEN")
    text = "门前私自用水泥接坡占用人行道"
    first = post_order(client, secret, order(RAMP, spot, "违章接坡", text)).json()
    act(client, first["id"], "dispatch")
    act(client, first["id"], "sign_for")
    same = post_order(client, secret, order(RAMP, north(spot, 20), "违章接坡", text)).json()
    unlike = post_order(client, secret, order(RAMP, north(spot, 25), "接坡", "夜间施工噪音扰民严重")).json()
    assert same["duplicate_of"] == first["id"]
    assert unlike["duplicate_of"] is None  # below the similarity threshold: only offered
    offered = client.get(f"/events/{unlike['id']}").json()["duplicate_candidates"]
    assert first["id"] in [c["event_id"] for c in offered]
    # Linked on its own, it caught up with its original at once: its own 签收.
    stored = client.get(f"/events/{same['id']}").json()
    assert stored["state"] == "signed_for"
    assert [c["kind"] for c in await callbacks(db, same["id"])] == ["signed_for"]
    link_row = next(h for h in stored["history"] if h["action"] == "link_duplicate")
    assert link_row["actor"] == "system" and link_row["data"]["confirmed"] is False


async def test_matter_merge_options_are_validated(client):
    unknown = client.patch(f"/matters/{RAMP}", json={"related_matters": ["EV-99-99"]})
    assert unknown.status_code == 422
    assert unknown.json()["fields"][0]["field"] == "body.related_matters"
    assert "EV-99-99" in unknown.json()["message"]
    null = client.patch(f"/matters/{RAMP}", json={"auto_merge": None})
    assert null.status_code == 422 and null.json()["fields"][0]["field"] == "body.auto_merge"
