"""督办 and whistles on screen, in a real (headless) Chromium over the real app.

A dispatched work order runs past 2× its sign-for limit (the escalation job runs with a
frozen clock): the operator sees the 督办 counter, opens the 督办 board, opens the event and
answers level 1 in writing in the panel; the township leader answers level 2 from the phone
inbox. Then the whistles board lists an open whistle with each department's state, lateness
(the app's clock is frozen 10 minutes after the summons) and score, as the API gives them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from playwright.async_api import FloatRect, expect

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from gridsvc.duban import flows
from tests.browser.conftest import PHONE, Outside, log_in
from tests.events_support import AppServer, free_port, post_order
from tests.live_support import get, hotline_secret, order_in_a_quiet_grid, spot_in
from tests.test_duban import make_leader

pytestmark = pytest.mark.usefixtures("demo")
CLOCK = FrozenClock()


@pytest.fixture(scope="module")
def server(settings, demo):  # noqa: ARG001
    app = AppServer(create_app(settings, clock=CLOCK), free_port()).__enter__()
    try:
        yield app
    finally:
        app.__exit__()


def apart(a: FloatRect | None, b: FloatRect | None) -> bool:
    """Two boxes on the screen share no pixel (either one missing counts as apart)."""
    if a is None or b is None:
        return True
    return (
        a["x"] + a["width"] <= b["x"] + 0.5
        or b["x"] + b["width"] <= a["x"] + 0.5
        or a["y"] + a["height"] <= b["y"] + 0.5
        or b["y"] + b["height"] <= a["y"] + 0.5
    )


async def test_operator_and_leader_answer_duban_and_see_whistles(
    server, browser, artifacts, make_token, db, database_url, settings
):
    operator = make_token("operator", display_name="值班员 督办")
    outside = Outside(server.url)

    # a work order, dispatched, left unsigned until 2× its sign-for limit
    order = await order_in_a_quiet_grid(database_url)
    order["title"] = "督办测试：店外占道经营"
    auth = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        event_id = (await post_order(client, await hotline_secret(db), order)).json()["id"]
        dispatched = await client.post(f"/events/{event_id}/actions/dispatch", json={}, headers=auth)
    assert dispatched.status_code == 200, dispatched.text
    row = await db.fetchrow(
        "SELECT stage_started_at, due_at, grids -> 'enforcement' ->> 'code' AS township "
        "FROM events WHERE id = $1",
        event_id,
    )
    leader = await make_leader(db, database_url, township=row["township"])
    late = FrozenClock(row["stage_started_at"] + 2 * (row["due_at"] - row["stage_started_at"]))
    assert await flows.escalate(db, default_levels=settings.duban_levels, clock=late, event_id=event_id) == 2

    desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    unreplied = get(f"{server.url}/live/counters", operator).json()["duban_unreplied"]
    counter = ops.get_by_test_id("counter-duban")
    await expect(counter.locator("b")).to_have_text(str(unreplied))
    await expect(counter).to_contain_text("督办待回复")

    # the 督办 board: this event's two levels, in Chinese
    await counter.click()
    board = ops.get_by_test_id("boards")
    rows = board.locator(f"[data-testid='duban-row'][data-event='{event_id}']")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="二级督办")).to_contain_text(order["title"])
    await expect(rows.filter(has_text="一级督办")).to_contain_text("签收")
    await ops.screenshot(path=artifacts / "duban-1-board.png")
    # the drawer lies beside the work queue, not over it
    await expect(ops.get_by_test_id("event-queue")).to_be_visible()
    assert apart(await board.bounding_box(), await ops.locator("#queue").bounding_box())

    # open the event from the board; answer level 1 in writing in its panel
    await rows.filter(has_text="一级督办").locator("a").click()
    panel = ops.locator("#panel")
    items = panel.get_by_test_id("duban-item")
    await expect(items).to_have_count(2)
    first = items.filter(has_text="一级督办")
    await first.get_by_test_id("duban-reply-text").fill("已电话督促中队，30分钟内签收。")
    await first.get_by_test_id("duban-reply-submit").click()
    await expect(first.get_by_test_id("duban-reply")).to_have_text("已电话督促中队，30分钟内签收。")
    await expect(panel.locator("ol.trail")).to_contain_text("督办回复")
    if await board.is_visible():  # nor under the event panel
        assert apart(await board.bounding_box(), await panel.bounding_box())
    await expect(counter.locator("b")).to_have_text(str(unreplied - 1))
    await ops.screenshot(path=artifacts / "duban-2-panel-reply.png")

    # the township leader's phone inbox: level 2, answered there
    phone = await browser.new_context(**PHONE, locale="zh-CN")
    outside.watch(phone)
    inbox = await log_in(phone, server.url, leader, "/inbox")
    card = inbox.locator("[data-testid='duban-card'][data-replied='0']").filter(has_text=order["title"])
    await expect(card).to_contain_text("二级督办")
    await card.get_by_test_id("duban-reply-text").fill("已约谈责任中队，今日内办结。")
    await inbox.screenshot(path=artifacts / "duban-3-leader-inbox.png")
    await card.get_by_test_id("duban-reply-submit").click()
    answered = inbox.locator("[data-testid='duban-card'][data-replied='1']").filter(has_text=order["title"])
    await expect(answered.get_by_test_id("duban-reply")).to_have_text("已约谈责任中队，今日内办结。")
    stored = get(f"{server.url}/duban?event_id={event_id}", operator).json()["duban"]
    assert [(d["level"], d["replied_by"].split(":")[0]) for d in stored] == [(2, "leader"), (1, "operator")]
    await expect(counter.locator("b")).to_have_text(str(unreplied - 2))

    # whistles: two departments summoned with 1 minute to 报到; one reports at once
    departments = [r["code"] for r in await db.fetch("SELECT code FROM departments ORDER BY code LIMIT 2")]
    where = await spot_in(db, "LI-VADUZ-01")
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=auth) as client:
        summoned = await client.post(
            "/whistles",
            json={
                "township_code": "LI-VADUZ",
                "title": "违建拆除联合执法",
                "departments": departments,
                "location": where,
                "ack_minutes": 1,
                "arrive_minutes": 60,
            },
        )
        assert summoned.status_code == 201, summoned.text
        whistle = summoned.json()
        ack = await client.post(f"/whistles/{whistle['id']}/departments/{departments[0]}/ack")
        assert ack.status_code == 200, ack.text
    CLOCK.set(datetime.fromisoformat(whistle["summoned_at"]) + timedelta(minutes=10))
    expected = get(f"{server.url}/whistles/board", operator).json()
    mine = next(w for w in expected["whistles"] if w["id"] == whistle["id"])
    by_department = {d["department"]: d for d in mine["departments"]}
    assert (
        by_department[departments[0]]["status"] == "acknowledged"
        and not by_department[departments[0]]["late"]
    )
    assert by_department[departments[1]]["status"] == "awaiting_ack" and by_department[departments[1]]["late"]

    await board.get_by_test_id("tab-whistles").click()
    card = board.locator(f"[data-testid='whistle-card'][data-id='{whistle['id']}']")
    await expect(card).to_contain_text("违建拆除联合执法")
    for code, shown in by_department.items():
        line = card.locator(f"[data-testid='whistle-dept'][data-department='{code}']")
        await expect(line.get_by_test_id("dept-status")).to_have_text(
            {"acknowledged": "已报到", "awaiting_ack": "待报到"}[shown["status"]]
        )
        await expect(line.get_by_test_id("dept-late")).to_have_text(
            f"迟到 {round(shown['late_minutes'])} 分钟" if shown["late"] else "按时"
        )
        await expect(line.get_by_test_id("dept-score")).to_have_text(
            "暂无" if shown["score"] is None else f"{shown['score']:.1f}"
        )
    await ops.screenshot(path=artifacts / "duban-4-whistles.png")
    assert outside.requests == []
    await desk.close()
    await phone.close()
