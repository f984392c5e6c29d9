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

from tests.browser.conftest import log_in
from tests.events_support import post_order
from tests.live_support import act, delegated_matter, hotline_secret, spot_in, start_server, work_order

pytestmark = pytest.mark.usefixtures("demo")


async def test_an_update_through_one_process_reaches_a_page_on_the_other(
        settings, browser, artifacts, make_token, db):
    operator = make_token("operator")
    first, second = start_server(settings), start_server(settings)
    try:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await log_in(context, first.url, operator, "/ops")
        order = work_order(await delegated_matter(db), await spot_in(db, "LI-SCHAAN-01"),
                           title="沙恩 跨进程推送")
        with httpx.Client(base_url=second.url, timeout=10) as client:
            created = post_order(client, await hotline_secret(db), order)
            assert created.status_code == 201, created.text
            event_id = created.json()["id"]
        marker = page.locator(f".ev[data-id='{event_id}']")
        await expect(marker).to_be_visible(timeout=2000)
        act(second.url, operator, event_id, "dispatch")
        await expect(marker).to_have_attribute("data-state", "dispatched", timeout=2000)
        await page.screenshot(path=artifacts / "ops-two-processes.png")
        await context.close()
    finally:
        second.__exit__()
        first.__exit__()
