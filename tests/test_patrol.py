"""巡查上报 (issue 8 item 7): grid heads and squads report what they find on patrol.

Through the real app and PostGIS: the report goes through the one intake flow (routed like
any event), is a ``patrol`` event, and stays in its reporter's history wherever it was
routed; the reporter may read it and add photos, not act on a case sent to someone else.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.access_support import png
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, delegated_matter, spot_in

pytestmark = pytest.mark.usefixtures("demo")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def quiet_grids(db: Any) -> list[dict[str, str]]:
    """The quiet community grids (tests/live_support.py) with their enforcement grid."""
    codes = [r["code"] for r in await db.fetch(QUIET_GRIDS + " ORDER BY code", list(BUSY_TOWNS))]
    rows = await db.fetch(
        "SELECT code, enforcement_code FROM current_grids WHERE layer = 'community' "
        "AND code = ANY($1::text[]) ORDER BY code",
        codes,
    )
    return [dict(r) for r in rows]


async def test_grid_head_report_is_routed_and_in_its_history(client: TestClient, db, field_token):
    grid = (await quiet_grids(db))[0]
    head = auth(field_token("grid_head", grid_codes=[grid["code"]], display_name="网格长 巡查"))
    me = client.get("/me", headers=head).json()
    matter = await delegated_matter(db)
    where = await spot_in(db, grid["code"])

    # the matter is picked from the searchable catalogue
    found = client.get("/matters", params={"q": matter, "kind": "event"}, headers=head)
    assert found.status_code == 200 and [m["code"] for m in found.json()] == [matter]

    created = client.post(
        "/events",
        json={
            "title": "巡查发现占道经营",
            "description": "路口东侧三个摊位占道",
            "matter_code": matter,
            "location": {**where, "crs": "wgs84"},
        },
        headers=head,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    # routed like any event: the township squad of the point's enforcement grid
    assert body["state"] == "routed"
    assert body["responsible"] == {
        "kind": "squad",
        "code": grid["enforcement_code"],
        "name": body["responsible"]["name"],
    }
    assert body["routing"]["rule"] == "delegated"
    event = client.get(f"/events/{body['id']}", headers=head).json()
    assert event["source"] == "patrol"
    assert event["reported_by"] == me["user_id"]
    assert event["history"][0]["actor"] == me["actor"]
    assert event["history"][0]["data"] == {"source": "patrol"}
    assert [h["action"] for h in event["history"]] == ["receive", "route"]
    history = client.get("/events", headers=head).json()["events"]
    assert body["id"] in [e["id"] for e in history]
    photo = client.post(
        f"/events/{body['id']}/attachments",
        files={"file": ("scene.png", png(), "image/png")},
        headers=head,
    )
    assert photo.status_code == 201, photo.text


async def test_squad_report_routed_elsewhere_stays_in_its_history(client: TestClient, db, field_token):
    grids = await quiet_grids(db)
    squads = client.get("/squads").json()
    # a squad that does not serve the grid where it reports
    grid = grids[0]
    reporter = next(s for s in squads if grid["enforcement_code"] not in s["grid_codes"])
    squad = auth(field_token("squad", squad_code=reporter["code"]))
    me = client.get("/me", headers=squad).json()
    created = client.post(
        "/events",
        json={
            "source": "patrol",
            "title": "跨镇巡查发现",
            "matter_code": await delegated_matter(db),
            "location": await spot_in(db, grid["code"]),
        },
        headers=squad,
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    assert created.json()["responsible"]["code"] == grid["enforcement_code"]

    # the desk sends it to the township's own squad
    local = next(s for s in squads if grid["enforcement_code"] in s["grid_codes"])
    sent = client.post(f"/events/{event_id}/actions/dispatch", json={"squad_id": local["id"]})
    assert sent.status_code == 200, sent.text

    # the reporter still sees it, and may add photos, but it is not its case to act on
    mine = client.get("/events", headers=squad).json()["events"]
    assert [e["id"] for e in mine if e["reported_by"] == me["user_id"]] == [event_id]
    assert client.get(f"/events/{event_id}", headers=squad).status_code == 200
    assert (
        client.post(
            f"/events/{event_id}/attachments",
            files={"file": ("more.png", png(), "image/png")},
            headers=squad,
        ).status_code
        == 201
    )
    assert client.post(f"/events/{event_id}/actions/sign_for", json={}, headers=squad).status_code == 404
    assert (
        client.post(
            f"/events/{event_id}/extensions", json={"minutes": 30, "reason": "x"}, headers=squad
        ).status_code
        == 404
    )
    assignments = client.get("/live/events", params={"assignments": "true"}, headers=squad).json()
    assert event_id not in [e["id"] for e in assignments["events"]]
    everything = client.get("/live/events", headers=squad).json()["events"]
    assert event_id in [e["id"] for e in everything]


async def test_field_report_needs_a_position_and_is_a_patrol(client: TestClient, db, field_token):
    grid = (await quiet_grids(db))[0]
    head = auth(field_token("grid_head", grid_codes=[grid["code"]]))
    where = await spot_in(db, grid["code"])
    no_position = client.post("/events", json={"title": "无定位"}, headers=head)
    assert no_position.status_code == 422
    assert [f["field"] for f in no_position.json()["fields"]] == ["body.location"]
    operator_source = client.post(
        "/events", json={"title": "冒充值班员", "source": "operator", "location": where}, headers=head
    )
    assert operator_source.status_code == 422
    assert [f["field"] for f in operator_source.json()["fields"]] == ["body.source"]
    with_caller = client.post(
        "/events",
        json={"title": "带来电人", "location": where, "reporter": {"name": "张三", "phone": "13900000000"}},
        headers=head,
    )
    assert with_caller.status_code == 422
    assert [f["field"] for f in with_caller.json()["fields"]] == ["body.reporter"]
    # nothing was stored by the refusals
    assert not await db.fetchval(
        "SELECT count(*) FROM events WHERE title = ANY($1)", ["无定位", "冒充值班员", "带来电人"]
    )
    # the desk still enters events without a position (an address to place later)
    desk = client.post("/events", json={"title": "只有地址", "address": "某村委会旁"})
    assert desk.status_code == 201 and desk.json()["responsible"]["kind"] == "triage"
