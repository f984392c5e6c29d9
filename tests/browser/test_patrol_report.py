"""A grid head reports a finding with a photo from the phone inbox (巡查上报, issue 8 item 7).

Debian's Chromium, phone viewport, the grid head's own token: open 巡查上报, search the
matter catalogue, pick the matter, write a note, attach a photo, the phone's GPS fix is
taken; the report is stored as a ``patrol`` event, routed by the rules like any event, with
the photo, and shows in 我的上报 with the unit it was routed to. A squad sets itself 忙碌
with a reason from its inbox. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import FilePayload, expect

from tests.browser.conftest import PHONE, Outside, log_in, png
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, get, spot_in

pytestmark = pytest.mark.usefixtures("demo")


async def test_grid_head_reports_a_finding_with_a_photo(
    server, browser, artifacts, make_token, field_token, db
):
    grid = await db.fetchval(QUIET_GRIDS + " ORDER BY code DESC LIMIT 1", list(BUSY_TOWNS))
    enforcement = await db.fetchval(
        "SELECT enforcement_code FROM current_grids WHERE layer = 'community' AND code = $1", grid
    )
    matter = await db.fetchrow(
        "SELECT code, name FROM matters WHERE owner_department = 'urban_management' "
        "AND kind = 'event' AND handling_level = 'township' AND NOT auto_dispatch ORDER BY code LIMIT 1"
    )
    where = await spot_in(db, grid)
    head = field_token("grid_head", grid_codes=[grid], display_name="网格长 巡查")
    operator = make_token("operator")
    outside = Outside(server.url)

    phone = await browser.new_context(
        **PHONE,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"latitude": where["lat"], "longitude": where["lng"], "accuracy": 6},
    )
    outside.watch(phone)
    inbox = await log_in(phone, server.url, head, "/inbox")
    await expect(inbox.locator("[data-testid='my-reports']")).to_contain_text("暂无上报")

    await inbox.get_by_test_id("patrol-open").click()
    form = inbox.get_by_test_id("patrol-form")
    await expect(form).to_be_visible()
    await expect(form.get_by_test_id("patrol-position")).to_contain_text("已定位", timeout=10000)
    await form.get_by_test_id("patrol-matter-q").fill(matter["name"])
    option = form.locator(f"[data-testid='patrol-matter-option'][data-code='{matter['code']}']")
    await expect(option).to_be_visible()
    await option.click()
    await expect(form.get_by_test_id("patrol-matter")).to_have_text(f"{matter['name']}（{matter['code']}）")
    await form.get_by_test_id("patrol-note").fill("村口道路两侧摊点占道，影响通行。")
    await form.get_by_test_id("patrol-photo").set_input_files(
        files=[FilePayload(name="finding.png", mimeType="image/png", buffer=png(rgb=(30, 120, 200)))]
    )
    await expect(form.get_by_test_id("patrol-photo-name")).to_have_text("finding.png")
    await inbox.screenshot(path=artifacts / "patrol-1-form.png")
    await form.get_by_test_id("patrol-submit").click()

    await expect(form).to_be_hidden(timeout=10000)
    await expect(inbox.locator("#toast")).to_contain_text("已上报")
    report = inbox.get_by_test_id("my-report")
    await expect(report).to_have_count(1)
    await expect(report).to_contain_text(matter["name"])
    await expect(report).to_contain_text("已分拨")
    await inbox.screenshot(path=artifacts / "patrol-2-reported.png")

    # on record: a patrol event at the phone's position, routed by the rules, with the photo
    event_id = int(await report.get_attribute("data-id") or 0)
    event = get(f"{server.url}/events/{event_id}", operator).json()
    assert event["source"] == "patrol" and event["matter_code"] == matter["code"]
    assert event["description"] == "村口道路两侧摊点占道，影响通行。"
    assert event["state"] == "routed" and event["responsible_kind"] == "squad"
    assert event["responsible_code"] == enforcement
    assert event["lat"] == pytest.approx(where["lat"], abs=1e-6)
    assert event["lng"] == pytest.approx(where["lng"], abs=1e-6)
    assert event["history"][0]["actor"].startswith("grid_head:")
    photos = get(f"{server.url}/events/{event_id}/attachments", operator).json()
    assert len(photos["attachments"]) == 1

    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await phone.close()


async def test_squad_sets_itself_busy_from_the_inbox(server, browser, artifacts, make_token, field_token):
    operator = make_token("operator")
    squads = get(f"{server.url}/squads", operator).json()
    squad = squads[-1]
    token = field_token("squad", squad_code=squad["code"])
    phone = await browser.new_context(**PHONE, locale="zh-CN")
    try:
        inbox = await log_in(phone, server.url, token, "/inbox")
        shown = inbox.get_by_test_id("squad-status")
        await expect(shown).to_contain_text("在岗")
        await inbox.get_by_test_id("status-busy").click()
        await expect(inbox.locator("#toast")).to_contain_text("请填写原因")
        await inbox.get_by_test_id("status-reason").fill("正在处置现场")
        await inbox.get_by_test_id("status-busy").click()
        await expect(shown).to_contain_text("忙碌（正在处置现场）")
        await inbox.screenshot(path=artifacts / "squad-status-busy.png")
        stored = get(f"{server.url}/squads/{squad['id']}", operator).json()
        assert (stored["status"], stored["status_reason"]) == ("busy", "正在处置现场")
        await inbox.get_by_test_id("status-available").click()
        await expect(shown).to_contain_text("在岗")
    finally:
        await phone.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            back = await client.post(
                f"/squads/{squad['id']}/status",
                json={"status": "available"},
                headers={"Authorization": f"Bearer {operator}"},
            )
        assert back.status_code == 200, back.text


async def test_operator_sets_a_squad_offline_from_the_map(server, browser, artifacts, make_token):
    operator = make_token("operator")
    squad = get(f"{server.url}/squads", operator).json()[0]
    desk = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        ops = await log_in(desk, server.url, operator, "/ops")
        marker = ops.locator(f".sq[data-squad='{squad['id']}']")
        await expect(marker).to_be_attached()
        await marker.dispatch_event("click")
        popup = ops.get_by_test_id("squad-popup")
        await expect(popup).to_be_visible()
        await expect(popup.get_by_test_id("squad-popup-status")).to_contain_text("在岗")
        await popup.get_by_test_id("squad-popup-select").select_option("offline")
        await popup.get_by_test_id("squad-popup-save").click()
        await expect(popup.locator(".error")).to_contain_text("请填写原因")
        await popup.get_by_test_id("squad-popup-reason").fill("对讲机无信号")
        await popup.get_by_test_id("squad-popup-save").click()
        await expect(popup.get_by_test_id("squad-popup-status")).to_contain_text("离线（对讲机无信号）")
        # the map's marker follows the change (live squads message)
        await expect(marker).to_have_class(re.compile(r"\bsq-offline\b"), timeout=5000)
        await ops.screenshot(path=artifacts / "ops-squad-offline.png")
        stored = get(f"{server.url}/squads/{squad['id']}", operator).json()
        assert (stored["status"], stored["status_reason"]) == ("offline", "对讲机无信号")
        assert stored["status_by"].startswith("operator:")
    finally:
        await desk.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            back = await client.post(
                f"/squads/{squad['id']}/status",
                json={"status": "available"},
                headers={"Authorization": f"Bearer {operator}"},
            )
        assert back.status_code == 200, back.text
