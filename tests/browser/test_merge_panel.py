"""The operator confirms a 并单 candidate from the /ops event panel, in a real (headless)
Chromium over the real app: two 12345 work orders of the same matter 20 m apart; the second's
panel offers the first with distance, minutes apart and similarity; one click links them, the
panel then names the original and offers the undo. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Outside, event_marker, log_in
from tests.events_support import post_order
from tests.live_support import get, hotline_secret, spot_in, work_order

pytestmark = pytest.mark.usefixtures("demo")

RAMP = "EV-01-03"  # 违章接坡
METRES_PER_DEGREE_LAT = 111_320.0


async def test_operator_confirms_a_merge_candidate_from_the_panel(server, browser, artifacts, make_token, db):
    operator = make_token("operator", display_name="值班员 并单")
    where = await spot_in(db, "LI-MAUREN-01")
    near = {"lat": where["lat"] + 20 / METRES_PER_DEGREE_LAT, "lng": where["lng"]}
    secret = await hotline_secret(db)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first = post_order(client, secret, work_order(RAMP, where, title="门前违章接坡"))
        second = post_order(client, secret, work_order(RAMP, near, title="门前有人违章接坡"))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    original, duplicate = first.json()["id"], second.json()["id"]
    assert second.json()["duplicate_of"] is None  # offered, never linked on its own

    outside = Outside(server.url)
    desk = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    outside.watch(desk)
    ops = await log_in(desk, server.url, operator, "/ops")
    marker = await event_marker(ops, duplicate)
    await expect(marker).to_be_attached()
    await marker.dispatch_event("click")
    panel = ops.locator("#panel")
    await expect(panel.locator("h2")).to_have_text("门前有人违章接坡")
    offered = panel.locator("[data-testid='duplicate-candidates']")
    await expect(offered).to_be_visible()
    row = offered.locator(f"tr[data-candidate='{original}']")
    await expect(row).to_contain_text("门前违章接坡")
    await expect(row).to_contain_text("20 米")
    await expect(row).to_contain_text("%")
    await expect(panel.locator("h3", has_text="并单")).to_be_visible()
    await ops.screenshot(path=artifacts / "ops-merge-1-candidates.png")

    await panel.locator(f"[data-testid='merge-confirm-{original}']").click()
    linked = panel.locator("[data-testid='duplicate-of']")
    await expect(linked).to_contain_text(f"#{original}", timeout=5000)
    await expect(linked).to_contain_text("已并入事件")
    await expect(panel.locator("[data-testid='duplicate-candidates']")).to_have_count(0)
    await expect(panel.locator("ol.trail")).to_contain_text("并单")
    await expect(panel.locator("[data-testid='unlink-duplicate']")).to_have_text("取消并单")
    await ops.screenshot(path=artifacts / "ops-merge-2-confirmed.png")

    stored = get(f"{server.url}/events/{duplicate}", operator).json()
    assert stored["duplicate_of"] == original
    confirmation = next(h for h in stored["history"] if h["action"] == "link_duplicate")
    assert confirmation["actor"].startswith("operator:") and confirmation["data"]["confirmed"] is True
    master = get(f"{server.url}/events/{original}", operator).json()
    assert [d["id"] for d in master["duplicates"]] == [duplicate]

    # The undo is one click too.
    await panel.locator("[data-testid='unlink-duplicate']").click()
    await expect(panel.locator("[data-testid='duplicate-candidates']")).to_be_visible(timeout=5000)
    assert get(f"{server.url}/events/{duplicate}", operator).json()["duplicate_of"] is None

    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await desk.close()
