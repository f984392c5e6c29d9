"""A county department's phone inbox in a real (headless) Chromium: its own account signs
for a case sent to the department, arrives (with the phone's position), reports it handled
with a reply and a photo, and makes its own 报到 / 到场 on a whistle summoning it.
Screenshots land in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.async_api import FilePayload, expect

from tests.browser.conftest import PHONE, Outside, log_in, png
from tests.department_support import create_event, grid_at, matter_of, quiet_spot, summon
from tests.live_support import act, get

pytestmark = pytest.mark.usefixtures("demo")


async def test_a_department_signs_for_and_handles_a_case_with_a_photo(
    server, browser, artifacts, make_token, db
):
    housing = make_token("department", department_code="housing", display_name="县住建局 执法大队")
    admin = make_token("admin")
    matter = await matter_of(db, "housing")
    where = await quiet_spot(db)
    event_id = create_event(server.url, admin, matter, where, title="违章搭建彩钢棚")
    act(server.url, admin, event_id, "dispatch")
    scene = await quiet_spot(db)
    summons = summon(
        server.url,
        admin,
        {
            "township_code": await grid_at(db, "enforcement", scene),
            "title": "违建拆除协调",
            "matter_code": matter,
            "location": scene,
            "departments": ["housing", "water"],
        },
    )
    whistle_id = summons["id"]
    outside = Outside(server.url)
    phone = await browser.new_context(
        **PHONE,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"latitude": where["lat"], "longitude": where["lng"], "accuracy": 8},
    )
    outside.watch(phone)
    inbox = await log_in(phone, server.url, housing, "/inbox")
    await expect(inbox.locator("#who")).to_have_text("县住建局 执法大队")
    card = inbox.locator(f"article[data-id='{event_id}']")
    await expect(card).to_be_visible()
    await expect(card.locator("h2")).to_have_text("违章搭建彩钢棚")
    await expect(card).to_have_attribute("data-state", "dispatched")
    whistle = inbox.locator(f"[data-testid='whistle-card'][data-whistle='{whistle_id}']")
    await expect(whistle).to_have_attribute("data-status", "awaiting_ack")
    await expect(whistle.locator(".badge")).to_have_text("待报到")
    await inbox.screenshot(path=artifacts / "department-1-inbox.png")

    # 签收, 到场 with the phone's position, 处置 with the reply and a photo
    await card.locator("button[data-act='sign_for']").click()
    await expect(card).to_have_attribute("data-state", "signed_for")
    await card.locator("button[data-act='arrive']").click()
    await expect(card).to_have_attribute("data-state", "on_scene")
    await card.locator("button[data-act='handle']").click()
    await card.locator("textarea[name='note']").fill("已责令停工，彩钢棚当场拆除。")
    await card.locator("input[name='photo']").set_input_files(
        files=[FilePayload(name="scene.png", mimeType="image/png", buffer=png())]
    )
    await inbox.screenshot(path=artifacts / "department-2-handle-form.png")
    await card.locator("button[type='submit']").click()
    await expect(card).to_have_count(0)
    await expect(inbox.locator("#toast")).to_contain_text("已处置")

    # the whistle: 报到, then 到场, by the department's own account
    await whistle.locator("[data-testid='whistle-ack']").click()
    await expect(whistle).to_have_attribute("data-status", "acknowledged")
    await whistle.locator("[data-testid='whistle-arrive']").click()
    await expect(whistle).to_have_attribute("data-status", "arrived")
    await expect(whistle.locator("button")).to_have_count(0)
    await inbox.screenshot(path=artifacts / "department-3-done.png")

    # on record: the department's account did each step; the position and the photo are kept
    event = get(f"{server.url}/events/{event_id}", admin).json()
    assert event["state"] == "handled"
    steps = {h["action"]: h for h in event["history"]}
    for action in ("sign_for", "arrive", "handle", "attach"):
        assert steps[action]["actor"].startswith("department:"), steps[action]
    assert steps["arrive"]["data"]["position"]["lat"] == pytest.approx(where["lat"], abs=1e-6)
    assert steps["handle"]["note"] == "已责令停工，彩钢棚当场拆除。"
    photos = get(f"{server.url}/events/{event_id}/attachments", admin).json()
    assert len(photos["attachments"]) == 1
    attendance = {
        d["department"]: d for d in get(f"{server.url}/whistles/{whistle_id}", admin).json()["departments"]
    }
    assert attendance["housing"]["ack"]["on_behalf"] is False
    assert attendance["housing"]["arrive"]["by"].startswith("department:")
    assert attendance["housing"]["arrive"]["position"]["lat"] == pytest.approx(where["lat"], abs=1e-6)
    assert attendance["water"]["status"] == "awaiting_ack"
    assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
    await phone.close()
