"""Hotline feedback through the outbox to a real HTTP receiver: down, then up."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.outbox.service import deliver_due
from gridsvc.settings import Settings
from gridsvc.webhooks.service import save_integration
from tests.auth_support import bearer
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for

pytestmark = pytest.mark.usefixtures("demo")


async def _matter(db: asyncpg.Connection) -> str:
    return await db.fetchval("SELECT code FROM matters WHERE owner_department = "
                             "'urban_management' AND kind = 'event' AND NOT auto_dispatch "
                             "ORDER BY code LIMIT 1")


async def _spot(db: asyncpg.Connection) -> dict:
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 50)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-ESCHEN') s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1")
    return {"lat": row["lat"], "lng": row["lng"]}


async def test_receiver_down_then_up_gets_every_callback_once_in_order(settings: Settings, db,
                                                                       database_url: str):
    port = free_port()
    name = f"hotline-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(db, name=name,
                                         callback_url=f"http://127.0.0.1:{port}/callbacks")
    receiver = CallbackReceiver(port, integration["secret"])
    fast = settings.model_copy(update={"background_workers": True, "outbox_backoff_max_s": 1.0})
    with TestClient(create_app(fast)) as client:
        client.headers.update(bearer(database_url))
        events = []
        for _ in range(2):
            order = {"work_order_no": f"CB{uuid.uuid4().hex[:10]}", "title": "回访测试",
                     "matter_code": await _matter(db), "location": await _spot(db)}
            response = post_order(client, integration["secret"], order, integration=name)
            assert response.status_code == 201, response.text
            events.append(response.json()["id"])
        for event_id in events:
            for action, body in (("dispatch", {}), ("sign_for", {}), ("arrive", {}),
                                 ("handle", {"note": f"事件{event_id}已办结"}), ("verify", {}),
                                 ("close", {})):
                assert client.post(f"/events/{event_id}/actions/{action}",
                                   json=body).status_code == 200
        # Receiver down: the sender tries, fails (twice at least: the oldest message of each
        # event, newest first in the list), and keeps every message.
        wait_for(lambda: client.get("/outbox", params={"status": "pending"}).json()["stats"]
                 ["pending"] >= 6 and all(
                     m["attempts"] >= 2 for e in events for m in client.get("/outbox", params={
                         "status": "pending", "event_id": e}).json()["messages"][-1:]))
        assert receiver.received == []
        receiver.start()
        try:
            wait_for(lambda: all(
                m["status"] == "delivered"
                for e in events
                for m in client.get("/outbox", params={"event_id": e}).json()["messages"]),
                timeout=30)
            # No waiting for stragglers: a message is posted only while pending, and the
            # receiver records a POST before answering it, so once every message is marked
            # delivered every POST ever made (duplicates too) is in receiver.received.
        finally:
            receiver.stop()
    keys = [r["key"] for r in receiver.received]
    assert len(keys) == len(set(keys)) == 6
    for event_id in events:
        kinds = [r["payload"]["status"] for r in receiver.received
                 if r["payload"]["event_id"] == event_id]
        assert kinds == ["signed_for", "handled", "closed"]
        handled = next(r["payload"] for r in receiver.received
                       if r["payload"]["event_id"] == event_id and r["payload"]["status"] ==
                       "handled")
        assert handled["text"] == f"事件{event_id}已办结"
    # The first message of each event was refused at least once before its delivery; the
    # later ones waited behind it (order per event) instead of being tried out of turn.
    rows = await db.fetch("SELECT event_id, kind, attempts FROM outbox WHERE event_id = ANY($1) "
                          "ORDER BY id", events)
    for event_id in events:
        attempts = [r["attempts"] for r in rows if r["event_id"] == event_id]
        assert attempts[0] >= 2 and all(a >= 1 for a in attempts[1:]), attempts


async def test_dead_letters_are_listed_and_can_be_retried(settings: Settings, db, client):
    name = f"hotline-dead-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(db, name=name,
                                         callback_url=f"http://127.0.0.1:{free_port()}/gone")
    order = {"work_order_no": f"DL{uuid.uuid4().hex[:10]}", "title": "死信测试",
             "matter_code": await _matter(db), "location": await _spot(db)}
    event_id = post_order(client, integration["secret"], order, integration=name).json()["id"]
    for action in ("dispatch", "sign_for"):
        assert client.post(f"/events/{event_id}/actions/{action}", json={}).status_code == 200
    one_try = settings.model_copy(update={"outbox_max_attempts": 1})
    async with httpx.AsyncClient(timeout=2) as http:
        # Earlier tests leave due messages too, and one call claims only a batch: drain all
        # (with one attempt allowed, every message tried ends delivered or dead).
        while await deliver_due(db, client=http, settings=one_try):
            pass
    dead = client.get("/outbox", params={"status": "dead", "event_id": event_id}).json()
    assert [m["kind"] for m in dead["messages"]] == ["signed_for"]
    assert "ConnectError" in dead["messages"][0]["last_error"]
    assert dead["stats"]["dead"] >= 1
    message_id = dead["messages"][0]["id"]
    assert client.post(f"/outbox/{message_id}/retry").status_code == 200
    assert client.post(f"/outbox/{message_id}/retry").status_code == 404  # no longer dead
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", message_id) == "pending"
