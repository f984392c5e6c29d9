"""The leaders' dashboard (issue 11 item 3) in Debian's Chromium at 1600×1000.

Seeded events in weeks of their own: the page draws its charts (canvas present, series not
empty) with exactly the numbers the APIs answer the same account (summary by unit, the
summary per ISO week for the trend, the hotspot cells); the filters change the data; the
download button points to the Excel export of the period; Chinese first, English by the
switch; nothing is requested outside the app.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from gridsvc.duban.service import set_leader
from tests.browser.conftest import Outside, log_in
from tests.hotspots_support import World, centre, clear, grids_at, new_world, seed

pytestmark = pytest.mark.usefixtures("demo")
CHARTS = ("chart-units", "chart-trend", "chart-hotspots")


async def seeded(db: Any) -> World:
    """Period = weeks 0 and 1 (7 events), one more in week -1. A and B in Vaduz, C in Eschen."""
    world = await new_world(db)
    p = world.places
    grids = {cell: await grids_at(db, centre(cell)) for cell in (p.a, p.b, p.c)}
    assert grids[p.a].get("enforcement") and grids[p.c].get("enforcement")
    for day in (0, 2, 4):
        await seed(db, world, p.a, world.day(0, day), grids=grids[p.a])
    await seed(db, world, p.a, world.day(1, 1), matter=1, grids=grids[p.a])
    await seed(db, world, p.b, world.day(1, 2), matter=1, grids=grids[p.b], count=2)
    await seed(db, world, p.c, world.day(0, 3), grids=grids[p.c])
    await seed(db, world, p.a, world.day(-1, 3), grids=grids[p.a])
    return world


async def settled(page: Page) -> None:
    await expect(page.locator("#dashboard")).not_to_have_attribute("data-loading", "1")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")


async def option(page: Page, testid: str) -> dict[str, Any]:
    """The chart's ECharts option as drawn (series, axes), and whether a canvas is there."""
    return dict(
        await page.evaluate(
            """id => { const el = document.querySelector(`[data-testid=${id}]`);
                const chart = echarts.getInstanceByDom(el); const o = chart.getOption();
                return {canvas: !!el.querySelector('canvas'), series: (o.series || []).map(
                  s => ({name: s.name, data: s.data})), x: ((o.xAxis || [])[0] || {}).data || null,
                  y: ((o.yAxis || [])[0] || {}).data || null}; }""",
            testid,
        )
    )


def percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 1000) / 10


