"""回访 and 重办 through the real app and PostGIS: the hotline's signed satisfaction callback,
the reopening of a case the citizen was not satisfied with, and the operator's decisions."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from gridsvc.auth.scope import event_visible
from gridsvc.calendar.worktime import deadline
from gridsvc.events.sla import calendar_for, forget_calendars
from gridsvc.live import notices
from gridsvc.live.api import principal_of_user
from gridsvc.matters.service import get_matter
from gridsvc.webhooks.signing import signed_headers
from tests.auth_support import issue_token
from tests.live_support import hotline_secret, order_in_a_quiet_grid

pytestmark = pytest.mark.usefixtures("demo")

HOTLINE = "hotline-demo"


def post_revisit(
    client: Any,
    secret: str,
    body: dict[str, Any] | bytes,
    *,
    integration: str = HOTLINE,
    signature: str | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = signed_headers(secret, raw, integration=integration)
    if signature is not None:
        headers["X-Signature"] = signature
    return client.post("/webhooks/12345/revisits", content=raw, headers=headers)


def act(client: Any, event_id: int, action: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/events/{event_id}/actions/{action}", json=body)
    assert response.status_code == 200, (action, response.text)
    return dict(response.json())


async def hotline_case(client: Any, database_url: str, db: asyncpg.Connection, *, until: str) -> dict:
    """A 12345 work order in a quiet grid, taken by its squad along the main path up to
    ``until`` (dispatched, handled or closed)."""
    order = await order_in_a_quiet_grid(database_url)
    raw = json.dumps(order, ensure_ascii=False).encode()
    secret = await hotline_secret(db)
    created = client.post(
        "/webhooks/12345", content=raw, headers=signed_headers(secret, raw, integration=HOTLINE)
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    steps = [("dispatch", {}), ("sign_for", {}), ("arrive", {}), ("handle", {"note": "已清理完毕"})]
    steps += [("verify", {}), ("close", {})]
    for action, body in steps:
        view = act(client, event_id, action, **body)
        if view["state"] == until:
            break
    assert view["state"] == until
    return {"id": event_id, "order": order, "secret": secret, "view": view}


async def test_dissatisfied_reopens_the_case_to_the_same_unit(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="closed")
    before = case["view"]
    assert before["redo_count"] == 0 and before["satisfaction"] is None
    # the squad's own account, with a webhook: it must hear of the 重办 as of a dispatch
    squad_code = await db.fetchval("SELECT code FROM squads WHERE id = $1", before["squad_id"])
    name = f"revisit-squad-{uuid.uuid4().hex[:8]}"
    issue_token(database_url, "squad", name=name, squad_code=squad_code, webhook_url="http://127.0.0.1:9/n")
    try:
        await _reopen_and_check(client, db, case, before)
    finally:  # a receiver nobody runs: no later test's dispatch should be posted there
        await db.execute("UPDATE users SET webhook_url = NULL WHERE name = $1", name)


async def _reopen_and_check(client: Any, db: asyncpg.Connection, case: dict, before: dict) -> None:

    revisit = {
        "work_order_no": case["order"]["work_order_no"],
        "satisfaction": "不满意",
        "comment": "摊位第二天又摆出来了",
        "revisit_id": f"HF{uuid.uuid4().hex[:10]}",
        "visited_at": "2026-11-20T10:15:00+08:00",
    }
    answer = post_revisit(client, case["secret"], revisit)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["reopened"] is True and body["duplicate"] is False
    assert body["state"] == "dispatched" and body["event_id"] == case["id"]
    assert body["revisit"]["satisfaction"] == "dissatisfied"
    assert body["revisit"]["satisfaction_zh"] == "不满意"
    assert body["revisit"]["outcome"] == "reopened" and body["revisit"]["redo_count"] == 1

    view = client.get(f"/events/{case['id']}").json()
    # 重办: the same unit, dispatched again, the counter up, the 回访 stored on the case
    assert view["state"] == "dispatched" and view["redo_count"] == 1
    assert (view["squad_id"], view["responsible_kind"], view["responsible_code"]) == (
        before["squad_id"],
        before["responsible_kind"],
        before["responsible_code"],
    )
    assert view["satisfaction"] == "dissatisfied"
    assert view["satisfaction_comment"] == "摊位第二天又摆出来了"
    assert datetime.fromisoformat(view["revisited_at"]) == datetime.fromisoformat(revisit["visited_at"])
    assert view["closed_at"] is None and view["sla"]["stage"] == "sign_for"
    assert "sign_for" in view["allowed_actions"]
    # a new handling deadline: the matter's own limit from the reopening, on the calendar
    matter = await get_matter(db, code=view["matter_code"])
    assert matter is not None
    limit = matter["conditions"][0]
    forget_calendars()
    calendar = await calendar_for(db, jurisdiction_code="LI")
    reopened_at = datetime.fromisoformat(view["dispatched_at"])
    assert reopened_at > datetime.fromisoformat(before["dispatched_at"])
    expected = deadline(reopened_at, float(limit["limit_amount"]), limit["limit_unit"], calendar)
    assert datetime.fromisoformat(view["sla"]["handle_due_at"]) == expected
    assert body["revisit"]["handle_due_at"] is not None
    assert datetime.fromisoformat(body["revisit"]["handle_due_at"]) == expected
    # the audit trail: the 回访, then the 重办 with its counter and limit
    trail = [(h["action"], h["from_state"], h["to_state"]) for h in view["history"]]
    assert trail[-2:] == [("revisit", "closed", "closed"), ("redo", "closed", "dispatched")]
    redo_line = view["history"][-1]
    assert redo_line["data"]["redo_count"] == 1
    assert redo_line["data"]["handle_limit"] == {
        "amount": float(limit["limit_amount"]),
        "unit": limit["limit_unit"],
    }
    assert view["history"][-2]["note"] == "摊位第二天又摆出来了"

    # the unit is told as on dispatch: the fan-out job is queued with the change, and run
    # (as the worker runs it) it writes the squad account's notice of kind 重办
    job_payloads = [
        json.loads(bytes(r["payload"]))
        for r in await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = 'notices.fanout'")
    ]
    assert {"transition_id": redo_line["id"], "event_id": case["id"]} in job_payloads
    await notices.fan_out(
        db, transition_id=redo_line["id"], principal_of=principal_of_user, visible=event_visible
    )
    written = await db.fetch(
        "SELECT n.kind, n.payload, u.role, u.squad_id FROM recipient_notices n JOIN users u "
        "ON u.id = n.user_id WHERE n.transition_id = $1",
        redo_line["id"],
    )
    squad_notices = [r for r in written if r["role"] == "squad" and r["squad_id"] == before["squad_id"]]
    assert squad_notices and all(r["kind"] == "redo" for r in squad_notices)
    payload = squad_notices[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["kind_zh"] == "重办" and payload["event_id"] == case["id"]

    # the same callback again (re-signed, as a retry would be): the first answer, nothing new
    again = post_revisit(client, case["secret"], revisit)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["revisit"]["id"] == body["revisit"]["id"]
    assert client.get(f"/events/{case['id']}").json()["redo_count"] == 1
    assert await db.fetchval("SELECT count(*) FROM revisits WHERE event_id = $1", case["id"]) == 1
    listed = client.get(f"/events/{case['id']}/revisits").json()["revisits"]
    assert [(r["satisfaction"], r["outcome"]) for r in listed] == [("dissatisfied", "reopened")]


async def test_satisfied_is_stored_and_does_not_reopen(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="closed")
    answer = post_revisit(
        client,
        case["secret"],
        {"work_order_no": case["order"]["work_order_no"], "satisfaction": "满意", "comment": "处理及时"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["reopened"] is False and body["state"] == "closed"
    assert body["revisit"]["outcome"] == "recorded"
    view = client.get(f"/events/{case['id']}").json()
    assert view["state"] == "closed" and view["redo_count"] == 0
    assert (view["satisfaction"], view["satisfaction_comment"]) == ("satisfied", "处理及时")
    assert view["closed_at"] == case["view"]["closed_at"]
    assert [h["action"] for h in view["history"]][-1] == "revisit"
    assert "redo" not in [h["action"] for h in view["history"]]
    # queryable for the figures: by result, with the period's counts
    listed = client.get("/revisits", params={"satisfaction": "satisfied"}).json()
    assert case["id"] in [r["event_id"] for r in listed["revisits"]]
    assert all(r["satisfaction"] == "satisfied" for r in listed["revisits"])
    summary = listed["summary"]
    assert summary["satisfied"] >= 1 and summary["revisits"] >= summary["satisfied"]
    assert await db.fetchval(
        "SELECT count(*) FROM events WHERE id = $1 AND satisfaction = 'satisfied'", case["id"]
    )
    # the same content delivered again without a 回访 number: the same callback
    again = post_revisit(
        client,
        case["secret"],
        {"work_order_no": case["order"]["work_order_no"], "satisfaction": "满意", "comment": "处理及时"},
    )
    assert again.status_code == 200 and again.json()["revisit"]["id"] == body["revisit"]["id"]


async def test_basically_satisfied_and_dissatisfied_on_an_open_case_do_not_reopen(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="dispatched")
    order_no = case["order"]["work_order_no"]
    fine = post_revisit(client, case["secret"], {"work_order_no": order_no, "satisfaction": "基本满意"})
    assert fine.status_code == 201 and fine.json()["reopened"] is False
    early = post_revisit(client, case["secret"], {"work_order_no": order_no, "satisfaction": "不满意"})
    assert early.status_code == 201, early.text
    assert early.json()["reopened"] is False and "still open" in early.json()["revisit"]["reason"]
    view = client.get(f"/events/{case['id']}").json()
    assert view["state"] == "dispatched" and view["redo_count"] == 0
    assert view["satisfaction"] == "dissatisfied"  # the latest result


async def test_bad_callbacks_are_refused_naming_the_problem(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="handled")
    order_no = case["order"]["work_order_no"]
    good = {"work_order_no": order_no, "satisfaction": "不满意"}
    # signature, integration
    forged = post_revisit(client, case["secret"], good, signature="sha256=" + "0" * 64)
    assert forged.status_code == 401 and "signature" in forged.json()["message"]
    wrong_secret = post_revisit(client, "not-the-secret", good)
    assert wrong_secret.status_code == 401
    stranger = post_revisit(client, case["secret"], good, integration="no-such-hotline")
    assert stranger.status_code == 401
    # unknown work order
    unknown = post_revisit(client, case["secret"], {"work_order_no": "NOPE-404", "satisfaction": "满意"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["fields"][0]["field"] == "body.work_order_no"
    # fields
    for body, field in (
        ({"work_order_no": order_no, "satisfaction": "一般"}, "body.satisfaction"),
        ({"work_order_no": order_no}, "body.satisfaction"),
        ({"satisfaction": "满意"}, "body.work_order_no"),
        ({"work_order_no": order_no, "satisfaction": 3}, "body.satisfaction"),
        (
            {"work_order_no": order_no, "satisfaction": "满意", "visited_at": "2026-11-20T10:00"},
            "body.visited_at",
        ),
        ({"work_order_no": order_no, "satisfaction": "满意", "comment": "长" * 2001}, "body.comment"),
    ):
        refused = post_revisit(client, case["secret"], body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in [f["field"] for f in refused.json()["fields"]], refused.text
    broken = post_revisit(client, case["secret"], b"{not json")
    assert broken.status_code == 400 and broken.json()["error"] == "malformed_json"
    # nothing of it touched the case
    view = client.get(f"/events/{case['id']}").json()
    assert view["state"] == "handled" and view["satisfaction"] is None and view["redo_count"] == 0


async def test_operator_declines_the_reopening_and_the_hotline_hears_why(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="handled")
    order_no = case["order"]["work_order_no"]
    reopened = post_revisit(client, case["secret"], {"work_order_no": order_no, "satisfaction": "不满意"})
    assert reopened.status_code == 201 and reopened.json()["reopened"] is True
    act(client, case["id"], "sign_for")
    declined = client.post(
        f"/events/{case['id']}/redo/decline", json={"reason": "诉求为私人纠纷，不属执法范围，已向市民解释"}
    )
    assert declined.status_code == 200, declined.text
    view = declined.json()
    assert view["state"] == "closed" and view["redo_count"] == 0
    assert view["history"][-1]["action"] == "decline_redo"
    assert view["history"][-1]["note"] == "诉求为私人纠纷，不属执法范围，已向市民解释"
    stored = await db.fetchrow(
        "SELECT declined_by, decline_reason FROM revisits WHERE event_id = $1", case["id"]
    )
    assert stored["declined_by"] and stored["decline_reason"].startswith("诉求为私人纠纷")
    # the hotline is told the case is closed, and why
    messages = client.get("/outbox", params={"event_id": case["id"]}).json()["messages"]
    closing = [m for m in messages if m["kind"] == "closed"]
    assert closing and closing[0]["payload"]["text"] == "诉求为私人纠纷，不属执法范围，已向市民解释"
    # nothing left to decline; a reason is required
    again = client.post(f"/events/{case['id']}/redo/decline", json={"reason": "再次"})
    assert again.status_code == 409
    empty = client.post(f"/events/{case['id']}/redo/decline", json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "body.reason"


async def test_operator_redo_of_a_closed_case_and_not_of_an_open_one(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="closed")
    redone = client.post(f"/events/{case['id']}/redo", json={"note": "督查发现问题反弹"})
    assert redone.status_code == 200, redone.text
    assert redone.json()["state"] == "dispatched" and redone.json()["redo_count"] == 1
    assert redone.json()["history"][-1]["action"] == "redo"
    twice = client.post(f"/events/{case['id']}/redo", json={"note": "再次"})
    assert twice.status_code == 409 and twice.json()["state"] == "dispatched"
    assert client.post("/events/999999999/redo", json={"note": "x"}).status_code == 404


async def test_concurrent_deliveries_of_one_callback_reopen_once(client, database_url, db):
    case = await hotline_case(client, database_url, db, until="closed")
    revisit = {"work_order_no": case["order"]["work_order_no"], "satisfaction": "不满意", "revisit_id": "R-1"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post_revisit(client, case["secret"], revisit), range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1 and statuses.count(200) == 7, statuses
    view = client.get(f"/events/{case['id']}").json()
    assert view["redo_count"] == 1
    assert [h["action"] for h in view["history"]].count("redo") == 1


async def test_auto_redo_off_leaves_the_decision_to_the_operator(settings, database_url, db):
    from fastapi.testclient import TestClient

    from gridsvc.app import create_app
    from tests.auth_support import bearer

    with TestClient(create_app(settings.model_copy(update={"revisit_auto_redo": False}))) as own:
        own.headers.update(bearer(database_url, "admin"))
        case = await hotline_case(own, database_url, db, until="closed")
        answer = post_revisit(
            own, case["secret"], {"work_order_no": case["order"]["work_order_no"], "satisfaction": "不满意"}
        )
        assert answer.status_code == 201 and answer.json()["reopened"] is False
        assert "operator" in answer.json()["revisit"]["reason"]
        assert own.get(f"/events/{case['id']}").json()["state"] == "closed"
        assert own.post(f"/events/{case['id']}/redo", json={"note": "回访不满意"}).json()["redo_count"] == 1
