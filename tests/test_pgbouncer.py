"""The app through PgBouncer in transaction pooling, its LISTEN connection direct.

A real PgBouncer (Debian's ``pgbouncer``) runs ``deploy/pgbouncer.ini`` in front of the test
database, on a free port, with a userlist file of its own and only 3 server connections, so
the app's pool (10 connections) really shares them transaction by transaction. The app runs
with ``GRIDSVC_DATABASE_PGBOUNCER=true`` (asyncpg's prepared statements off) and
``GRIDSVC_DATABASE_LISTEN_URL`` pointing at PostgreSQL itself: signed work orders posted
concurrently and the lifecycle actions on them succeed (without the setting, asyncpg's named
statements meet the wrong server connections and intake answers 500), pass through PgBouncer
(its own statistics count them), every change reaches ``/live/stream``, and the listener is
not among PgBouncer's clients: a LISTEN through transaction pooling stays on whichever server
connection ran it, which hears its NOTIFYs only while some transaction happens to hold it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gridsvc.listener import APPLICATION_NAME
from gridsvc.settings import Settings
from tests.events_support import post_order
from tests.live_support import (
    Message,
    SSEClient,
    act,
    hotline_secret,
    is_event,
    order_in_a_quiet_grid,
    start_server,
)
from tests.pgbouncer_support import admin_show, pgbouncer

pytestmark = pytest.mark.usefixtures("demo")
SERVER_CONNECTIONS = 3  # fewer than the app's pool: transactions must share them
ORDERS = 8
LIVE_WITHIN_S = 5.0


def every_event(ids: list[int], state: str | None = None) -> Callable[[Message], bool]:
    """A stream predicate that holds once every one of ``ids`` has arrived (in ``state``)."""
    matchers = {event_id: is_event(event_id, state) for event_id in ids}
    pending = set(ids)

    def arrived(message: Message) -> bool:
        pending.difference_update([i for i in pending if matchers[i](message)])
        return not pending

    return arrived


def transactions_through(bouncer_url: str) -> int:
    """Transactions PgBouncer has passed to the database ``gridsvc`` so far."""
    stats = [row for row in admin_show(bouncer_url, "STATS") if row["database"] == "gridsvc"]
    return int(stats[0]["total_xact_count"]) if stats else 0


async def test_intake_actions_and_live_updates_through_pgbouncer_in_transaction_pooling(
    settings: Settings, make_token, db, tmp_path: Path
):
    direct = settings.database_url
    assert direct is not None
    operator = make_token("operator")
    secret = await hotline_secret(db)
    orders = [await order_in_a_quiet_grid(direct) for _ in range(ORDERS)]
    with pgbouncer(direct, tmp_path / "pgbouncer", server_connections=SERVER_CONNECTIONS) as bounced:
        server = start_server(
            settings, database_url=bounced, database_pgbouncer=True, database_listen_url=direct
        )
        try:
            before = transactions_through(bounced)
            async with SSEClient(server.url, operator) as stream:
                assert stream.response is not None and stream.response.status_code == 200
                await stream.wait_for(lambda m: m.event == "hello")
                async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
                    # concurrent intake: more requests at once than PgBouncer has server connections
                    answers = await asyncio.gather(*(post_order(client, secret, order) for order in orders))
                assert [a.status_code for a in answers] == [201] * ORDERS, [a.text for a in answers]
                ids = [int(a.json()["id"]) for a in answers]
                await stream.wait_for(every_event(ids), within=LIVE_WITHIN_S)
                # concurrent lifecycle actions on them, each reaching the stream as well
                moved = await asyncio.gather(
                    *(asyncio.to_thread(act, server.url, operator, event_id, "dispatch") for event_id in ids)
                )
                assert {m["state"] for m in moved} == {"dispatched"}, moved
                await stream.wait_for(every_event(ids, "dispatched"), within=LIVE_WITHIN_S)
            # the requests' queries did go through PgBouncer (intake and actions: one
            # transaction each at least, besides their reads)
            through = transactions_through(bounced) - before
            assert through >= 2 * ORDERS, through
            # ... and the LISTEN connection did not: it is a direct session on PostgreSQL
            clients = admin_show(bounced, "CLIENTS")
            assert clients and "application_name" in clients[0], clients
            assert not [c for c in clients if c.get("application_name") == APPLICATION_NAME], clients
            print(f"{ORDERS} work orders + {ORDERS} actions: {through} transactions through pgbouncer")
        finally:
            server.__exit__()
