"""From the work queue's 未定位 filter to a routed event, by a click on the map (issue 9,
"Done means"), in Debian's Chromium at 1600×1000.

An address-only 12345 work order the geocoder cannot place with confidence is listed under
the queue's "unlocated" filter; its row opens the panel with the geocoder's candidates (also
drawn on the map); the operator chooses 在地图上点选 and clicks the map where the event is.
The event is placed there and routed by the rules: it leaves the unlocated filter and its row
shows the township / grid and the responsible unit by name. (Picking a listed candidate is
tests/browser/test_geocode_panel.py's.)
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import expect

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


async def test_unlocated_filter_then_a_click_on_the_map_places_and_routes(
    server, browser, artifacts, make_token, db
):
    operator = make_token("operator", display_name="值班员 点图定位")
    tag = f"LOC{uuid.uuid4().hex[:8].upper()}"
    order = {
        "work_order_no": f"GL{uuid.uuid4().hex[:12]}",
        "title": f"只有街名的工单 {tag}",
        "content": "市民来电，只说了街名。",
        "matter_code": await delegated_matter(db),
        "address": VAGUE_ADDRESS,
    }
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = post_order(client, await hotline_secret(db), order)
    assert created.status_code == 201, created.text
    event_id = int(created.json()["id"])
    assert created.json()["state"] == "received"
    grid = await db.fetchval(QUIET_GRIDS + " ORDER BY code DESC LIMIT 1", list(BUSY_TOWNS))
    where = await spot_in(db, grid)

    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    queue = ops.locator("#queue")
    await expect(queue).to_have_attribute("data-ready", "1")
    rows = ops.locator("[data-testid=event-queue] tbody tr[data-event-id]")

    # 1. the 未定位 filter lists the address-only work order
    await ops.locator("[data-testid=event-search]").fill(tag)
    await expect(rows).to_have_count(1)
    located = ops.locator("select[data-facet='located']")
    await expect(located.locator("option[value='unlocated']")).to_have_text("未定位 (1)")
    await located.select_option("unlocated")
    await expect(queue).not_to_have_attribute("data-loading", "1")
    row = ops.locator(f"tr[data-event-id='{event_id}']")
    await expect(rows).to_have_count(1)
    await expect(row).to_have_attribute("data-located", "0")
    await expect(row).to_contain_text("未定位")
    await expect(row).to_contain_text(VAGUE_ADDRESS)

    # 2. its row opens the panel: the geocoder's candidates, listed and drawn on the map
    await row.click()
    panel = ops.locator("#panel")
    await expect(panel).to_have_attribute("data-event", str(event_id))
    await expect(panel).to_have_attribute("data-located", "false")
    candidates = panel.locator("[data-testid=geocode-candidate]")
    await expect(candidates.first).to_be_visible()
    await expect(candidates.first).to_contain_text(VAGUE_ADDRESS)
    drawn = await ops.evaluate(
        "() => { let n = 0; OpsMap.map.eachLayer(l => { if (l instanceof L.CircleMarker &&"
        " l.options.color === '#6a1b9a') n++; }); return n; }"
    )
    assert drawn == await candidates.count()
    await ops.screenshot(path=artifacts / "queue-locate-1-candidates.png")

    # 3. none of them is the place: 在地图上点选, then a click on the map where the event is
    await ops.evaluate("p => OpsMap.map.setView([p.lat, p.lng], 16, {animate: false})", where)
    await panel.locator("[data-testid=place-on-map]").click()
    await expect(panel.locator("[data-testid=pick-hint]")).to_be_visible()
    # The pixel of the spot, or the nearest one within 4 px (~6 m at z16) that a marker, a
    # label or a control does not cover: those take the click themselves (a squad's label
    # drawn over the spot would swallow it and the test would wait for nothing).
    point = await ops.evaluate(
        """p => {
          const m = OpsMap.map, c = m.latLngToContainerPoint([p.lat, p.lng]),
                box = m.getContainer().getBoundingClientRect(), seen = [];
          for (let r = 0; r <= 4; r++) for (let dx = -r; dx <= r; dx++) for (let dy = -r; dy <= r; dy++) {
            if (Math.max(Math.abs(dx), Math.abs(dy)) !== r) continue;
            const x = box.left + c.x + dx, y = box.top + c.y + dy, el = document.elementFromPoint(x, y);
            const cover = el && el.closest(".leaflet-marker-icon, .leaflet-tooltip, .leaflet-control");
            if (el && m.getContainer().contains(el) && !cover) return {x: x, y: y};
            if (cover) seen.push(cover.className);
          }
          return {covered: seen.slice(0, 3)};
        }""",
        where,
    )
    assert "x" in point, f"the spot is covered on the map: {point}"
    await ops.mouse.click(point["x"], point["y"])

    # 4. placed and routed by the rules: out of the unlocated filter, the unit and grid shown
    await expect(panel).to_have_attribute("data-located", "true", timeout=5000)
    await expect(panel).to_have_attribute("data-state", "routed")
    await expect(panel.locator("ol.trail")).to_contain_text("在地图上点选定位")
    placed = get(f"{server.url}/events/{event_id}", operator).json()
    assert distance_m((placed["lng"], placed["lat"]), (where["lng"], where["lat"])) < 10
    assert placed["grids"]["community"]["code"] == grid
    assert placed["responsible_kind"] == "squad" and placed["responsible_name"]
    await expect(rows).to_have_count(0, timeout=5000)
    await located.select_option("")
    await expect(rows).to_have_count(1)
    await expect(row).to_have_attribute("data-located", "1")
    await expect(row).not_to_contain_text("未定位")
    await expect(row).to_contain_text(placed["responsible_name"])
    await expect(row).to_contain_text(placed["grids"]["community"]["name"])
    await expect(row).to_contain_text(placed["grids"]["enforcement"]["name"])
    await expect(ops.locator(f".ev[data-id='{event_id}']")).to_be_visible(timeout=3000)
    await ops.screenshot(path=artifacts / "queue-locate-2-routed.png")

    # 5. why, said in Chinese with names (codes only in titles), the system's audit lines
    #    too; the English page writes the reason from the rule and its names
    town = placed["grids"]["enforcement"]
    routing = panel.locator("table.routing")
    await expect(routing).to_contain_text(f"在{town['name']}赋权事项清单第")
    await expect(routing).not_to_contain_text(town["code"])
    trail = panel.locator("ol.trail")
    await expect(trail).to_contain_text("系统地址未能自动定位")
    for english in ("delegation list", "located by", "system"):
        await expect(panel).not_to_contain_text(english)
    await ops.select_option("#lang", "en")
    await expect(routing).to_contain_text(f"On the delegation list v1 of {town['name']}")
    await expect(trail).to_contain_text("system")
    await ops.select_option("#lang", "zh-CN")
    await expect(routing).to_contain_text(f"在{town['name']}赋权事项清单第")
    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await desk.close()
