"""Validated 派遣/改派/分拨 targets (issue 8 item 3), through the real app and PostGIS.

A target must be a real squad, department or grid head of the event's jurisdiction, else 422
naming the field with the closest valid codes; the responsible code and name follow every
transfer, and the audit trail says from/to.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.events_support import VADUZ, post_order

pytestmark = pytest.mark.usefixtures("demo")

DELEGATED = "EV-01-03"  # 违章接坡: on the townships' delegation lists → the township squad


@pytest.fixture
async def routed(client: Any, db: asyncpg.Connection) -> int:
    """A fresh hotline work order in Vaduz, routed to the Vaduz squad, not yet dispatched."""
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    answer = post_order(
        client,
        secret,
        {
            "work_order_no": f"G{uuid.uuid4().hex[:12]}",
            "title": "违章接坡",
            "matter_code": DELEGATED,
            # a point of its own near the town hall (same matter nearby is only offered)
            "location": {"lat": VADUZ["lat"] - 0.004, "lng": VADUZ["lng"] + 0.002},
        },
    ).json()
    assert answer["state"] == "routed" and answer["responsible"]["code"] == "LI-VADUZ", answer
    return int(answer["id"])


def act(client: Any, event_id: int, action: str, body: dict[str, Any]) -> Any:
    return client.post(f"/events/{event_id}/actions/{action}", json=body)


async def unchanged(db: asyncpg.Connection, event_id: int) -> tuple[Any, ...]:
    row = await db.fetchrow(
        "SELECT state, responsible_kind, responsible_code, responsible_name, squad_id, "
        "(SELECT count(*) FROM event_transitions t WHERE t.event_id = e.id) AS trail "
        "FROM events e WHERE id = $1",
        event_id,
    )
    return tuple(row)


async def test_a_transfer_to_a_squad_that_does_not_exist_is_422_with_close_codes(client, db, routed):
    act(client, routed, "dispatch", {}).raise_for_status()
    before = await unchanged(db, routed)
    squads = {r["code"] for r in await db.fetch("SELECT code FROM squads")}
    grids = {r["code"] for r in await db.fetch("SELECT code FROM current_grids WHERE layer = 'enforcement'")}

    refused = act(
        client, routed, "transfer", {"target": {"kind": "squad", "code": "NOPE-99"}, "note": "改派"}
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    [field] = body["fields"]
    assert field["field"] == "body.target.code"
    assert "NOPE-99" in field["reason"]
    assert body["closest"] and set(body["closest"]) <= squads | grids
    assert await unchanged(db, routed) == before  # nothing moved, nothing written

    typo = act(client, routed, "transfer", {"target": {"kind": "squad", "code": "SQ-LI-SCHAN"}, "note": "x"})
    assert typo.status_code == 422 and typo.json()["closest"][0] == "SQ-LI-SCHAAN"


async def test_a_transfer_to_a_department_that_does_not_exist_is_422_with_close_codes(client, db, routed):
    act(client, routed, "dispatch", {}).raise_for_status()
    before = await unchanged(db, routed)
    departments = {r["code"] for r in await db.fetch("SELECT code FROM departments")}
    refused = act(
        client, routed, "transfer", {"target": {"kind": "department", "code": "no_such_dept"}, "note": "改派"}
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["fields"][0]["field"] == "body.target.code"
    assert body["closest"] and set(body["closest"]) <= departments
    assert await unchanged(db, routed) == before
    typo = act(client, routed, "transfer", {"target": {"kind": "department", "code": "ecolgy"}, "note": "x"})
    assert typo.status_code == 422 and typo.json()["closest"][0] == "ecology"


async def test_route_and_dispatch_targets_are_checked_too(client, db, routed):
    before = await unchanged(db, routed)
    head = act(client, routed, "dispatch", {"squad_id": 987654})
    assert head.status_code == 422 and head.json()["fields"][0]["field"] == "body.squad_id"
    sent = act(client, routed, "dispatch", {"target": {"kind": "grid_head", "code": "LI-VADUZ-99"}})
    assert sent.status_code == 422 and "LI-VADUZ-01" in sent.json()["closest"]
    assert await unchanged(db, routed) == before
    # An illegal action stays a 409 whatever it names.
    illegal = act(client, routed, "route", {"target": {"kind": "squad", "code": "NOPE-99"}})
    assert illegal.status_code == 409


async def test_after_a_transfer_the_event_names_the_new_unit_and_the_trail_says_from_to(client, db, routed):
    act(client, routed, "dispatch", {}).raise_for_status()
    schaan = await db.fetchrow("SELECT id, name_zh FROM squads WHERE code = 'SQ-LI-SCHAAN'")
    moved = act(
        client,
        routed,
        "transfer",
        {"target": {"kind": "squad", "code": "SQ-LI-SCHAAN", "name": "随便写的名字"}, "note": "瓦杜兹中队忙"},
    )
    assert moved.status_code == 200, moved.text
    event = moved.json()
    assert (event["responsible_kind"], event["responsible_code"]) == ("squad", "LI-SCHAAN")
    assert event["responsible_name"] == schaan["name_zh"]  # the register's name, not the request's
    assert event["squad_id"] == schaan["id"]
    row = event["history"][-1]
    assert row["action"] == "transfer"
    assert row["data"]["from"]["code"] == "LI-VADUZ"
    assert row["data"]["to"] == {"kind": "squad", "code": "LI-SCHAAN", "name": schaan["name_zh"]}

    to_department = act(
        client, routed, "transfer", {"target": {"kind": "department", "code": "ecology"}, "note": "涉及污染"}
    ).json()
    assert (to_department["responsible_kind"], to_department["responsible_code"]) == ("department", "ecology")
    assert to_department["responsible_name"] == "生态环境"
    assert to_department["history"][-1]["data"]["from"]["code"] == "LI-SCHAAN"
    # The hotline hears the new unit's name.
    signed = act(client, routed, "sign_for", {}).json()
    payload = await db.fetchval(
        "SELECT payload FROM outbox WHERE event_id = $1 AND kind = 'signed_for'", signed["id"]
    )
    assert payload["unit"] == "生态环境"


async def test_a_transfer_to_a_squad_alone_makes_that_squad_responsible(client, db, routed):
    act(client, routed, "dispatch", {}).raise_for_status()
    balzers = await db.fetchrow("SELECT id, name_zh FROM squads WHERE code = 'SQ-LI-BALZERS'")
    moved = act(client, routed, "transfer", {"squad_id": balzers["id"], "note": "就近支援"}).json()
    assert (moved["responsible_code"], moved["responsible_name"]) == ("LI-BALZERS", balzers["name_zh"])
    assert moved["squad_id"] == balzers["id"]
    assert moved["history"][-1]["data"]["to"]["code"] == "LI-BALZERS"


async def test_a_route_to_a_grid_head_names_the_head(client, db):
    created = client.post("/events", json={"title": "只有地址", "address": "瓦杜兹某处"}).json()
    head = await db.fetchval(
        "SELECT head_name FROM current_grids WHERE layer = 'community' AND code = 'LI-VADUZ-01'"
    )
    routed = act(
        client,
        created["id"],
        "route",
        {"target": {"kind": "grid_head", "code": "LI-VADUZ-01"}, "note": "请网格长核实"},
    )
    assert routed.status_code == 200, routed.text
    event = routed.json()
    assert (event["responsible_kind"], event["responsible_code"]) == ("grid_head", "LI-VADUZ-01")
    assert event["responsible_name"] == head
    assert event["history"][-1]["data"]["from"]["kind"] == "triage"
