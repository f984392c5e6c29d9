"""Caller privacy (D12): outside the dispatch centre a caller is masked, or absent when
confidential; a consented number is revealed for a call only through the audited reveal.

Real app, real PostgreSQL: work orders come through the signed webhook or POST /events, and
each role reads them with its own token (grid head of LI-VADUZ-01, a squad, the hotline's
integration account, operators and admins).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient

from gridsvc.events.privacy import mask_name, mask_phone, redact_reporter
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for
from tests.live_support import (
    SSEClient,
    act,
    delegated_matter,
    get,
    hotline_secret,
    is_event,
    spot_in,
    start_server,
    work_order,
)

pytestmark = pytest.mark.usefixtures("demo")

# One caller for this module's run, unlike any other test's (the same grid head lists every
# event of its grid, whatever test made it): 刘 + two random given-name characters.
_GIVEN = "娟丽芳敏静秀英华慧巧美娜"
NAME = "刘" + "".join(_GIVEN[int(c, 16) % len(_GIVEN)] for c in uuid.uuid4().hex[:2])
PHONE = f"150{uuid.uuid4().int % 10**8:08d}"
MASKED = {"name": "刘**", "phone": f"150****{PHONE[-4:]}"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def tokens(make_token: Any) -> dict[str, str]:
    return {
        "grid_head": make_token("grid_head", grid_codes=["LI-VADUZ-01"]),
        "other_head": make_token("grid_head", grid_codes=["LI-SCHAAN-01"]),
        "operator": make_token("operator"),
        "integration": make_token("integration", integration="hotline-demo"),
    }


@pytest.fixture
def squads(client: TestClient, make_token: Any) -> Iterator[list[tuple[int, str]]]:
    """Two squads of this test's own, with a token of each one's account; deleted afterwards
    (a squad at the town hall would be every other test's nearest)."""
    made = []
    for _ in range(2):
        code = f"SQ-PRIV-{uuid.uuid4().hex[:8]}"
        created = client.post(
            "/squads",
            json={"code": code, "name": "Privacy test squad", "station": {"lat": 47.1410, "lng": 9.5209}},
        )
        assert created.status_code == 201, created.text
        made.append((int(created.json()["id"]), make_token("squad", squad_code=code)))
    yield made
    for squad_id, _ in made:
        assert client.delete(f"/squads/{squad_id}").status_code == 204


async def hotline_case(client: TestClient, db: asyncpg.Connection, **reporter: Any) -> int:
    """A 12345 work order in grid LI-VADUZ-01 with this reporter; its event id."""
    order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"))
    order["reporter"] = {"name": NAME, "phone": PHONE, **reporter}
    answer = post_order(client, await hotline_secret(db), order)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def listed(client: TestClient, token: str, event_id: int) -> dict[str, Any]:
    response = client.get("/events", headers=auth(token), params={"limit": 500})
    assert response.status_code == 200, response.text
    found = [e for e in response.json()["events"] if e["id"] == event_id]
    assert len(found) == 1, f"event {event_id} not listed"
    return dict(found[0])


def reveal(client: TestClient, token: str, event_id: int, **body: Any) -> Any:
    return client.post(f"/events/{event_id}/reporter/reveal", headers=auth(token), json=body)


async def test_d12_grid_head_sees_masked_caller(
    client: TestClient, tokens: dict[str, str], db: asyncpg.Connection
) -> None:
    event_id = await hotline_case(client, db)
    listing = client.get("/events", headers=auth(tokens["grid_head"]), params={"limit": 500})
    assert PHONE not in listing.text
    case = listed(client, tokens["grid_head"], event_id)
    assert {k: case["reporter"][k] for k in ("name", "phone")} == MASKED
    assert case["reporter"]["consent_to_contact"] is False
    assert case["reporter"]["can_reveal"] is False
    one = client.get(f"/events/{event_id}", headers=auth(tokens["grid_head"]))
    assert one.status_code == 200 and PHONE not in one.text and NAME not in one.text
    # the hotline's own integration account is outside the centre too
    mine = client.get(f"/events/{event_id}", headers=auth(tokens["integration"]))
    assert mine.status_code == 200 and PHONE not in mine.text
    assert mine.json()["reporter"]["phone"] == MASKED["phone"]
    # no consent: nothing to reveal, and nothing audited
    refused = reveal(client, tokens["grid_head"], event_id)
    assert refused.status_code == 409 and refused.json()["error"] == "reveal_refused"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions WHERE event_id = $1 AND action = 'reveal_contact'",
            event_id,
        )
        == 0
    )
    # a field action answers with the event, masked as well
    client.post(f"/events/{event_id}/actions/dispatch", json={})
    signed = client.post(f"/events/{event_id}/actions/sign_for", headers=auth(tokens["grid_head"]), json={})
    assert signed.status_code == 200, signed.text
    assert PHONE not in signed.text and signed.json()["reporter"]["name"] == "刘**"
    # the feedback to 12345 names the work order, never the caller
    payloads = await db.fetch("SELECT payload::text FROM outbox WHERE event_id = $1", event_id)
    assert payloads and all(PHONE not in p[0] and NAME not in p[0] for p in payloads)
    # nobody delivers here (no workers): leave no pending message in other tests' way
    await db.execute("DELETE FROM outbox WHERE event_id = $1", event_id)


