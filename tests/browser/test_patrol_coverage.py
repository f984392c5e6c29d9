"""/ops shows this week's patrol coverage (issue 10 item 2) in Debian's Chromium.

The app on a frozen clock (Wednesday of 2026-W23; a dwell of 0, so a check-in alone marks
a visit done): the week is planned through the API (Monday's and Tuesday's visits are
missed and carried as it is read), a squad checks one of Wednesday's visits in, and the
operator's 巡查覆盖 drawer lists per township and per squad the same visited / planned
figures as GET /patrols/coverage, flags the missed visits, and colours the community grids
on the map (巡查网格). The top bar links the dashboard and the negative list. Nothing is
requested outside the app.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import expect

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from tests.browser.conftest import Outside, log_in
from tests.events_support import AppServer, free_port

pytestmark = pytest.mark.usefixtures("demo")

WEEK = "2026-W23"
WEDNESDAY = datetime(2026, 6, 3, 10, 0, tzinfo=ZoneInfo("Europe/Vaduz"))
LAYER = ".leaflet-control-layers label:has(span[data-layer='patrol'])"


@pytest.fixture(scope="module")
def server(settings, demo):  # noqa: ARG001
    quick = settings.model_copy(update={"patrol_dwell_min": 0.0})
    app = AppServer(create_app(quick, clock=FrozenClock(WEDNESDAY)), free_port()).__enter__()
    try:
        yield app
    finally:
        app.__exit__()


async def test_ops_shows_the_weeks_patrol_coverage(server, browser, artifacts, make_token, field_token):
    operator = make_token("operator")
    desk = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=server.url, headers=desk, timeout=60) as client:
        planned = await client.post("/patrols/plan", params={"jurisdiction": "LI", "week": WEEK})
        assert planned.status_code == 201, planned.text
        plans = planned.json()
        plan, visit = next(
            (p, v)
            for p in plans
            for v in p["visits"]
            if v["day"] == "2026-06-03" and v["carried_from"] is None and v["status"] == "planned"
        )
        squad = {"Authorization": f"Bearer {field_token('squad', squad_code=plan['squad_code'])}"}
        tap = await client.post(f"/patrols/visits/{visit['id']}/check_in", json=visit["point"], headers=squad)
        assert tap.status_code == 200 and tap.json()["status"] == "done", tap.text
        coverage = (await client.get("/patrols/coverage", params={"jurisdiction": "LI", "week": WEEK})).json()
        listed = (await client.get("/patrols", params={"jurisdiction": "LI", "week": WEEK})).json()
    assert coverage["total"]["visited"] >= 1 and coverage["total"]["missed"] >= 1
    assert coverage["townships"] and coverage["squads"]

    outside = Outside(server.url)
    context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    outside.watch(context)
    page = await log_in(context, server.url, operator, "/ops")
    nav = page.get_by_test_id("page-nav")
    await expect(nav.locator("a[href='/dashboard']")).to_have_text("数据看板")
    await expect(nav.locator("a[href='/inspection-lists']")).to_have_text("负面清单")
    panel = page.get_by_test_id("patrol-coverage")
    await expect(panel).to_be_hidden()
    await page.get_by_test_id("patrol-toggle").click()
    await expect(panel).to_have_attribute("data-loaded", WEEK)  # the app's week, not the browser's
    await expect(panel).to_contain_text("本周巡查覆盖")
    for kind, key, rows in (
        ("township", "township", coverage["townships"]),
        ("squad", "squad_code", coverage["squads"]),
    ):
        await expect(panel.locator(f"tr[data-{kind}]")).to_have_count(len(rows))
        for figures in rows:
            row = panel.locator(f"tr[data-{kind}='{figures[key]}']")
            await expect(row).to_have_attribute("data-visited", str(figures["visited"]))
            await expect(row).to_have_attribute("data-planned", str(figures["planned"]))
            await expect(row.get_by_test_id("pcov-figures")).to_have_text(
                f"{figures['visited']} / {figures['planned']}"
            )
            assert ("has-missed" in (await row.get_attribute("class") or "")) == (figures["missed"] > 0)
    total = panel.get_by_test_id("pcov-total")
    await expect(total).to_have_attribute("data-visited", str(coverage["total"]["visited"]))
    await expect(total).to_have_attribute("data-planned", str(coverage["total"]["planned"]))
    mine = panel.locator(f"tr[data-squad='{plan['squad_code']}']")
    assert int(await mine.get_attribute("data-visited") or 0) >= 1
    # the missed visits are listed, each once
    missed = [
        v for p in listed for v in p["visits"] if v["status"] == "missed" and not v["carried_from_week"]
    ]
    assert len(missed) == coverage["total"]["missed"]
    await expect(panel.get_by_test_id("pcov-missed")).to_have_count(len(missed))
    await expect(panel.get_by_test_id("pcov-missed").first).to_contain_text("漏巡")
    await page.screenshot(path=artifacts / "ops-patrol-coverage.png")

    # the map layer: every planned community grid coloured, the visited one green
    label = page.locator(LAYER)
    await expect(label).to_contain_text("巡查网格（本周）")
    await label.locator("input").check()
    grids = {v["grid_code"] for p in listed for v in p["visits"] if not v["carried_from_week"]}
    await expect(page.locator("body")).to_have_attribute("data-patrol-grids", str(len(grids)))
    done = {v["grid_code"] for p in listed for v in p["visits"] if v["status"] == "done"}
    await expect(page.locator("path.pcov-visited")).to_have_count(len(done))
    await page.screenshot(path=artifacts / "ops-patrol-grids.png")

    # English by the switch; the drawer closes
    await page.select_option("#lang", "en")
    await expect(panel).to_contain_text("Patrol coverage this week")
    await expect(nav.locator("a[href='/dashboard']")).to_have_text("Dashboard")
    await page.get_by_test_id("patrol-toggle").click()
    await expect(panel).to_be_hidden()
    assert outside.requests == []
    await context.close()
