"""The counter strip and /metrics read trigger-kept tallies (migration 023) instead of grouping
whole tables; these tests hold the tallies to the real counts after intake, lifecycle actions,
a rolled-back change, a deleted event (cascading to its outbox rows and notices) and a
TRUNCATE, and check that /metrics and /events-counters report those real counts."""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest
from fastapi.testclient import TestClient

from tests.events_support import post_order
from tests.tallies_support import tallies_match

pytestmark = pytest.mark.usefixtures("demo")


async def new_event(client: TestClient, db: asyncpg.Connection) -> int:
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    spot = await db.fetchrow(
        "SELECT ST_Y(p) AS lat, ST_X(p) AS lng FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 50))).geom AS p"
        " FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-SCHAAN') s"
        " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, s.p::geography, 300))"
        " LIMIT 1"
    )
    assert spot is not None
    order = {
        "work_order_no": f"T{uuid.uuid4().hex[:12]}",
        "title": "计数测试",
        "matter_code": "EV-01-10",
        "location": {"lat": spot["lat"], "lng": spot["lng"]},
    }
    response = post_order(client, str(secret), order)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_tallies_follow_intake_actions_rollbacks_and_deletes(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await tallies_match(db)
    first, second = await new_event(client, db), await new_event(client, db)
    if client.get(f"/events/{first}").json()["state"] == "received":  # not dispatched on intake
        assert client.post(f"/events/{first}/actions/dispatch", json={}).status_code == 200
    for action in ("sign_for", "arrive"):
        assert client.post(f"/events/{first}/actions/{action}", json={}).status_code == 200
    await tallies_match(db)
    # A change that is rolled back leaves no count behind.
    transaction = db.transaction()
    await transaction.start()
    await db.execute("UPDATE events SET state = 'closed' WHERE id = $1", second)
    await transaction.rollback()
    await tallies_match(db)
    # Deleting an event cascades to its outbox rows and notices: each table's tally follows.
    await db.execute("DELETE FROM events WHERE id = $1", first)
    await tallies_match(db)


async def test_counters_and_metrics_report_the_real_counts(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await new_event(client, db)
    states = {
        r["state"]: int(r["n"]) for r in await db.fetch("SELECT state, count(*) AS n FROM events GROUP BY 1")
    }
    text = client.get("/metrics").text
    for state, n in states.items():
        match = re.search(rf'^gridsvc_events{{state="{state}"}} (\S+)$', text, re.MULTILINE)
        assert match is not None, state
        assert float(match.group(1)) == n
    open_now = sum(n for state, n in states.items() if state != "closed")
    assert client.get("/events-counters").json()["open"] == open_now


async def test_truncate_forgets_the_tallies(server_url: str) -> None:
    """TRUNCATE fires no row trigger; its statement trigger clears the table's tallies. In a
    scratch database of its own: the session's events stay."""
    from tests.roads_support import scratch_database

    async with scratch_database(server_url, "tally") as url:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("SELECT tally_bump('events_state', 'received', 3)")
            await connection.execute("TRUNCATE events CASCADE")
            assert await connection.fetchval("SELECT count(*) FROM tallies WHERE kind = 'events_state'") == 0
        finally:
            await connection.close()