async def test_a_confidential_caller_is_shown_to_nobody_outside_the_centre(
    client: TestClient, tokens: dict[str, str], db: asyncpg.Connection
) -> None:
    event_id = await hotline_case(client, db, confidential=True, consent_to_contact=True)
    for role in ("grid_head", "integration"):
        one = client.get(f"/events/{event_id}", headers=auth(tokens[role]))
        assert one.status_code == 200, one.text
        assert one.json()["reporter"] is None
        assert "150" not in json.dumps(one.json()["reporter"]) and "刘" not in one.text
        assert listed(client, tokens[role], event_id)["reporter"] is None
    refused = reveal(client, tokens["grid_head"], event_id)
    assert refused.status_code == 409 and refused.json()["error"] == "reveal_refused"
    assert "保密" in refused.json()["message"]
    # the centre still sees who called, and that it is confidential
    full = client.get(f"/events/{event_id}").json()["reporter"]
    assert (full["name"], full["phone"], full["confidential"]) == (NAME, PHONE, True)


async def test_a_consented_number_is_revealed_for_a_call_and_audited(
    client: TestClient, tokens: dict[str, str], squads: list[tuple[int, str]], db: asyncpg.Connection
) -> None:
    (squad_id, crew), (_, other_crew) = squads
    created = client.post(
        "/events",
        json={
            "title": "楼道堆物",
            "matter_code": await delegated_matter(db),
            "location": await spot_in(db, "LI-VADUZ-01"),
            "reporter": {
                "name": NAME,
                "phone": f"+86 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}",
                "consent_to_contact": True,
            },
        },
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    stored = await db.fetchval("SELECT reporter FROM events WHERE id = $1", event_id)
    assert stored["consent_to_contact"] is True and stored["confidential"] is False
    dispatched = client.post(f"/events/{event_id}/actions/dispatch", json={"squad_id": squad_id})
    assert dispatched.status_code == 200, dispatched.text
    seen = client.get(f"/events/{event_id}", headers=auth(crew)).json()["reporter"]
    # consent: the name to address the caller by, the number only through the reveal
    assert (seen["name"], seen["phone"], seen["can_reveal"]) == (NAME, MASKED["phone"], True)
    revealed = reveal(client, crew, event_id, reason="回访核实")
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["phone"] == f"+86 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}"
    assert revealed.json()["name"] == NAME
    audit = await db.fetch(
        "SELECT actor, action, note, data::text FROM event_transitions "
        "WHERE event_id = $1 AND action = 'reveal_contact'",
        event_id,
    )
    assert len(audit) == 1
    assert audit[0]["actor"].startswith("squad:") and audit[0]["note"] == "回访核实"
    assert PHONE[3:7] not in audit[0]["data"]  # the trail records the reveal, not the number
    history = client.get(f"/events/{event_id}").json()["history"]
    assert [h["action"] for h in history][-1] == "reveal_contact"
    # the grid head of the case's grid may reveal too: a second audit row
    assert reveal(client, tokens["grid_head"], event_id).status_code == 200
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions WHERE event_id = $1 AND action = 'reveal_contact'",
            event_id,
        )
        == 2
    )
    # not their event: it does not exist; the desk and the hotline have no reveal
    assert reveal(client, other_crew, event_id).status_code == 404
    assert reveal(client, tokens["other_head"], event_id).status_code == 404
    assert reveal(client, tokens["operator"], event_id).status_code == 403
    assert reveal(client, tokens["integration"], event_id).status_code == 403
    assert reveal(client, crew, 987654321).status_code == 404
    assert (
        await db.fetchval(
            "SELECT count(*) FROM event_transitions WHERE event_id = $1 AND action = 'reveal_contact'",
            event_id,
        )
        == 2
    )


async def test_the_centre_sees_the_caller_in_full(
    client: TestClient, tokens: dict[str, str], db: asyncpg.Connection
) -> None:
    event_id = await hotline_case(client, db, consent_to_contact=True)
    for headers in ({}, auth(tokens["operator"])):  # the session client is an admin
        reporter = client.get(f"/events/{event_id}", headers=headers).json()["reporter"]
        assert (reporter["name"], reporter["phone"]) == (NAME, PHONE)
        assert reporter["consent_to_contact"] is True and reporter["masked"] is False
        assert listed(client, tokens["operator"], event_id)["reporter"]["phone"] == PHONE


async def test_reporter_flags_must_be_booleans(client: TestClient, db: asyncpg.Connection) -> None:
    order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"))
    order["reporter"] = {"name": NAME, "phone": PHONE, "confidential": "maybe"}
    answer = post_order(client, await hotline_secret(db), order)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "body.reporter.confidential"