def mondays(start: Any, end: Any) -> list[Any]:
    first = start - timedelta(days=start.weekday())
    return [first + timedelta(weeks=i) for i in range(((end - first).days // 7) + 1)]


async def check_against_api(page: Page, http: httpx.AsyncClient, state: dict[str, str]) -> dict[str, Any]:
    """Every chart's numbers are the APIs' (same account, same filters)."""
    await settled(page)
    scope = {"jurisdiction": state["jurisdiction"]} if state.get("jurisdiction") else {}
    summary = (
        await http.get(
            "/reports/summary", params={"from": state["from"], "to": state["to"], "by": state["by"], **scope}
        )
    ).json()
    units = await option(page, "chart-units")
    assert units["canvas"]
    assert units["x"] == [r["name"] for r in summary["rows"]]
    named = {s["name"]: s["data"] for s in units["series"]}
    assert named["受理量"] == [r["received"] for r in summary["rows"]] and any(named["受理量"])
    assert named["响应率"] == [percent(r["response_rate"]) for r in summary["rows"]]
    assert named["满意率"] == [percent(r["satisfaction_rate"]) for r in summary["rows"]]
    kpi = page.locator("[data-kpi=received] b")
    await expect(kpi).to_have_text(str(summary["total"]["received"]))
    # the trend: the summary of each ISO week of the period
    start, end = date.fromisoformat(state["from"]), date.fromisoformat(state["to"])
    weekly = []
    for m in mondays(start, end):
        week = {"from": m.isoformat(), "to": (m + timedelta(days=6)).isoformat(), "by": "township"}
        weekly.append((await http.get("/reports/summary", params={**week, **scope})).json()["total"])
    trend = await option(page, "chart-trend")
    assert trend["canvas"] and len(trend["x"]) == len(weekly)
    named = {s["name"]: s["data"] for s in trend["series"]}
    assert named["受理量"] == [w["received"] for w in weekly] and any(named["受理量"])
    # the hotspots: the top cells (largest on top, so reversed in the axis)
    hot = (
        await http.get(
            "/reports/hotspots",
            params={"from": state["from"], "to": state["to"], "res": state["res"], **scope},
        )
    ).json()
    top = [c for c in hot["cells"] if c["count"] > 0][:10]
    spots = await option(page, "chart-hotspots")
    assert spots["canvas"]
    named = {s["name"]: s["data"] for s in spots["series"]}
    assert named["本期事件数"] == [c["count"] for c in reversed(top)] and top
    return {"summary": summary, "hotspots": hot, "weekly": weekly}


async def test_the_dashboard_draws_the_apis_figures_offline(server, browser, artifacts, make_token, db):
    world = await seeded(db)
    try:
        operator = make_token("operator", display_name="值班员 看板")
        auth = {"Authorization": f"Bearer {operator}"}
        http = httpx.AsyncClient(base_url=server.url, timeout=30, headers=auth)
        outside = Outside(server.url)
        context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        outside.watch(context)
        start, end = world.monday, world.monday + timedelta(days=13)
        state = {"from": start.isoformat(), "to": end.isoformat(), "by": "township", "res": "9"}
        path = f"/dashboard?from={state['from']}&to={state['to']}"
        page = await log_in(context, server.url, operator, path)
        await expect(page.locator("h1")).to_contain_text("数据看板")
        seen = await check_against_api(page, http, state)
        assert seen["summary"]["total"]["received"] == 7  # by hand: the period's events
        assert [w["received"] for w in seen["weekly"]] == [4, 3]
        assert [c["count"] for c in seen["hotspots"]["cells"][:3]] == [4, 2, 1]
        # the download button: the Excel export of the same period
        href = await page.locator("[data-testid=dash-download]").get_attribute("href")
        assert href == f"/reports/export.xlsx?from={state['from']}&to={state['to']}"
        await page.screenshot(path=artifacts / "dashboard-1-townships.png", full_page=True)

        # filters: by department, H3 resolution 8 (A and B in one cell), then only week 1
        await page.select_option("[data-testid=dash-by]", "department")
        state["by"] = "department"
        await check_against_api(page, http, state)
        await page.select_option("[data-testid=dash-res]", "8")
        state["res"] = "8"
        seen = await check_against_api(page, http, state)
        assert seen["hotspots"]["cells"][0]["count"] == 6
        week1 = (world.monday + timedelta(days=7)).isoformat()
        await page.fill("[data-testid=dash-from]", week1)
        await page.locator("[data-testid=dash-from]").dispatch_event("change")
        state["from"] = week1
        seen = await check_against_api(page, http, state)
        assert seen["summary"]["total"]["received"] == 3 and len(seen["weekly"]) == 1
        href = await page.locator("[data-testid=dash-download]").get_attribute("href")
        assert href == f"/reports/export.xlsx?from={week1}&to={state['to']}"
        assert f"from={week1}" in page.url and "res=8" in page.url  # the view is in the URL

        # English by the switch: the charts are drawn again with English names
        await page.select_option("#lang", "en")
        await expect(page.locator("h1")).to_contain_text("Dashboard")
        # drawn again (disposed and made anew) with the English names
        await page.wait_for_function(
            "() => echarts.getInstanceByDom(document.getElementById('chart-units'))"
            ".getOption().series.some(s => s.name === 'Received')"
        )
        await page.screenshot(path=artifacts / "dashboard-2-english.png", full_page=True)
        await page.select_option("#lang", "zh-CN")
        await context.close()
        await http.aclose()
        assert outside.requests == []
    finally:
        await clear(db, world)


async def test_a_township_leader_sees_its_township(server, browser, make_token, db):
    """A township leader's dashboard: its township's figures and hotspot cells only."""
    world = await seeded(db)
    try:
        p = world.places
        vaduz = (await grids_at(db, centre(p.a)))["enforcement"]
        name = f"test-leader-{uuid.uuid4().hex[:8]}"
        token = make_token("leader", name=name)
        await set_leader(db, name=name, reach="township", township_codes=[vaduz["code"]])
        context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        outside = Outside(server.url)
        outside.watch(context)
        start, end = world.monday, world.monday + timedelta(days=13)
        page = await log_in(context, server.url, token, f"/dashboard?from={start}&to={end}")
        await settled(page)
        units = await option(page, "chart-units")
        assert units["x"] == [vaduz["name"]]
        assert {s["name"]: s["data"] for s in units["series"]}["受理量"] == [6]  # A 4, B 2 (not C)
        spots = await option(page, "chart-hotspots")
        assert {s["name"]: s["data"] for s in spots["series"]}["本期事件数"] == [2, 4]
        await context.close()
        assert outside.requests == []
    finally:
        await clear(db, world)
