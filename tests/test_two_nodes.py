"""Two app nodes behind one reverse proxy: a page's live stream keeps flowing.

Two real ``gridsvc serve`` processes on the same database, HAProxy (``deploy/haproxy.cfg``)
in front of them, round robin. An operator's ``/live/stream`` opened through the proxy lands
on one node; work orders posted through the proxy land on both in turn (the proxy names the
node in ``X-Served-By``), and every one of them reaches the stream, because each node LISTENs
to PostgreSQL and pushes whatever changed, whichever node wrote it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gridsvc.settings import Settings
from tests.events_support import post_order
from tests.live_support import SSEClient, hotline_secret, is_event, order_in_a_quiet_grid
from tests.proxy_support import app_nodes, haproxy

pytestmark = pytest.mark.usefixtures("demo")
LIVE_WITHIN_S = 3.0


async def test_a_stream_through_the_proxy_gets_work_orders_posted_to_either_node(
    settings: Settings, make_token, db, tmp_path: Path
):
    assert settings.database_url is not None
    operator = make_token("operator")
    secret = await hotline_secret(db)
    with app_nodes(settings, tmp_path) as nodes, haproxy(nodes, tmp_path) as proxy:
        async with SSEClient(proxy, operator) as stream:
            assert stream.response is not None and stream.response.status_code == 200
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            stream_node = stream.response.headers["x-served-by"]
            posted_by: dict[str, list[int]] = {}
            async with httpx.AsyncClient(base_url=proxy, timeout=10) as client:
                # round robin: four posts are served by both nodes, the stream's and the other
                for _ in range(4):
                    order = await order_in_a_quiet_grid(settings.database_url)
                    created = await asyncio.to_thread(_post, proxy, secret, order)
                    assert created.status_code == 201, created.text
                    event_id = int(created.json()["id"])
                    posted_by.setdefault(created.headers["x-served-by"], []).append(event_id)
                    await stream.wait_for(is_event(event_id), within=LIVE_WITHIN_S)
                assert (await client.get("/health")).status_code == 200
            assert set(posted_by) == {"node1", "node2"}, posted_by
            assert stream_node in posted_by
            print(f"stream on {stream_node}; work orders by node: {posted_by}")


def _post(base_url: str, secret: str, order: dict) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        answer: httpx.Response = post_order(client, secret, order)
        answer.read()
        return answer
