"""The operator's live map and a grid head's phone inbox, in a real (headless) Chromium.

A signed 12345 work order appears on the map without a reload; the operator dispatches it
from the side panel; the grid head's inbox (its own token, a phone-sized screen) shows it,
signs for it, arrives (with the phone's position) and reports it handled with a photo; the
operator sees every state change live. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import FilePayload, expect

from tests.browser.conftest import PHONE, Outside, event_marker, log_in, png
from tests.events_support import post_order
from tests.live_support import delegated_matter, get, hotline_secret, spot_in, work_order

pytestmark = pytest.mark.usefixtures("demo")


async def test_operator_map_and_grid_head_inbox_live(server, browser, artifacts, make_token, db):
    operator = make_token("operator", display_name="值班员 演示")
    head = make_token("grid_head", grid_codes=["LI-VADUZ-01"], display_name="网格长 瓦杜兹01")
    where = await spot_in(db, "LI-VADUZ-01")
    outside = Outside(server.url)

    desk = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    # the base map: grid layers drawn from the database, Chinese labels, counters filled
    await expect(ops.locator(".leaflet-overlay-pane path").first).to_be_visible()
    assert await ops.locator(".leaflet-overlay-pane path").count() >= 30
    await expect(ops.locator(".leaflet-control-layers")).to_contain_text("社区网格")
    await expect(ops.locator("[data-counter='open'] span")).to_have_text("在办")
    await expect(ops.locator("#conn")).to_have_class("live")
    await expect(ops.locator(".sq").first).to_be_visible()
    await ops.screenshot(path=artifacts / "ops-1-loaded.png")

    # a signed 12345 work order appears on the map within 2 s, without a reload
    order = work_order(await delegated_matter(db), where, title="瓦杜兹路口占道经营")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = post_order(client, await hotline_secret(db), order)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    marker = await event_marker(ops, event_id, wait_ms=2000)
    await expect(marker).to_be_visible()
    await expect(marker).to_have_attribute("data-state", "routed")
    await expect(marker).to_have_attribute("data-sla", "on_time")
    await ops.screenshot(path=artifacts / "ops-2-new-work-order.png")

    # click it: routing explanation, candidates with ETA, audit trail; dispatch in one click
    # (on the marker itself: events of earlier tests and squad markers may lie on top of it
    # at this zoom, depending on the order the tests ran in)
    await marker.dispatch_event("click")
    panel = ops.locator("#panel")
    await expect(panel.locator("h2")).to_have_text("瓦杜兹路口占道经营")
    await expect(panel.locator("table.routing")).to_contain_text("属地赋权")
    # grids by name, the code in the title
    await expect(panel.locator("table.routing span[title='LI-VADUZ-01']")).to_have_text("瓦杜兹·Vaduz网格")
    await expect(panel.locator("table.cands tbody tr").first).to_be_visible()
    await expect(panel.locator("table.cands")).to_contain_text("分钟")
    await expect(panel.locator("ol.trail")).to_contain_text("分拨")
    await ops.screenshot(path=artifacts / "ops-3-panel.png")
    await panel.locator("button[data-act='dispatch']").click()
    await expect(panel).to_have_attribute("data-state", "dispatched", timeout=5000)
    await expect(marker).to_have_attribute("data-state", "dispatched", timeout=2000)
    await expect(panel.locator("ol.trail")).to_contain_text("派遣")

    # the grid head's inbox on a phone: its own token, the assignment is there
    phone = await browser.new_context(
        **PHONE,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"latitude": where["lat"], "longitude": where["lng"], "accuracy": 8},
    )
    outside.watch(phone)
    inbox = await log_in(phone, server.url, head, "/inbox")
    card = inbox.locator(f"article[data-id='{event_id}']")
    await expect(card).to_be_visible()
    await expect(card.locator("h2")).to_have_text("瓦杜兹路口占道经营")
    await expect(card).to_have_attribute("data-state", "dispatched")
    await inbox.screenshot(path=artifacts / "inbox-1-assigned.png")

    # 签收: the operator sees it live
    await card.locator("button[data-act='sign_for']").click()
    await expect(card).to_have_attribute("data-state", "signed_for")
    await expect(marker).to_have_attribute("data-state", "signed_for", timeout=2000)
    await expect(panel).to_have_attribute("data-state", "signed_for", timeout=2000)

    # 到场 with the phone's position
    await card.locator("button[data-act='arrive']").click()
    await expect(card).to_have_attribute("data-state", "on_scene")
    await expect(marker).to_have_attribute("data-state", "on_scene", timeout=2000)

    # 处置: reply text and a photo
    await card.locator("button[data-act='handle']").click()
    await card.locator("textarea[name='note']").fill("已劝离占道摊点，现场恢复通行。")
    await card.locator("input[name='photo']").set_input_files(
        files=[FilePayload(name="scene.png", mimeType="image/png", buffer=png())]
    )
    await inbox.screenshot(path=artifacts / "inbox-2-handle-form.png")
    await card.locator("button[type='submit']").click()
    await expect(card).to_have_count(0)
    await expect(inbox.locator("#toast")).to_contain_text("已处置")
    await inbox.screenshot(path=artifacts / "inbox-3-handled.png")
    await expect(marker).to_have_attribute("data-state", "handled", timeout=2000)
    await expect(panel).to_have_attribute("data-state", "handled", timeout=2000)
    await expect(panel.locator(".photos img")).to_have_count(1)
    await expect(panel.locator("ol.trail")).to_contain_text("已劝离占道摊点")
    await ops.screenshot(path=artifacts / "ops-4-handled.png")

    # what the phone sent is on record: the position with 到场, the photo with its event
    event = get(f"{server.url}/events/{event_id}", operator).json()
    arrive = next(h for h in event["history"] if h["action"] == "arrive")
    assert arrive["data"]["position"]["lat"] == pytest.approx(where["lat"], abs=1e-6)
    assert arrive["actor"].startswith("grid_head:")
    assert [h["action"] for h in event["history"]].count("attach") == 1

    # English on demand, remembered; times in the county's zone (Europe/Vaduz)
    await ops.select_option("#lang", "en")
    await expect(ops.locator("[data-counter='open'] span")).to_have_text("Open")
    await expect(panel.locator("h3").first).to_have_text("Routing explanation")
    await ops.reload()
    await expect(ops.locator("[data-counter='open'] span")).to_have_text("Open")
    zone = await ops.evaluate("JSON.parse(document.getElementById('gridsvc-config').textContent).timezone")
    assert zone == "Europe/Vaduz"
    await ops.screenshot(path=artifacts / "ops-5-english.png")

    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await phone.close()
    await desk.close()


async def test_pages_send_strangers_to_login_and_grid_heads_to_their_inbox(server, browser, make_token):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.url}/ops")
    assert "/login" in page.url
    head = make_token("grid_head", grid_codes=["LI-SCHAAN-01"])
    await page.fill("#token", head)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}/inbox")  # a grid head has no operator map
    await page.goto(f"{server.url}/ops")
    assert page.url.endswith("/inbox")
    await context.close()
