"""Two app processes' worth of app on one database: a page connected to one of them sees an
update made through the other, because every process LISTENs to PostgreSQL.

(In production the two sit behind one address — a reverse proxy or load balancer — and a
page may be connected to either; here each has its own port, which is the same thing as far
as the fan-out is concerned.)
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import event_marker, log_in
from tests.events_support import post_order
from tests.live_support import act, delegated_matter, hotline_secret, spot_in, start_server, work_order

pytestmark = pytest.mark.usefixtures("demo")


async def test_an_update_through_one_process_reaches_a_page_on_the_other(
    settings, browser, artifacts, make_token, db
):
    operator = make_token("operator")
    first, second = start_server(settings), start_server(settings)
    try:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await log_in(context, first.url, operator, "/ops")
        order = work_order(
            await delegated_matter(db), await spot_in(db, "LI-SCHAAN-01"), title="沙恩 跨进程推送"
        )
        with httpx.Client(base_url=second.url, timeout=10) as client:
            created = post_order(client, await hotline_secret(db), order)
            assert created.status_code == 201, created.text
            event_id = created.json()["id"]
        marker = await event_marker(page, event_id, wait_ms=2000)
        await expect(marker).to_be_visible()
        act(second.url, operator, event_id, "dispatch")
        await expect(marker).to_have_attribute("data-state", "dispatched", timeout=2000)
        await page.screenshot(path=artifacts / "ops-two-processes.png")
        # 改派 from the panel: a target squad and a reason in the inline form
        await marker.dispatch_event("click")  # other tests' markers may lie on top of it
        panel = page.locator("#panel")
        await panel.locator("button[data-act='transfer-form']").click()
        form = panel.locator("form.target")
        await form.locator("select[name='squad']").select_option(index=1)
        chosen = await form.locator("select[name='squad'] option").nth(1).text_content()
        await form.locator("textarea[name='note']").fill("属地中队处置力量不足，改派邻近中队")
        await form.locator("button[type='submit']").click()
        await expect(panel.locator("ol.trail")).to_contain_text("改派", timeout=5000)
        await expect(panel.locator("table.kv").first).to_contain_text(chosen or "?")
        await page.screenshot(path=artifacts / "ops-transfer.png")
        await context.close()
    finally:
        second.__exit__()
        first.__exit__()
