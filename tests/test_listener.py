"""D2: live features come back after the database drops the connections.

A throwaway cluster of this module's own (never the shared one) with a copy of the session's
demo database, and the real app served by uvicorn against it. The LISTEN backend is
terminated, then the whole cluster is restarted in immediate mode (every backend dies, as in
a crash); each time a work order posted afterwards must reach an open SSE stream within 3 s,
and a grid re-import made after the restart must be served by ``/grids/lookup``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
from shapely.geometry import MultiPolygon, box, mapping

from gridsvc.app import create_app
from gridsvc.database.pool import connect, create_pool
from gridsvc.grids.importer import FieldMap, prepare_layer
from gridsvc.grids.live_overlay import OverlayHolder
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.listener import Listener
from tests.auth_support import issue_token
from tests.cluster_support import ThrowawayCluster, terminate_listeners
from tests.events_support import VADUZ, AppServer, free_port, post_order
from tests.live_support import (
    SSEClient,
    delegated_matter,
    hotline_secret,
    is_event,
    spot_in,
    work_order,
)
from tests.roads_support import scratch_database
from tests.waiting import await_until

pytestmark = pytest.mark.usefixtures("demo")
LIVE_WITHIN_S = 3.0
IMPORT_WITHIN_S = 20.0  # the overlay is reloaded whole: every layer's cells, off the loop


@pytest.fixture(scope="module")
async def throwaway(database_url: str, demo: dict[str, Path]) -> Any:  # noqa: ARG001
    """(cluster, url): a cluster of our own holding a copy of the session database."""
    cluster = ThrowawayCluster.create()
    await asyncio.to_thread(cluster.__enter__)
    try:
        url = await cluster.copy_database(database_url, "gridsvc_listener")
        yield cluster, url
    finally:
        await asyncio.to_thread(cluster.destroy)


@pytest.fixture(scope="module")
def server(throwaway: tuple[ThrowawayCluster, str], settings: Any) -> Any:
    _, url = throwaway
    app = create_app(settings.model_copy(update={"database_url": url}))
    running = AppServer(app, free_port()).__enter__()
    try:
        yield running
    finally:
        running.__exit__()


@pytest.fixture(scope="module")
def operator(throwaway: tuple[ThrowawayCluster, str]) -> str:
    return issue_token(throwaway[1], "operator")


async def order_for(url: str) -> tuple[str, dict[str, Any]]:
    connection = await connect(url)
    try:
        where = await spot_in(connection, "LI-VADUZ-01")
        return await hotline_secret(connection), work_order(await delegated_matter(connection), where)
    finally:
        await connection.close()


async def post_until_accepted(base_url: str, secret: str, order: dict[str, Any]) -> int:
    """Post the work order, again while the server answers 5xx (the database is coming
    back); the webhook is idempotent by work order number. Returns the event id."""

    async def accepted() -> int | None:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            answer = await asyncio.to_thread(post_order, client, secret, order)
        assert answer.status_code in (200, 201) or answer.status_code >= 500, answer.text
        return int(answer.json()["id"]) if answer.status_code in (200, 201) else None

    return await await_until(accepted, within=30, interval=0.2)


async def test_a_terminated_listen_backend_is_replaced_and_live_updates_flow(throwaway, server, operator):
    _, url = throwaway
    secret, order = await order_for(url)
    async with SSEClient(server.url, operator) as stream:
        await stream.wait_for(lambda m: m.event == "hello")
        assert await terminate_listeners(url) >= 1
        event_id = await post_until_accepted(server.url, secret, order)
        await stream.wait_for(is_event(event_id), within=LIVE_WITHIN_S)
        # the page is also told that it may have missed something while nobody listened
        assert any(m.event == "resync" for m in stream.received)


async def test_after_an_immediate_restart_live_updates_and_grid_imports_come_back(
    throwaway, server, operator, demo, tmp_path
):
    cluster, url = throwaway
    secret, order = await order_for(url)
    async with SSEClient(server.url, operator) as stream:
        await stream.wait_for(lambda m: m.event == "hello")
        await asyncio.to_thread(cluster.restart, "immediate")  # returns once it accepts
        event_id = await post_until_accepted(server.url, secret, order)
        await stream.wait_for(is_event(event_id), within=LIVE_WITHIN_S)

    # a grid re-import made after the restart is what /grids/lookup answers
    frame = gpd.read_file(demo["community"], engine="pyogrio")
    frame["name_zh"] = [f"{code} 重新导入" for code in frame["code"]]
    renamed = tmp_path / "community.geojson"
    frame.to_file(renamed, driver="GeoJSON", engine="pyogrio")
    prepared = prepare_layer(renamed, layer="community", fields=FieldMap())
    connection = await connect(url)
    try:
        await import_layer(connection, prepared, jurisdiction_code="LI", resolution=10)
    finally:
        await connection.close()

    async def reimport_served() -> bool:
        answer = await asyncio.to_thread(
            httpx.get,
            f"{server.url}/grids/lookup",
            params=VADUZ,
            headers={"Authorization": f"Bearer {operator}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        grid = answer.json()["layers"]["community"]["grid"]
        return bool(grid["name_zh"] == f"{grid['code']} 重新导入")

    served: bool = await await_until(
        reimport_served, within=IMPORT_WITHIN_S, interval=0.1, message="the re-import is not served"
    )
    assert served


# -- an import committed while the overlay is being reloaded --------------------------------

AREA = box(119.30, 26.00, 119.32, 26.02)  # a test county in Fujian, far from the demo


def one_grid_layer(path: Path, name_zh: str) -> Path:
    feature = {
        "type": "Feature",
        "geometry": mapping(AREA),
        "properties": {"code": "TX-01", "name": "grid TX-01", "name_zh": name_zh},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


async def test_an_import_notified_during_an_overlay_reload_is_loaded_too(server_url, tmp_path):
    async with scratch_database(server_url, "overlay") as url:
        setup = await connect(url)
        try:
            await jurisdictions.upsert(
                setup, code="TX", name="TX", level="county", boundary=MultiPolygon([AREA]), source="tests"
            )
            await import_layer(
                setup,
                prepare_layer(one_grid_layer(tmp_path / "v1.geojson", "旧"), layer="community"),
                jurisdiction_code="TX",
                resolution=9,
            )
        finally:
            await setup.close()
        pool = await create_pool(url, min_size=1, max_size=3)
        listener = Listener(url)
        holder = OverlayHolder(pool, listener)
        blocker = await connect(url)
        try:
            await listener.start()
            await holder.start()

            async def name_is(expected: str) -> bool:
                summaries = holder.current.layers["community"].summaries
                return bool(summaries[0]["name_zh"] == expected)

            assert await name_is("旧")
            # A reload starts (any NOTIFY) and waits on the grids table we hold locked ...
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE grids IN ACCESS EXCLUSIVE MODE")
            await pool.execute("NOTIFY gridsvc_overlay, 'test'")

            async def reload_waits() -> bool:
                return bool(
                    await pool.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'grids'::regclass"
                    )
                )

            waits: bool = await await_until(reload_waits)
            assert waits
            # ... while a new version is imported and committed: its NOTIFY arrives during
            # that reload, which read the old version; it must be loaded all the same.
            await import_layer(
                blocker,
                prepare_layer(one_grid_layer(tmp_path / "v2.geojson", "新"), layer="community"),
                jurisdiction_code="TX",
                resolution=9,
            )
            await transaction.commit()
            loaded: bool = await await_until(lambda: name_is("新"))
            assert loaded
        finally:
            await blocker.close()
            await holder.stop()
            await listener.stop()
            await pool.close()
