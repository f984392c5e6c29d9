"""The hotspot layer of /ops (issue 11 item 2) in Debian's Chromium.

Switched on in the layer control (zh-CN label), it draws exactly the cells GET
/reports/hotspots answers for the last four weeks (block cells, res 8, at the county's
zoom; street cells, res 9, close up), coloured by count with a legend; English by the
switch; nothing is requested outside the app.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Outside, log_in
from tests.hotspots_support import VADUZ, centre, clear, grids_at, new_world, seed

pytestmark = pytest.mark.usefixtures("demo")
HEAT = ".leaflet-control-layers label:has(span[data-layer='heat'])"


async def cells_expected(http: httpx.AsyncClient, res: int) -> list[dict]:
    """What the layer must draw: the API's cells of the last 28 days (county's day)."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Vaduz")).date()
    params = {"from": (today - timedelta(days=27)).isoformat(), "to": today.isoformat(), "res": str(res)}
    answer = await http.get("/reports/hotspots", params={**params, "jurisdiction": "LI"})
    assert answer.status_code == 200, answer.text
    return [c for c in answer.json()["cells"] if c["count"] > 0]


async def drawn(page: Page, expected: int) -> None:
    await expect(page.locator("body")).to_have_attribute("data-heat", str(expected))
    await expect(page.locator("path.heat-cell")).to_have_count(expected)


async def test_heat_layer_draws_the_hotspot_cells(server, browser, artifacts, make_token, db):
    world = await new_world(db)
    cell = world.places.a
    await seed(
        db,
        world,
        cell,
        datetime.now(UTC) - timedelta(hours=2),
        grids=await grids_at(db, centre(cell)),
        count=3,
    )
    try:
        operator = make_token("operator")
        http = httpx.AsyncClient(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {operator}"}
        )
        outside = Outside(server.url)
        context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        outside.watch(context)
        page = await log_in(context, server.url, operator, "/ops")
        label = page.locator(HEAT)
        await expect(label).to_contain_text("事件热点（近四周）")
        assert await page.locator("path.heat-cell").count() == 0  # off until switched on
        zoom = await page.evaluate("GRIDSVC_MAP.map.getZoom()")
        assert zoom < 15
        await label.locator("input").check()
        blocks = await cells_expected(http, 8)
        mine = next(c for c in blocks if c["cell"] == h3.cell_to_parent(cell, 8))
        assert mine["count"] >= 3
        await drawn(page, len(blocks))
        legend = page.locator("[data-testid=heat-legend]")
        await expect(legend).to_contain_text("近四周事件数")
        await expect(legend).to_contain_text(str(max(c["count"] for c in blocks)))
        await page.screenshot(path=artifacts / "ops-heat-1-blocks.png")

        # close up: street cells
        await page.evaluate(f"GRIDSVC_MAP.map.setView([{VADUZ[1]}, {VADUZ[0]}], 16, {{animate: false}})")
        streets = await cells_expected(http, 9)
        assert next(c for c in streets if c["cell"] == cell)["count"] >= 3
        await drawn(page, len(streets))
        await page.screenshot(path=artifacts / "ops-heat-2-streets.png")

        # English: the control's label; off again: nothing drawn, no legend
        await page.select_option("#lang", "en")
        await expect(page.locator(HEAT)).to_contain_text("Hotspots (last four weeks)")
        await page.locator(HEAT).locator("input").uncheck()
        await expect(page.locator("path.heat-cell")).to_have_count(0)
        await expect(legend).to_have_count(0)
        await page.select_option("#lang", "zh-CN")
        await context.close()
        await http.aclose()
        assert outside.requests == []
    finally:
        await clear(db, world)
