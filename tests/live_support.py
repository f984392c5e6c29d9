"""Helpers for the live tests (SSE over real HTTP, places inside a grid, demo matters)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from gridsvc.app import create_app
from gridsvc.settings import Settings
from tests.events_support import AppServer, free_port


@dataclass
class Message:
    event: str
    data: dict[str, Any]
    id: str | None


class SSEClient:
    """``GET /live/stream`` over real HTTP, read message by message."""

    def __init__(self, base_url: str, token: str | None, *, last_event_id: str | None = None) -> None:
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None))
        self._headers = headers
        self._stream: Any = None
        self.response: httpx.Response | None = None
        self._lines: Any = None
        self.received: list[Message] = []

    async def __aenter__(self) -> SSEClient:
        self._stream = self._client.stream("GET", "/live/stream", headers=self._headers)
        self.response = await self._stream.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stream.__aexit__(*exc)
        await self._client.aclose()

    async def next(self, within: float) -> Message:
        async def read() -> Message:
            name, ident = "message", None
            data: list[str] = []
            async for line in self._lines:
                if line == "":
                    if data:
                        return Message(name, json.loads("\n".join(data)), ident)
                    name, data, ident = "message", [], None
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    ident = value
            raise AssertionError("the stream ended")

        message = await asyncio.wait_for(read(), within)
        self.received.append(message)
        return message

    async def wait_for(self, predicate: Any, within: float = 5.0) -> Message:
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no matching message within {within} s; got "
                    f"{[(m.event, m.data) for m in self.received[-10:]]}"
                )
            try:
                message = await self.next(left)
            except TimeoutError:
                continue
            if predicate(message):
                return message


def get(url: str, token: str | None = None) -> httpx.Response:
    """A plain GET (blocking: the servers run in their own threads)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=10)


def act(base_url: str, token: str, event_id: int, action: str, **body: Any) -> dict:
    """A lifecycle action through the API (blocking), which must succeed."""
    response = httpx.post(
        f"{base_url}/events/{event_id}/actions/{action}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def is_event(event_id: int, state: str | None = None) -> Any:
    return lambda m: (
        m.event == "event"
        and m.data["event"]["id"] == event_id
        and (state is None or m.data["event"]["state"] == state)
    )


def start_server(settings: Settings, **changes: Any) -> AppServer:
    app_settings = settings.model_copy(update=changes) if changes else settings
    return AppServer(create_app(app_settings), free_port()).__enter__()


async def spot_in(db: asyncpg.Connection, grid: str, layer: str = "community") -> dict[str, float]:
    """A point inside ``grid``, more than 250 m from every event so far where one is left.

    Only matters set to ``auto_merge`` ever link by themselves, so a crowded grid (a long
    shuffled run fills LI-VADUZ-01) takes the free-est of the sampled points instead of failing.
    """
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints("
        "ST_Buffer(geom::geography, -30)::geometry, 300))).geom AS p FROM current_grids "
        "WHERE layer = $2 AND code = $1) s ORDER BY (SELECT coalesce(min(ST_Distance("
        "e.geom::geography, s.p::geography)), 1e9) FROM events e WHERE "
        "ST_DWithin(e.geom::geography, s.p::geography, 250)) DESC LIMIT 1",
        grid,
        layer,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lat": row["lat"], "lng": row["lng"]}


async def delegated_matter(db: asyncpg.Connection) -> str:
    """An urban-management event matter that is not auto-dispatched (an operator sends it)."""
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = 'urban_management' AND kind = 'event'"
        " AND NOT auto_dispatch AND handling_level = 'township' ORDER BY code LIMIT 1"
    )
    assert code is not None
    return str(code)


async def hotline_secret(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'"))


def work_order(matter: str, where: dict[str, float], title: str = "占道经营，请处理") -> dict:
    return {
        "work_order_no": f"L{uuid.uuid4().hex[:12]}",
        "title": title,
        "content": "市民来电反映：路口占道经营，影响通行。",
        "matter_code": matter,
        "location": {**where, "crs": "wgs84"},
        "address": "测试地址",
    }


# Townships (enforcement grids) the older tests put their work orders in; newer tests keep
# theirs in the others, so that no duplicate link or inbox of theirs changes.
BUSY_TOWNS = ("LI-VADUZ", "LI-SCHAAN", "LI-TRIESENBERG", "LI-TRIESEN", "LI-BALZERS")
QUIET_GRIDS = (
    "SELECT code FROM current_grids WHERE layer = 'community' AND code LIKE 'LI-%' "
    "AND enforcement_code <> ALL($1::text[])"
)


async def order_in_a_quiet_grid(database_url: str) -> dict:
    """A work order (a delegated matter) at a free spot of the first quiet Liechtenstein
    community grid (by code) that still has room."""
    db = await asyncpg.connect(database_url)
    try:
        for row in await db.fetch(QUIET_GRIDS + " ORDER BY code", list(BUSY_TOWNS)):
            try:
                where = await spot_in(db, row["code"])
            except AssertionError:
                continue
            return work_order(await delegated_matter(db), where)
        raise AssertionError("no community grid with room for another work order")
    finally:
        await db.close()
