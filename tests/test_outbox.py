"""Hotline feedback through the outbox to a real HTTP receiver: down, then up."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.settings import Settings
from gridsvc.webhooks.service import save_integration
from tests.auth_support import bearer
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for

pytestmark = pytest.mark.usefixtures("demo")


def jobs_naming(database_url: str, message_ids: list[int]) -> int:
    """Delivery jobs still queued or running for these outbox messages."""

    async def count() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM pgqueuer WHERE entrypoint = 'callbacks.deliver' AND "
                    "(convert_from(payload, 'UTF8')::jsonb ->> 'id')::bigint = ANY($1::bigint[])",
                    message_ids,
                )
            )
        finally:
            await connection.close()

    # The test's own event loop is busy waiting in wait_for: ask from a thread of its own.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, count()).result()


async def _matter(db: asyncpg.Connection) -> str:
    return await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' AND NOT auto_dispatch "
        "ORDER BY code LIMIT 1"
    )


async def _spot(db: asyncpg.Connection) -> dict:
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 50)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-ESCHEN') s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1"
    )
    return {"lat": row["lat"], "lng": row["lng"]}


async def test_receiver_down_then_up_gets_every_callback_once_in_order(
    settings: Settings, db, database_url: str
):
    port = free_port()
    name = f"hotline-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(db, name=name, callback_url=f"http://127.0.0.1:{port}/callbacks")
    receiver = CallbackReceiver(port, integration["secret"])
    fast = settings.model_copy(update={"background_workers": True, "outbox_backoff_max_s": 1.0})
    with TestClient(create_app(fast)) as client:
        client.headers.update(bearer(database_url))
        events = []
        for _ in range(2):
            order = {
                "work_order_no": f"CB{uuid.uuid4().hex[:10]}",
                "title": "回访测试",
                "matter_code": await _matter(db),
                "location": await _spot(db),
            }
            response = post_order(client, integration["secret"], order, integration=name)
            assert response.status_code == 201, response.text
            events.append(response.json()["id"])
        for event_id in events:
            for action, body in (
                ("dispatch", {}),
                ("sign_for", {}),
                ("arrive", {}),
                ("handle", {"note": f"事件{event_id}已办结"}),
                ("verify", {}),
                ("close", {}),
            ):
                assert client.post(f"/events/{event_id}/actions/{action}", json=body).status_code == 200
        # Receiver down: the sender tries, fails (twice at least: the oldest message of each
        # event, newest first in the list), and keeps every message.
        wait_for(
            lambda: (
                client.get("/outbox", params={"status": "pending"}).json()["stats"]["pending"] >= 6
                and all(
                    m["attempts"] >= 2
                    for e in events
                    for m in client.get("/outbox", params={"status": "pending", "event_id": e}).json()[
                        "messages"
                    ][-1:]
                )
            )
        )
        assert receiver.received == []
        receiver.start()
        try:
            wait_for(
                lambda: all(
                    m["status"] == "delivered"
                    for e in events
                    for m in client.get("/outbox", params={"event_id": e}).json()["messages"]
                ),
                timeout=30,
            )
            # No waiting for stragglers: a message is posted only while pending, and the
            # receiver records a POST before answering it, so once every message is marked
            # delivered every POST ever made (duplicates too) is in receiver.received.
        finally:
            receiver.stop()
    keys = [r["key"] for r in receiver.received]
    assert len(keys) == len(set(keys)) == 6
    for event_id in events:
        kinds = [r["payload"]["status"] for r in receiver.received if r["payload"]["event_id"] == event_id]
        assert kinds == ["signed_for", "handled", "closed"]
        handled = next(
            r["payload"]
            for r in receiver.received
            if r["payload"]["event_id"] == event_id and r["payload"]["status"] == "handled"
        )
        assert handled["text"] == f"事件{event_id}已办结"
    # The first message of each event was refused at least once before its delivery; the
    # later ones waited behind it (order per event) instead of being tried out of turn.
    rows = await db.fetch(
        "SELECT event_id, kind, attempts FROM outbox WHERE event_id = ANY($1) ORDER BY id", events
    )
    for event_id in events:
        attempts = [r["attempts"] for r in rows if r["event_id"] == event_id]
        assert attempts[0] >= 2 and all(a >= 1 for a in attempts[1:]), attempts


async def test_dead_letters_are_listed_and_can_be_retried(settings: Settings, db, client, database_url: str):
    name = f"hotline-dead-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(db, name=name, callback_url=f"http://127.0.0.1:{free_port()}/gone")
    order = {
        "work_order_no": f"DL{uuid.uuid4().hex[:10]}",
        "title": "死信测试",
        "matter_code": await _matter(db),
        "location": await _spot(db),
    }
    event_id = post_order(client, integration["secret"], order, integration=name).json()["id"]
    for action in ("dispatch", "sign_for"):
        assert client.post(f"/events/{event_id}/actions/{action}", json={}).status_code == 200
    one_try = settings.model_copy(update={"outbox_max_attempts": 1, "background_workers": True})
    with TestClient(create_app(one_try)) as worker:  # its job worker tries once: dead
        worker.headers.update(bearer(database_url))
        wait_for(
            lambda: worker.get("/outbox", params={"status": "dead", "event_id": event_id}).json()["messages"],
            timeout=30,
        )
    dead = client.get("/outbox", params={"status": "dead", "event_id": event_id}).json()
    assert [m["kind"] for m in dead["messages"]] == ["signed_for"]
    assert "ConnectError" in dead["messages"][0]["last_error"]
    assert dead["stats"]["dead"] >= 1
    message_id = dead["messages"][0]["id"]
    spare_jobs = jobs_naming(database_url, [message_id])  # left over, harmless (no-ops)
    assert client.post(f"/outbox/{message_id}/retry").status_code == 200
    assert client.post(f"/outbox/{message_id}/retry").status_code == 404  # no longer dead
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", message_id) == "pending"
    # the retry queued its delivery job
    assert jobs_naming(database_url, [message_id]) == spare_jobs + 1
    await db.execute(
        "DELETE FROM pgqueuer WHERE entrypoint = 'callbacks.deliver' AND "
        "convert_from(payload, 'UTF8')::jsonb ->> 'id' = $1",
        str(message_id),
    )


async def test_d7_a_slow_receiver_delays_no_one_else_and_gets_each_callback_once(
    settings: Settings, db, database_url: str
):
    """D7: callbacks were posted one after another inside one transaction, 10 s each: a
    receiver answering in 12 s got every callback twice and another integration waited 50 s.
    Here one receiver answers each new callback only after the timeout (1 s) and another at
    once: the other integration's callbacks arrive within 2 s of the change that made them,
    and the slow one is sent each callback again only with the same idempotency key (it sees
    each one once), in order."""
    slow_name, fast_name = (f"hotline-{kind}-{uuid.uuid4().hex[:6]}" for kind in ("slow", "fast"))
    slow_port, fast_port = free_port(), free_port()
    slow = await save_integration(db, name=slow_name, callback_url=f"http://127.0.0.1:{slow_port}/callbacks")
    fast = await save_integration(db, name=fast_name, callback_url=f"http://127.0.0.1:{fast_port}/callbacks")
    slow_receiver = CallbackReceiver(slow_port, slow["secret"], first_answer_after_s=3.0)
    fast_receiver = CallbackReceiver(fast_port, fast["secret"])
    quick = settings.model_copy(
        update={"background_workers": True, "callback_timeout_s": 1.0, "outbox_backoff_max_s": 1.0}
    )
    slow_receiver.start()
    fast_receiver.start()
    try:
        with TestClient(create_app(quick)) as client:
            client.headers.update(bearer(database_url))

            async def new_event(integration: dict, name: str) -> int:
                # one at a time: each spot is away from every event so far (no 并单)
                order = {
                    "work_order_no": f"D7{uuid.uuid4().hex[:10]}",
                    "title": "慢回调测试",
                    "matter_code": matter,
                    "location": await _spot(db),
                }
                response = post_order(client, integration["secret"], order, integration=name)
                assert response.status_code == 201, response.text
                return int(response.json()["id"])

            def act(event_id: int, action: str, note: str | None = None) -> float:
                body = {"note": note} if note else {}
                assert client.post(f"/events/{event_id}/actions/{action}", json=body).status_code == 200
                return time.monotonic()

            matter = await _matter(db)
            slow_event = await new_event(slow, slow_name)
            fast_event = await new_event(fast, fast_name)
            for event_id in (slow_event, fast_event):
                act(event_id, "dispatch")
            # The slow integration's callbacks are written first: the old sender posted them
            # one after another before anyone else's.
            act(slow_event, "sign_for")
            act(slow_event, "arrive")
            act(slow_event, "handle", "已处理")
            made = {"signed_for": act(fast_event, "sign_for")}
            act(fast_event, "arrive")
            made["handled"] = act(fast_event, "handle", "已处理")
            got = wait_for(
                lambda: fast_receiver.received if len(fast_receiver.received) >= 2 else None, timeout=20
            )
            for callback in got:
                delay = callback["at"] - made[callback["payload"]["status"]]
                assert delay < 2.0, (callback["payload"]["status"], delay)
            # The slow receiver gets both, each answered late once, then resent with its key.
            wait_for(
                lambda: all(
                    m["status"] == "delivered"
                    for m in client.get("/outbox", params={"event_id": slow_event}).json()["messages"]
                ),
                timeout=40,
            )
            ids = [m["id"] for m in client.get("/outbox", params={"event_id": slow_event}).json()["messages"]]
            wait_for(lambda: jobs_naming(database_url, ids) == 0, timeout=30)
    finally:
        slow_receiver.stop()
        fast_receiver.stop()
    assert [r["payload"]["status"] for r in fast_receiver.received] == ["signed_for", "handled"]
    assert len({r["key"] for r in fast_receiver.received}) == 2  # no duplicates at all
    slow_keys = [r["key"] for r in slow_receiver.received]  # first arrival of each key
    assert [r["payload"]["status"] for r in slow_receiver.received] == ["signed_for", "handled"]
    assert len(slow_keys) == len(set(slow_keys)) == 2
    # Each try after the timeout carried the same key (the receiver answers those at once).
    assert all(slow_receiver.requests_by_key[key] >= 2 for key in slow_keys)
    rows = await db.fetch(
        "SELECT idempotency_key, attempts, status FROM outbox WHERE event_id = $1 ORDER BY id", slow_event
    )
    assert [r["idempotency_key"] for r in rows] == slow_keys
    assert all(r["status"] == "delivered" and r["attempts"] >= 2 for r in rows)
