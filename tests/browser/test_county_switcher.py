"""The /ops county switcher (issue 12, two counties in one centre), in Debian's Chromium.

An operator sees every jurisdiction: the header's switcher lists Liechtenstein and Ninghua
(宁化县) in Chinese, the page opens on Liechtenstein; choosing Ninghua reopens the page on it
(``?j=350424``): the map is centred inside Ninghua's boundary, its grids come from
``/map/layers?jurisdiction=350424`` and Ninghua's squads are on the map. In English the same
choices carry the jurisdictions' own names. A grid head (one county) is sent to its inbox,
which has no switcher.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Outside, log_in

pytestmark = pytest.mark.usefixtures("demo")
NINGHUA = "350424"

# the map's centre lies inside the page's jurisdiction bounds (west, south, east, north)
CENTRE_INSIDE = """() => {
  const c = OpsMap.map.getCenter(), b = I18N.config.bounds;
  return !!b && c.lng >= b[0] && c.lng <= b[2] && c.lat >= b[1] && c.lat <= b[3];
}"""


async def test_an_operator_switches_the_map_from_liechtenstein_to_ninghua(
    server, browser, artifacts, make_token, db
):
    operator = make_token("operator", display_name="值班员 切换辖区")
    names = {
        r["code"]: r
        for r in await db.fetch(
            "SELECT code, name, coalesce(name_zh, name) AS name_zh FROM jurisdictions WHERE code = ANY($1)",
            ["LI", NINGHUA],
        )
    }
    assert names[NINGHUA]["name_zh"] == "宁化县"
    ninghua_squads = [
        str(r["id"])
        for r in await db.fetch(
            "SELECT s.id FROM squads s JOIN jurisdictions j ON j.id = s.jurisdiction_id WHERE j.code = $1",
            NINGHUA,
        )
    ]
    assert ninghua_squads

    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    switcher = ops.get_by_test_id("jurisdiction-switcher")
    await expect(switcher).to_be_visible()
    await expect(switcher).to_have_value("LI")
    # the demo's two counties first (in import order); other tests' jurisdictions may follow
    options = switcher.locator("option")
    await expect(options.nth(0)).to_have_text(names["LI"]["name_zh"])
    await expect(options.nth(1)).to_have_text("宁化县")
    assert await options.nth(1).get_attribute("value") == NINGHUA
    await expect(switcher).to_have_attribute("aria-label", "切换辖区")
    # Whatever the jurisdictions are called (other tests add long hostile names), the
    # switcher never pushes the header's controls off the screen.
    for control in ("#patrol-toggle", "#conn", "#lang", "#jurisdiction-switcher"):
        box = await ops.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1600, (control, box)
    await ops.wait_for_function(CENTRE_INSIDE)
    before = await ops.evaluate("() => OpsMap.map.getCenter()")
    await ops.screenshot(path=artifacts / "switcher-1-liechtenstein.png")

    # choose Ninghua: the page reopens on it
    async with ops.expect_navigation(url=f"**/ops?j={NINGHUA}"):
        await switcher.select_option(NINGHUA)
    await ops.wait_for_selector("body[data-ready='1']", timeout=15000)
    await expect(ops.locator("#jname")).to_have_text("宁化县")
    await expect(ops.get_by_test_id("jurisdiction-switcher")).to_have_value(NINGHUA)
    await ops.wait_for_function(CENTRE_INSIDE)
    after = await ops.evaluate("() => OpsMap.map.getCenter()")
    # Vaduz (47°N, 9.5°E) to Ninghua (26°N, 116.6°E): the map moved across the continent
    assert abs(after["lng"] - before["lng"]) > 90 and abs(after["lat"] - before["lat"]) > 15
    assert 116 < after["lng"] < 117.2 and 25.9 < after["lat"] < 26.6, after
    # Ninghua's grids (its townships' community grids) and its squads, in view
    await ops.wait_for_function(
        "() => Object.values(GRIDSVC_MAP.layers).some(g => g.getLayers().length > 0)", timeout=15000
    )
    squad = ops.locator(
        ", ".join(f".leaflet-squads-pane .sq[data-squad='{sid}']" for sid in ninghua_squads)
    ).first
    await expect(squad).to_be_visible(timeout=15000)
    box = await squad.bounding_box()
    assert box is not None and 0 <= box["x"] <= 1600 and 0 <= box["y"] <= 1000
    await ops.screenshot(path=artifacts / "switcher-2-ninghua.png")

    # in English the choices carry the jurisdictions' own names
    await ops.select_option("#lang", "en")
    options = ops.get_by_test_id("jurisdiction-switcher").locator("option")
    await expect(options.nth(0)).to_have_text(names["LI"]["name"])
    await expect(options.nth(1)).to_have_text(names[NINGHUA]["name"])
    await expect(ops.get_by_test_id("jurisdiction-switcher")).to_have_attribute(
        "aria-label", "Switch jurisdiction"
    )
    assert outside.requests == []
    await desk.close()


async def test_a_grid_head_of_one_county_gets_no_switcher(server, browser, make_token):
    head = make_token("grid_head", grid_codes=["LI-VADUZ-01"], display_name="网格长 无切换")
    field = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    # a field account sent to /ops lands in its inbox, on its own county and without a switcher
    inbox = await log_in(field, server.url, head, "/inbox")
    assert await inbox.evaluate("() => I18N.config.jurisdiction") == "LI"
    await expect(inbox.get_by_test_id("jurisdiction-switcher")).to_have_count(0)
    await inbox.goto(f"{server.url}/ops")
    await inbox.wait_for_url(f"{server.url}/inbox*")
    await expect(inbox.get_by_test_id("jurisdiction-switcher")).to_have_count(0)
    await field.close()
