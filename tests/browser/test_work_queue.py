"""The work queue beside the map (issue 9 item 1) in Debian's Chromium at 1600×1000.

The queue lists every open event the operator may see, page by page, the address-only one
included; a search by work-order number leaves one row; a row click opens the event panel and
flies the map there; up/down/enter work from the keyboard; filters show their counts; the
export links carry the filters. Nothing is requested outside the app.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Outside, log_in
from tests.queue_support import build_world

pytestmark = pytest.mark.usefixtures("demo")


async def rows_shown(page: Page) -> list[int]:
    ids = await page.locator("[data-testid=event-queue] tbody tr[data-event-id]").evaluate_all(
        "rows => rows.map(r => +r.getAttribute('data-event-id'))"
    )
    return [int(i) for i in ids]


def open_events(http: httpx.Client, headers: dict[str, str]) -> tuple[set[int], int]:
    """Every open event the API lists for the operator, and the total it counts."""
    total = http.get("/events", params={"open": "true", "limit": 1, "counts": "true"}, headers=headers)
    found: set[int] = set()
    for offset in range(0, total.json()["total"], 500):
        page = http.get("/events", params={"open": "true", "limit": 500, "offset": offset}, headers=headers)
        found |= {e["id"] for e in page.json()["events"]}
    return found, int(total.json()["total"])


async def settled(page: Page) -> None:
    """The queue answered the last request (no reload in flight)."""
    await expect(page.locator("#queue")).not_to_have_attribute("data-loading", "1")


async def test_the_work_queue_beside_the_map(server, browser, artifacts, make_token, db):
    operator = make_token("operator", display_name="值班员 队列")
    desk_auth = {"Authorization": f"Bearer {operator}"}
    with httpx.Client(base_url=server.url, timeout=20) as http:
        world = await build_world(http, db, desk_auth)
        expected, total = open_events(http, desk_auth)
    assert set(world.ids.values()) <= expected and len(expected) == total

    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    queue = ops.locator("#queue")
    await expect(queue).to_have_attribute("data-ready", "1")
    await expect(ops.locator("[data-testid=event-queue]")).to_be_visible()
    await expect(ops.locator("#q-title")).to_have_text("工单队列")
    await expect(ops.locator("[data-testid=event-queue] thead")).to_contain_text("工单号")
    await ops.screenshot(path=artifacts / "queue-1-loaded.png")

    # every open event, page after page; the address-only one among them, marked unlocated
    await expect(queue).to_have_attribute("data-total", str(total))
    await ops.select_option("#q-sort", "received_at")
    await settled(ops)
    seen: list[int] = []
    while True:
        await settled(ops)
        seen += await rows_shown(ops)
        if await ops.locator("#q-next").is_disabled():
            break
        await ops.locator("#q-next").click()
        await expect(ops.locator("#q-page")).to_contain_text(f"第 {len(seen) + 1}–")
    assert len(seen) == len(set(seen)) and set(seen) == expected
    await ops.select_option("#q-sort", "due_at")
    await settled(ops)

    # search by work-order number: one row
    search = ops.locator("[data-testid=event-search]")
    await search.fill(world.orders["hotline_1"])
    rows = ops.locator("[data-testid=event-queue] tbody tr[data-event-id]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-event-id", str(world.ids["hotline_1"]))
    await expect(queue).to_have_attribute("data-total", "1")
    await expect(ops.locator("#q-csv")).to_have_attribute("href", re.compile(world.orders["hotline_1"]))

    # click: the panel opens and the map flies to the event
    await rows.first.click()
    panel = ops.locator("#panel")
    await expect(panel).to_have_attribute("data-event", str(world.ids["hotline_1"]))
    await expect(panel.locator("table.kv").first).to_contain_text(world.orders["hotline_1"])
    event = next(e for e in (await _events(server.url, operator, world.orders["hotline_1"])))
    await ops.wait_for_function(
        "([lat, lng]) => { const c = OpsMap.map.getCenter(); return Math.abs(c.lat - lat) < 0.001"
        " && Math.abs(c.lng - lng) < 0.001 && OpsMap.map.getZoom() >= 16; }",
        arg=[event["lat"], event["lng"]],
    )
    await ops.screenshot(path=artifacts / "queue-2-opened.png")

    # the world's events: six rows (the address-only one too); the unlocated filter leaves it
    await search.fill(world.tag)
    await expect(rows).to_have_count(6)
    unlocated = ops.locator(f"tr[data-event-id='{world.ids['address_only']}']")
    await expect(unlocated).to_have_attribute("data-located", "0")
    await expect(unlocated).to_contain_text("未定位")
    located = ops.locator("select[data-facet='located']")
    await expect(located.locator("option[value='unlocated']")).to_have_text("未定位 (1)")
    await located.select_option("unlocated")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-event-id", str(world.ids["address_only"]))
    await ops.screenshot(path=artifacts / "queue-3-unlocated.png")
    await ops.locator("#q-clear").click()
    await expect(search).to_have_value("")
    await search.fill(world.tag)
    await expect(rows).to_have_count(6)

    # keyboard: down from the search box into the list, down, up, enter opens the panel
    order = await rows_shown(ops)
    await search.press("ArrowDown")
    await expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
    await ops.keyboard.press("ArrowDown")
    await ops.keyboard.press("ArrowDown")
    await expect(rows.nth(2)).to_have_attribute("aria-selected", "true")
    await ops.keyboard.press("ArrowUp")
    await expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(rows.nth(0)).to_have_attribute("aria-selected", "false")
    await ops.keyboard.press("Enter")
    await expect(panel).to_have_attribute("data-event", str(order[1]))
    await ops.screenshot(path=artifacts / "queue-4-keyboard.png")

    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await desk.close()


async def _events(base_url: str, token: str, q: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        answer = await http.get("/events", params={"q": q}, headers={"Authorization": f"Bearer {token}"})
    return list(answer.json()["events"])
