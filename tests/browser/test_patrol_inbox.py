"""A squad's phone shows today's patrol route and checks a visit in (issue 10 item 4).

Debian's Chromium, phone viewport, the squad's own token, the app on a frozen clock (a
Monday of a planned week): the inbox lists the day's visits in order (``patrol-visit`` rows)
and draws the route on its map; 到达打卡 sends the phone's GPS fix, inside the visit's
community grid, and the visit turns 已到达. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import expect

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from tests.browser.conftest import PHONE, Outside, log_in
from tests.events_support import AppServer, free_port

pytestmark = pytest.mark.usefixtures("demo")

MONDAY = datetime(2026, 4, 20, 7, 30, tzinfo=ZoneInfo("Europe/Vaduz"))  # 2026-W17


@pytest.fixture(scope="module")
def server(settings, demo):  # noqa: ARG001
    app = AppServer(create_app(settings, clock=FrozenClock(MONDAY)), free_port()).__enter__()
    try:
        yield app
    finally:
        app.__exit__()


async def test_squad_phone_shows_todays_route_and_checks_in(
    server, browser, artifacts, make_token, field_token
):
    admin = {"Authorization": f"Bearer {make_token('admin')}"}
    async with httpx.AsyncClient(base_url=server.url, headers=admin, timeout=60) as client:
        planned = await client.post("/patrols/plan", params={"jurisdiction": "LI", "week": "2026-W17"})
        assert planned.status_code == 201, planned.text
    plans = planned.json()
    plan = max(plans, key=lambda p: len([v for v in p["visits"] if v["day"] == "2026-04-20"]))
    today = [v for v in plan["visits"] if v["day"] == "2026-04-20"]
    assert today
    first = today[0]
    token = field_token("squad", squad_code=plan["squad_code"])
    outside = Outside(server.url)
    phone = await browser.new_context(
        **PHONE,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"latitude": first["point"]["lat"], "longitude": first["point"]["lng"], "accuracy": 5},
    )
    outside.watch(phone)
    inbox = await log_in(phone, server.url, token, "/inbox")
    route = inbox.get_by_test_id("patrol-route")
    await expect(route).to_contain_text("今日巡查路线")
    rows = inbox.get_by_test_id("patrol-visit")
    await expect(rows).to_have_count(len(today))
    assert [await r.get_attribute("data-visit-id") for r in await rows.all()] == [str(v["id"]) for v in today]
    await expect(rows.first).to_contain_text(first["grid_code"])
    # the route is drawn on the inbox map: a polyline and one numbered stop per visit
    await expect(inbox.locator("#inboxmap path.leaflet-interactive").first).to_be_attached()
    await expect(inbox.locator("#inboxmap .stop")).to_have_count(len(today))
    await inbox.screenshot(path=artifacts / "patrol-route-1.png")

    row = inbox.locator(f"[data-testid='patrol-visit'][data-visit-id='{first['id']}']")
    await row.get_by_test_id("patrol-check-in").click()
    await expect(inbox.locator("#toast")).to_contain_text("已打卡")
    await expect(row).to_have_attribute("data-status", "arrived")
    await expect(row.get_by_test_id("patrol-status")).to_have_text("已到达，停留中")
    await inbox.screenshot(path=artifacts / "patrol-route-2.png")
    async with httpx.AsyncClient(base_url=server.url, headers=admin, timeout=60) as client:
        listed = (await client.get("/patrols", params={"jurisdiction": "LI", "week": "2026-W17"})).json()
    visit = next(v for p in listed for v in p["visits"] if v["id"] == first["id"])
    assert visit["status"] == "arrived" and visit["checked_in_at"]
    assert outside.requests == []
    await phone.close()
