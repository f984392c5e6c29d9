"""The negative list and the 首违不罚 records on screen (/inspection-lists) in Debian's
Chromium: a target with three violations is listed with a warning, a first minor violation
of a 首违不罚 matter is shown as education; Chinese first, English by the switch; the export
buttons link the CSV / Excel files; nothing is requested outside the app."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from gridsvc.inspections.models import CREDIT_CHARSET, credit_check_char
from tests.browser.conftest import Outside, log_in

pytestmark = pytest.mark.usefixtures("demo")
VADUZ = {"lng": 9.5209, "lat": 47.1410}


async def violation(http: httpx.AsyncClient, target_id: int, day: date, matter: str, *, minor: bool) -> Any:
    planned = await http.post(
        "/inspections",
        json={
            "target_id": target_id,
            "department": "market",
            "matter_codes": [matter],
            "planned_on": str(day),
        },
    )
    assert planned.status_code == 201, planned.text
    result = await http.post(
        f"/inspections/{planned.json()['id']}/result",
        json={"violation": True, "minor": minor, "matter_code": matter, "note": "教育劝导"},
    )
    assert result.status_code == 200, result.text
    return result.json()


async def test_the_lists_show_the_negative_list_and_lenient_cases(server, browser, artifacts, make_token):
    operator = make_token("operator", display_name="值班员 清单")
    http = httpx.AsyncClient(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {operator}"})
    body = "91350100" + "".join(secrets.choice(CREDIT_CHARSET) for _ in range(9))
    name = f"清单测试店{secrets.token_hex(2)}"
    target = await http.post(
        "/inspection-targets",
        json={"name": name, "credit_code": body + credit_check_char(body), "type": "shop", "point": VADUZ},
    )
    assert target.status_code == 201, target.text
    target_id = target.json()["id"]
    matter = f"SC-标价{secrets.token_hex(2)}"
    admin = make_token("admin")
    added = await http.post(
        "/lenient-matters", json={"matter_code": matter}, headers={"Authorization": f"Bearer {admin}"}
    )
    assert added.status_code == 201
    first = date(2037, 3, 2)
    assert (await violation(http, target_id, first, matter, minor=True))["lenient"] is True
    for n in range(3):
        await violation(http, target_id, first + timedelta(days=14 * (n + 1)), "SC-食品", minor=False)

    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    outside = Outside(server.url)
    outside.watch(context)
    page = await log_in(context, server.url, operator, "/inspection-lists")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("h1")).to_have_text("负面清单与首违不罚")
    row = page.locator(f"[data-testid=negative-table] tr[data-target='{target_id}']")
    await expect(row).to_contain_text(name)
    await expect(row.locator("td").nth(3)).to_have_text("3")
    await expect(row.locator("td").nth(4)).to_have_text("警示")
    lenient = page.locator(f"[data-testid=lenient-table] tr[data-target='{target_id}']")
    await expect(lenient).to_contain_text(matter)
    assert (
        await page.locator("[data-testid=negative-xlsx]").get_attribute("href")
        == "/negative-list?format=xlsx"
    )
    await page.screenshot(path=artifacts / "inspection-lists-zh.png", full_page=True)

    await page.select_option("#lang", "en")
    await expect(page.locator("h1")).to_have_text("Negative list and first-violation leniency")
    await expect(row.locator("td").nth(4)).to_have_text("Warning")
    assert outside.requests == []
    await context.close()
    await http.aclose()
