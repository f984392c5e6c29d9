"""A living demo for ``gridsvc up``: accounts to log in with, and a stream of work orders.

Once the server answers, a background thread posts generated 12345 work orders over the
demo counties (a batch from each in turn), signed with the ``hotline-demo`` integration's
secret, at a steady rate (``--replay-rate``, orders per second), exactly as the hotline
would. So that the map does not only fill up, the same thread plays the field: for each
order it moves a few open demo events one step along the main path (派遣 → 签收 → 到场, the
squad's AVL position jumping to the scene → 处置 → 核查 → 结案), through the real API with a
demo account's token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from gridsvc.auth import service as auth
from gridsvc.database.pool import connect
from gridsvc.replay.generator import generate_work_orders
from gridsvc.webhooks.service import integration_by_name
from gridsvc.webhooks.signing import signed_headers

log = logging.getLogger("gridsvc.demo")
DEMO_OPERATOR = "demo-operator"
DEMO_GRID_HEAD = "demo-vaduz-01"
DEMO_FEED = "demo-feed"  # the simulated field and AVL units (admin: it posts squad positions)
NEXT_ACTION = {
    "received": "route",
    "returned": "route",
    "routed": "dispatch",
    "dispatched": "sign_for",
    "signed_for": "arrive",
    "on_scene": "handle",
    "handled": "verify",
    "verified": "close",
}
BATCH = 500


async def demo_accounts(url: str) -> dict[str, str]:
    """Fresh tokens for the demo's operator, a grid head of LI-VADUZ-01 and the feed
    (accounts made on first use)."""
    connection = await connect(url)
    try:
        tokens = {}
        for name, role, shown, grids in (
            (DEMO_OPERATOR, "operator", "值班员（演示）", ()),
            (DEMO_GRID_HEAD, "grid_head", "网格长 瓦杜兹01（演示）", ("LI-VADUZ-01",)),
            (DEMO_FEED, "admin", "演示数据源", ()),
        ):
            if await auth.get_user(connection, name=name) is None:
                await auth.create_user(connection, name=name, role=role, display_name=shown, grid_codes=grids)
            tokens[name] = await auth.issue_token(connection, user_name=name, label="gridsvc up")
        return tokens
    finally:
        await connection.close()


class DemoFeed(threading.Thread):
    """Posts demo work orders and plays the field until the process ends."""

    def __init__(
        self,
        *,
        base_url: str,
        database_url: str,
        rate: float,
        token: str,
        jurisdictions: tuple[str, ...] = ("LI", "350424"),
        steps_per_order: int = 3,
    ) -> None:
        super().__init__(name="gridsvc-demo-feed", daemon=True)
        self.base_url = base_url.rstrip("/")
        self.database_url = database_url
        self.rate = rate
        self.token = token
        # one centre, two counties: each batch of orders comes from the next one in turn
        self.jurisdictions = jurisdictions
        self.steps_per_order = steps_per_order
        self.posted = 0
        self.batches = 0
        self.rng = random.Random()
        self._stub: asyncio.Server | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # a demo aid: never take the server down
            log.exception("demo feed stopped")

    async def _main(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            await self._wait_until_up(client)
            secret = await self._secret()
            await self._hotline_stub()
            while True:
                for order in await self._orders():
                    await self._post(client, secret, order)
                    for _ in range(self.steps_per_order):
                        await self._advance(client)
                    await asyncio.sleep(1.0 / self.rate)

    async def _wait_until_up(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        raise RuntimeError("the server did not come up")

    async def _secret(self) -> str:
        connection = await connect(self.database_url)
        try:
            integration = await integration_by_name(connection, name="hotline-demo")
        finally:
            await connection.close()
        if integration is None:
            raise RuntimeError("no hotline-demo integration: run gridsvc demo build")
        return str(integration["secret"])

    async def _hotline_stub(self) -> None:
        """Play the 12345 hotline's side too: accept its feedback (签收, 办结...) so that the
        outbox delivers instead of retrying. Only when the demo integration has no callback
        URL of its own (or one of an earlier demo run)."""

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
                await reader.readexactly(int(found.group(1)) if found else 0)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}'
                )
                await writer.drain()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        self._stub = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = self._stub.sockets[0].getsockname()[1]
        connection = await connect(self.database_url)
        try:
            await connection.execute(
                "UPDATE integrations SET callback_url = $1 WHERE name = 'hotline-demo' AND "
                "(callback_url IS NULL OR callback_url LIKE '%/demo-hotline')",
                f"http://127.0.0.1:{port}/demo-hotline",
            )
        finally:
            await connection.close()

    async def _orders(self) -> list[dict[str, Any]]:
        jurisdiction = self.jurisdictions[self.batches % len(self.jurisdictions)]
        self.batches += 1
        connection = await connect(self.database_url)
        try:
            return await generate_work_orders(
                connection,
                jurisdiction=jurisdiction,
                count=BATCH,
                seed=self.rng.randrange(1 << 30),
                prefix=f"DEMO{datetime.now(UTC):%H%M%S}-",
            )
        finally:
            await connection.close()

    async def _post(self, client: httpx.AsyncClient, secret: str, order: dict[str, Any]) -> httpx.Response:
        """Deliver one work order the way the hotline does: signed, to ``/webhooks/12345``,
        so demo events take the same intake flow (gridsvc.events.flows) as real ones."""
        order = {**order, "reported_at": datetime.now(UTC).isoformat()}
        body = json.dumps(order, ensure_ascii=False).encode()
        headers = signed_headers(secret, body, integration="hotline-demo")
        response = await client.post("/webhooks/12345", content=body, headers=headers)
        if response.status_code >= 400:
            log.warning("demo work order refused: %s %s", response.status_code, response.text[:200])
        self.posted += 1
        return response

    async def _advance(self, client: httpx.AsyncClient) -> None:
        """Move one random open demo event one step along the main path."""
        headers = {"Authorization": f"Bearer {self.token}"}
        found = await client.get("/live/events", headers=headers, params={"limit": 500})
        if found.status_code != 200:
            return
        movable = [
            e
            for e in found.json()["events"]
            if e["state"] in NEXT_ACTION and (e["external_id"] or "").startswith("DEMO")
        ]
        if not movable:
            return
        event = self.rng.choice(movable)
        action = NEXT_ACTION[event["state"]]
        body: dict[str, Any] = {}
        if action == "route":  # the operator places it with the township's squad
            if not event["enforcement"]:
                return
            body = {"target": {"kind": "squad", "code": event["enforcement"]}, "note": "值班员分拨（演示）"}
        if action == "handle":
            body["note"] = "已到现场处置完毕（演示）"
        if action == "arrive" and event["squad_id"] and event["lat"] is not None:
            await client.post(
                f"/squads/{event['squad_id']}/positions",
                headers=headers,
                json={
                    "lat": event["lat"],
                    "lng": event["lng"],
                    "crs": "wgs84",
                    "timestamp": datetime.now(UTC).isoformat(),
                },
            )
            body["position"] = {"lat": event["lat"], "lng": event["lng"], "crs": "wgs84"}
        await client.post(f"/events/{event['id']}/actions/{action}", headers=headers, json=body)
