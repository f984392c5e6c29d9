"""The work-order generator and the replay tool, against the real app over HTTP."""

from __future__ import annotations

import json

import asyncpg
import numpy as np
import pytest
import shapely

from gridsvc.app import create_app
from gridsvc.geo.crs import parse_crs, to_wgs84
from gridsvc.replay.generator import generate_work_orders
from gridsvc.replay.replay import read_orders, replay
from tests.events_support import AppServer, free_port

pytestmark = pytest.mark.usefixtures("demo")


async def test_generated_work_orders_are_realistic(db: asyncpg.Connection):
    orders = await generate_work_orders(db, jurisdiction="LI", count=400, seed=3, prefix="G")
    assert len({o["work_order_no"] for o in orders}) == 400
    matters = {r["code"] for r in await db.fetch("SELECT code FROM matters")}
    assert all(o["matter_code"] in matters for o in orders)
    community = shapely.union_all(
        [r["geom"] for r in await db.fetch("SELECT geom FROM current_grids WHERE layer = 'community'")]
    )
    located = [o for o in orders if "location" in o]
    crs_used = {o["location"]["crs"] for o in located}
    assert crs_used == {"wgs84", "gcj02", "bd09"}
    for order in located:
        location = order["location"]
        x, y = to_wgs84(np.array([location["lng"]]), np.array([location["lat"]]), parse_crs(location["crs"]))
        assert community.buffer(0.0001).contains(shapely.Point(float(x[0]), float(y[0])))
    address_only = len(orders) - len(located)
    assert 5 <= address_only <= 40  # about 5 %
    assert all(o["title"] and o["content"] and o["reporter"]["phone"] for o in orders)


async def test_replay_posts_signed_orders_and_is_idempotent(settings, db, tmp_path):
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    orders = await generate_work_orders(db, jurisdiction="LI", count=30, seed=9, prefix="RP")
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in orders))
    assert read_orders(str(path)) == orders
    with AppServer(create_app(settings), free_port()) as server:
        first = await replay(
            orders, url=f"{server.url}/webhooks/12345", integration="hotline-demo", secret=secret, rate=40
        )
        again = await replay(
            orders, url=f"{server.url}/webhooks/12345", integration="hotline-demo", secret=secret, rate=40
        )
        wrong = await replay(
            orders[:3],
            url=f"{server.url}/webhooks/12345",
            integration="hotline-demo",
            secret="not-the-secret",
            rate=40,
        )
    assert first.statuses == {201: 30} and not first.errors
    assert again.statuses == {200: 30}
    assert wrong.statuses == {401: 3}
    stored = await db.fetchval(
        "SELECT count(*) FROM events WHERE external_id = ANY($1)", [o["work_order_no"] for o in orders]
    )
    assert stored == 30
    assert first.summary()["p95_ms"] > 0


def test_read_orders_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"work_order_no": "A"}\n{not json}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2"):
        read_orders(str(path))