async def test_pages_and_the_stream_mask_the_caller_for_outside_roles(
    settings: Any, tokens: dict[str, str], db: asyncpg.Connection
) -> None:
    server = start_server(settings)
    try:
        async with SSEClient(server.url, tokens["grid_head"]) as stream:
            await stream.wait_for(lambda m: m.event == "hello")
            order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"))
            order["reporter"] = {"name": NAME, "phone": PHONE}
            with httpx.Client(base_url=server.url, timeout=10) as hotline:
                answer = post_order(hotline, await hotline_secret(db), order)
            assert answer.status_code == 201, answer.text
            event_id = answer.json()["id"]
            pushed = await stream.wait_for(is_event(event_id), within=3.0)
        assert {k: pushed.data["event"]["reporter"][k] for k in ("name", "phone")} == MASKED
        act(server.url, tokens["operator"], event_id, "dispatch")
        page = get(f"{server.url}/live/events?limit=5000", tokens["grid_head"])
        assert page.status_code == 200 and PHONE not in page.text
        card = next(e for e in page.json()["events"] if e["id"] == event_id)
        assert {k: card["reporter"][k] for k in ("name", "phone")} == MASKED
        desk = get(f"{server.url}/live/events?limit=5000", tokens["operator"]).json()
        assert next(e for e in desk["events"] if e["id"] == event_id)["reporter"]["phone"] == PHONE
    finally:
        server.__exit__()


async def test_recipient_notices_carry_the_caller_masked(
    settings: Any, make_token: Any, db: asyncpg.Connection
) -> None:
    # Dispatches queued by earlier tests would become notices for this recipient first (and
    # accounts other tests gave a webhook would be posted to): this test judges its own alone.
    await db.execute("DELETE FROM pgqueuer WHERE entrypoint = 'notices.fanout'")  # (job queue)
    await db.execute("UPDATE users SET webhook_url = NULL WHERE webhook_url IS NOT NULL")
    port = free_port()
    head = make_token(
        "grid_head", grid_codes=["LI-VADUZ-01"], webhook_url=f"http://127.0.0.1:{port}/callbacks"
    )
    operator = make_token("operator")
    server = start_server(settings, background_workers=True)
    try:
        receiver = CallbackReceiver(port, get(f"{server.url}/notices/secret", head).json()["secret"])
        receiver.start()
        try:
            ids = []
            with httpx.Client(base_url=server.url, timeout=10) as hotline:
                for extra in ({}, {"confidential": True}):
                    order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"))
                    order["reporter"] = {"name": NAME, "phone": PHONE, **extra}
                    ids.append(post_order(hotline, await hotline_secret(db), order).json()["id"])
            for event_id in ids:
                act(server.url, operator, event_id, "dispatch")
            got = wait_for(
                lambda: (
                    len([r for r in receiver.received if r["payload"]["event_id"] in ids]) == 2
                    and [r for r in receiver.received if r["payload"]["event_id"] in ids]
                ),
                timeout=15,
            )
            by_event = {r["payload"]["event_id"]: r["payload"] for r in got}
            assert {k: by_event[ids[0]]["reporter"][k] for k in ("name", "phone")} == MASKED
            assert by_event[ids[1]]["reporter"] is None
            assert all(PHONE not in json.dumps(p, ensure_ascii=False) for p in by_event.values())
            stored = get(f"{server.url}/notices?event_id={ids[0]}", head).json()["notices"]
            assert stored and PHONE not in json.dumps(stored, ensure_ascii=False)
        finally:
            receiver.stop()
    finally:
        server.__exit__()


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("刘娟娟", "刘**"),
        ("刘娟", "刘**"),
        ("欧阳娜娜", "欧阳**"),
        (" Anna Meier ", "A**"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_name_keeps_the_surname(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("15012349511", "150****9511"),
        ("+86 150-1234-9511", "150****9511"),
        ("0086 15012349511", "150****9511"),
        ("0571-88886666", "057****6666"),
        ("12345", "****"),
        ("unknown", "****"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone_keeps_three_and_four_digits(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_redact_reporter_by_viewer() -> None:
    caller = {"name": "刘娟娟", "phone": "15012349511", "id_card": "1101..."}
    assert (redact_reporter(caller, "admin") or {})["id_card"] == "1101..."  # the centre: everything
    for viewer in ("grid_head", "squad", "integration", None, "department", {"role": "squad"}):
        shown = redact_reporter(caller, viewer)
        assert shown is not None and "id_card" not in shown
        assert (shown["name"], shown["phone"], shown["can_reveal"]) == ("刘**", "150****9511", False)
    consented = {**caller, "consent_to_contact": True}
    assert (redact_reporter(consented, "squad") or {})["can_reveal"] is True
    assert (redact_reporter(consented, "stream") or {})["can_reveal"] is True
    assert (redact_reporter({**consented, "phone": None}, "squad") or {})["can_reveal"] is False
    assert redact_reporter({**consented, "confidential": True}, "squad") is None
    assert redact_reporter({}, "grid_head") is None and redact_reporter(None, "admin") is None
