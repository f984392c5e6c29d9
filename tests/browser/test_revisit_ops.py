"""The operator and a 重办 in a real (headless) Chromium: a 12345 work order handled and
closed, the citizen 不满意 on the hotline's signed 回访 callback, the case back on the map;
the operator sees the result and the counter in the side panel and declines the reopening
with a reason. Screenshots land in test-artifacts/."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.async_api import expect

from gridsvc.webhooks.signing import signed_headers
from tests.browser.conftest import Outside, event_marker, log_in
from tests.events_support import post_order
from tests.live_support import get, hotline_secret, order_in_a_quiet_grid

pytestmark = pytest.mark.usefixtures("demo")


async def test_operator_sees_a_revisit_and_declines_the_redo(
    server, browser, artifacts, make_token, db, database_url
):
    operator = make_token("operator", display_name="值班员 回访")
    secret = await hotline_secret(db)
    order = await order_in_a_quiet_grid(database_url)
    order["title"] = "回访不满意的占道经营"
    auth = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        created = await post_order(client, secret, order)
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        for action, body in (
            ("dispatch", {}),
            ("sign_for", {}),
            ("arrive", {}),
            ("handle", {"note": "已劝离"}),
            ("verify", {}),
            ("close", {}),
        ):
            done = await client.post(f"/events/{event_id}/actions/{action}", json=body, headers=auth)
            assert done.status_code == 200, (action, done.text)
        raw = json.dumps(
            {"work_order_no": order["work_order_no"], "satisfaction": "不满意", "comment": "摊位又回来了"},
            ensure_ascii=False,
        ).encode()
        revisit = await client.post(
            "/webhooks/12345/revisits",
            content=raw,
            headers=signed_headers(secret, raw, integration="hotline-demo"),
        )
        assert revisit.status_code == 201 and revisit.json()["reopened"] is True, revisit.text

    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    marker = await event_marker(ops, event_id)
    await expect(marker).to_have_attribute("data-state", "dispatched")
    await marker.dispatch_event("click")
    panel = ops.locator("#panel")
    await expect(panel.locator("h2")).to_have_text("回访不满意的占道经营")
    await expect(panel.locator("[data-testid='revisit-satisfaction']")).to_have_text("不满意")
    await expect(panel.locator("table.kv").first).to_contain_text("摊位又回来了")
    await expect(panel.locator("[data-testid='redo-count']")).to_have_text("1")
    await expect(panel.locator("ol.trail")).to_contain_text("重办")
    await expect(panel.locator("ol.trail")).to_contain_text("回访")
    await ops.screenshot(path=artifacts / "ops-redo-1-reopened.png")

    await panel.locator("[data-testid='decline-redo']").click()
    await panel.locator("[data-testid='redo-reason']").fill("诉求为私人纠纷，已向市民解释")
    await panel.locator("[data-testid='redo-submit']").click()
    await expect(panel).to_have_attribute("data-state", "closed", timeout=5000)
    await expect(panel.locator("ol.trail")).to_contain_text("不予重办")
    await expect(panel.locator("[data-testid='decline-redo']")).to_have_count(0)
    await expect(panel.locator("[data-testid='redo']")).to_be_visible()  # closed: may be redone
    await ops.screenshot(path=artifacts / "ops-redo-2-declined.png")

    event = get(f"{server.url}/events/{event_id}", operator).json()
    assert event["state"] == "closed" and event["redo_count"] == 0
    assert event["history"][-1]["action"] == "decline_redo"
    assert event["history"][-1]["actor"].startswith("operator:")
    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await desk.close()
