"""Placing an address-only work order from the operator's panel, in a real Chromium.

A 12345 work order whose address the geocoder cannot place with confidence stays unlocated;
its panel lists the geocoder's candidates. The operator either picks one or clicks the map,
and the event is placed and routed by the rules. (The panel is opened through
``window.OpsPanel.open``, what the work queue's row does on a click.)
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from gridsvc.geocode.index import distance_m
from tests.browser.conftest import Outside, log_in
from tests.events_support import post_order
from tests.live_support import (
    BUSY_TOWNS,
    QUIET_GRIDS,
    delegated_matter,
    get,
    hotline_secret,
    spot_in,
)

pytestmark = pytest.mark.usefixtures("demo")

# A street name that runs through several municipalities: never placed on its own.
VAGUE_ADDRESS = "Landstrasse"


async def unlocated_order(server, db, title: str) -> int:
    order = {
        "work_order_no": f"GP{uuid.uuid4().hex[:12]}",
        "title": title,
        "content": "市民来电，只说了街名。",
        "matter_code": await delegated_matter(db),
        "address": VAGUE_ADDRESS,
    }
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = post_order(client, await hotline_secret(db), order)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "received"
    return int(created.json()["id"])


async def open_panel(ops: Page, event_id: int) -> None:
    await ops.evaluate("id => window.OpsPanel.open(id)", event_id)
    await expect(ops.locator("#panel")).to_have_attribute("data-event", str(event_id))


async def test_operator_places_an_unlocated_work_order_by_candidate_or_map(
    server, browser, artifacts, make_token, db
):
    operator = make_token("operator", display_name="值班员 定位")
    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    panel = ops.locator("#panel")

    # 1. the candidates of the geocoder, in Chinese, and one click places the event
    first = await unlocated_order(server, db, "只有街名的工单一")
    await open_panel(ops, first)
    await expect(panel).to_have_attribute("data-located", "false")
    await expect(panel.locator("[data-testid=locate] h3")).to_have_text("定位")
    rows = panel.locator("[data-testid=geocode-candidate]")
    await expect(rows.first).to_be_visible()
    assert await rows.count() >= 2
    await expect(rows.first).to_contain_text(VAGUE_ADDRESS)
    # the audit row of the geocoder, said in Chinese (its stored note is the English contract)
    await expect(panel.locator("ol.trail")).to_contain_text("地址匹配")
    await expect(panel.locator("ol.trail")).to_contain_text("地址未能自动定位")
    await expect(panel.locator("ol.trail")).not_to_contain_text("not located")
    await ops.screenshot(path=artifacts / "geocode-1-candidates.png")
    answer = get(f"{server.url}/geocode?q={VAGUE_ADDRESS}", operator).json()
    quiet = next(
        i
        for i, c in enumerate(answer["candidates"])
        if not any(town.split("-")[1].lower() in (c["town"] or "").lower() for town in BUSY_TOWNS)
    )
    chosen = answer["candidates"][quiet]
    await rows.nth(quiet).locator("button[data-act='place-candidate']").click()
    await expect(panel).to_have_attribute("data-located", "true", timeout=5000)
    await expect(panel).to_have_attribute("data-state", "routed")
    await expect(panel.locator("ol.trail")).to_contain_text("按地址候选定位")
    placed = get(f"{server.url}/events/{first}", operator).json()
    assert distance_m((placed["lng"], placed["lat"]), (chosen["lng"], chosen["lat"])) < 1
    assert placed["responsible_kind"] == "squad"

    # 2. no good candidate: the operator clicks the map where the event is
    second = await unlocated_order(server, db, "只有街名的工单二")
    grid = await db.fetchval(QUIET_GRIDS + " ORDER BY code DESC LIMIT 1", list(BUSY_TOWNS))
    where = await spot_in(db, grid)
    await open_panel(ops, second)
    await expect(panel.locator("[data-testid=geocode-candidate]").first).to_be_visible()
    await ops.evaluate("p => window.OpsMap.map.setView([p.lat, p.lng], 16, {animate: false})", where)
    await panel.locator("[data-testid=place-on-map]").click()
    await expect(panel.locator("[data-testid=pick-hint]")).to_be_visible()
    point = await ops.evaluate(
        "p => { const m = window.OpsMap.map, xy = m.latLngToContainerPoint([p.lat, p.lng]),"
        " box = m.getContainer().getBoundingClientRect(); return {x: box.left + xy.x, y: box.top + xy.y}; }",
        where,
    )
    await ops.mouse.click(point["x"], point["y"])
    await expect(panel).to_have_attribute("data-located", "true", timeout=5000)
    await expect(panel).to_have_attribute("data-state", "routed")
    await expect(panel.locator("ol.trail")).to_contain_text("在地图上点选定位")
    await ops.screenshot(path=artifacts / "geocode-2-placed-on-map.png")
    placed = get(f"{server.url}/events/{second}", operator).json()
    # a click lands on a pixel: at z16 one pixel is ~1.6 m
    assert distance_m((placed["lng"], placed["lat"]), (where["lng"], where["lat"])) < 10
    assert placed["grids"]["community"]["code"] == grid
    assert placed["responsible_kind"] == "squad"
    marker = ops.locator(f".ev[data-id='{second}']")
    await expect(marker).to_be_visible(timeout=3000)
    assert outside.requests == []
    await desk.close()
