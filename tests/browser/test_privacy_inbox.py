"""Caller privacy in a grid head's phone inbox (D12), in a real (headless) Chromium: callers
are masked, a confidential one is not shown, and a consented number is revealed for the call
with one tap, which the audit trail records; the operator's panel shows the caller in full."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE, event_marker, log_in
from tests.events_support import post_order
from tests.live_support import act, delegated_matter, hotline_secret, spot_in, work_order

pytestmark = pytest.mark.usefixtures("demo")


async def test_the_inbox_masks_callers_and_reveals_a_consented_number_on_tap(
    server: Any, browser: Any, artifacts: Any, make_token: Any, db: Any
) -> None:
    operator = make_token("operator")
    head = make_token("grid_head", grid_codes=["LI-VADUZ-01"])
    phones = {kind: f"139{uuid.uuid4().int % 10**8:08d}" for kind in ("plain", "consent", "secret")}
    flags = {
        "plain": {},
        "consent": {"consent_to_contact": True},
        "secret": {"confidential": True, "consent_to_contact": True},
    }
    ids = {}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for kind, number in phones.items():
            order = work_order(
                await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"), title=f"隐私测试 {kind}"
            )
            order["reporter"] = {"name": "王小明", "phone": number, **flags[kind]}
            created = post_order(client, await hotline_secret(db), order)
            assert created.status_code == 201, created.text
            ids[kind] = created.json()["id"]
            act(server.url, operator, ids[kind], "dispatch")

    phone = await browser.new_context(**PHONE, locale="zh-CN")
    inbox = await log_in(phone, server.url, head, "/inbox")
    cards = {kind: inbox.locator(f"article[data-id='{event_id}']") for kind, event_id in ids.items()}
    for card in cards.values():
        await expect(card).to_be_visible()
    await expect(cards["plain"].locator("p.caller")).to_contain_text("王**")
    masked = f"139****{phones['plain'][-4:]}"
    await expect(cards["plain"].locator("p.caller")).to_contain_text(masked)
    await expect(cards["plain"].locator("button[data-act='reveal']")).to_have_count(0)
    await expect(cards["secret"].locator("p.caller")).to_have_count(0)
    await expect(cards["consent"].locator("p.caller")).to_contain_text("王小明")
    html = await inbox.content()
    assert not any(number in html for number in phones.values())
    await inbox.screenshot(path=artifacts / "inbox-privacy-1-masked.png")

    # one tap: the full number as a tel: link, and the reveal is on record
    await cards["consent"].locator("button[data-act='reveal']").click()
    link = cards["consent"].locator("p.caller a.phone")
    await expect(link).to_have_text(phones["consent"])
    await expect(link).to_have_attribute("href", f"tel:{phones['consent']}")
    await expect(inbox.locator("#toast")).to_contain_text("已获取号码")
    await inbox.screenshot(path=artifacts / "inbox-privacy-2-revealed.png")
    audit = await db.fetch(
        "SELECT actor FROM event_transitions WHERE event_id = $1 AND action = 'reveal_contact'",
        ids["consent"],
    )
    assert [row["actor"].split(":")[0] for row in audit] == ["grid_head"]
    await phone.close()

    # the desk sees the caller in full, what the caller asked for, and the reveal in the trail
    desk = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    ops = await log_in(desk, server.url, operator, "/ops")
    await (await event_marker(ops, ids["consent"])).dispatch_event("click")
    panel = ops.locator("#panel")
    await expect(panel.locator("table.kv").first).to_contain_text(f"王小明 {phones['consent']}")
    await expect(panel.locator("table.kv").first).to_contain_text("同意回访")
    await expect(panel.locator("ol.trail")).to_contain_text("查看来电人号码")
    await ops.screenshot(path=artifacts / "ops-privacy-caller.png")
    await desk.close()
