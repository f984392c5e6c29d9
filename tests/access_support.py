"""The world of the access matrix: an app of its own, one account per role, and real objects
inside and outside each account's scope (events, squads, outbox messages, whistles).

Grid head: the community grid around Vaduz town hall ("mine"). Squad: a squad made here
("mine"); another one is "other". Integration: a hotline made here. "Mine" events come in
through that hotline's webhook inside the grid head's grid and are dispatched to the squad;
"other" events are entered by the desk in Eschen and dispatched to the other squad.
Department: the housing department (住建); its "mine" events are cases of a housing matter
(not delegated: the department is responsible) in the grid head's grid, dispatched to it.
Whistles summon emergency and housing.
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from gridsvc.auth import service as auth
from gridsvc.database.pool import connect
from gridsvc.webhooks.signing import signed_headers
from tests.events_support import AppServer, free_port

ROLES = (
    "admin",
    "operator",
    "grid_head",
    "squad",
    "integration",
    "department",
    "leader",
    "anonymous",
    "revoked",
)
TOKEN_ROLES = ROLES[:7]
DEPARTMENT = "housing"  # the department account's department (owns the world's housing matter)
VADUZ = (9.5209, 47.1410)  # town hall square, WGS84
ESCHEN = (9.5225, 47.2110)


def sql(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Run one statement on its own connection (from sync code, whatever loop is around)."""

    async def go() -> list[dict[str, Any]]:
        connection = await connect(database_url)
        try:
            return [dict(r) for r in await connection.fetch(query, *args)]
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, go()).result()


def in_thread(coroutine_function: Any, database_url: str, **kwargs: Any) -> Any:
    async def go() -> Any:
        connection = await connect(database_url)
        try:
            return await coroutine_function(connection, **kwargs)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, go()).result()


@dataclass
class World:
    client: TestClient
    database_url: str
    tokens: dict[str, str]
    integration: str
    secret: str
    demo_secret: str
    grid_mine: str
    grid_other: str
    squad_mine: int
    squad_other: int
    matter: str
    housing_matter: str
    township: str
    points: dict[str, list[tuple[float, float]]]
    created_squads: list[int] = field(default_factory=list)
    app_factory: Any = None
    server: AppServer | None = None

    # -- calling ------------------------------------------------------------------------

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def call(
        self,
        role: str,
        method: str,
        path: str,
        *,
        auth_header: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request as ``role``, with no cookie left over from an earlier login."""
        self.client.cookies.clear()
        sent = {**(self.headers(role) if auth_header else {}), **(headers or {})}
        return self.client.request(method, path, headers=sent, follow_redirects=False, **kwargs)

    def stream_status(self, role: str, path: str) -> int:
        """The status of an endless response (SSE), over real HTTP: the TestClient would
        wait for its end. The server starts on first use."""
        if self.server is None:
            self.server = AppServer(self.app_factory(), free_port()).__enter__()
        with (
            httpx.Client(base_url=self.server.url, timeout=10) as http,
            http.stream("GET", path, headers=self.headers(role)) as response,
        ):
            return response.status_code

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call("admin", method, path, **kwargs)
        assert 200 <= response.status_code < 300, (method, path, response.text)
        return response.json() if response.content else None

    # -- objects -----------------------------------------------------------------------

    def point(self, grid: str) -> dict[str, float]:
        lng, lat = self.points[grid].pop()
        return {"lng": lng, "lat": lat}

    def hotline_order(
        self,
        *,
        secret: str | None = None,
        integration: str | None = None,
        location: dict[str, float] | None = None,
        reporter: dict[str, Any] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        order = {
            "work_order_no": f"ACC{uuid.uuid4().hex[:12]}",
            "title": "占道经营",
            "content": "市民反映",
            "matter_code": self.matter,
            "location": location or self.point(self.grid_mine),
        }
        if reporter is not None:
            order["reporter"] = reporter
        body = json.dumps(order, ensure_ascii=False).encode()
        return body, signed_headers(secret or self.secret, body, integration=integration or self.integration)

    def event_mine(
        self, *, role: str | None = None, dispatched: bool = True, reporter: dict[str, Any] | None = None
    ) -> int:
        """An event in ``role``'s scope: for the department account a housing case, else a
        hotline work order in the grid head's grid, dispatched to the squad."""
        if role == "department":
            return self.department_case(reporter=reporter)
        body, headers = self.hotline_order(reporter=reporter)
        response = self.call("anonymous", "POST", "/webhooks/12345", content=body, headers=headers)
        assert response.status_code == 201, response.text
        event_id = int(response.json()["id"])
        if dispatched:
            self.admin("POST", f"/events/{event_id}/actions/dispatch", json={"squad_id": self.squad_mine})
        return event_id

    def event_other(
        self,
        *,
        location: dict[str, float] | None = None,
        dispatched: bool = True,
        reporter: dict[str, Any] | None = None,
    ) -> int:
        """A desk-entered event in Eschen (another grid), dispatched to the other squad."""
        created = self.admin(
            "POST",
            "/events",
            json={
                "title": "乱堆物料",
                "matter_code": self.matter,
                "location": location or self.point(self.grid_other),
                **({"reporter": reporter} if reporter is not None else {}),
            },
        )
        if dispatched:
            self.admin(
                "POST", f"/events/{created['id']}/actions/dispatch", json={"squad_id": self.squad_other}
            )
        return int(created["id"])

    def department_case(self, *, reporter: dict[str, Any] | None = None) -> int:
        """A housing case in the grid head's grid: routed to the housing department (the
        matter is not delegated), dispatched to it."""
        created = self.admin(
            "POST",
            "/events",
            json={
                "title": "违章搭建",
                "matter_code": self.housing_matter,
                "location": self.point(self.grid_mine),
                **({"reporter": reporter} if reporter is not None else {}),
            },
        )
        assert created["responsible"] == {
            "kind": "department",
            "code": DEPARTMENT,
            "name": created["responsible"]["name"],
        }, created
        self.admin("POST", f"/events/{created['id']}/actions/dispatch", json={})
        return int(created["id"])

    def dead_message(self, *, own: bool) -> int:
        """A dead hotline-feedback message of the world's hotline (own) or the demo's."""
        if own:
            event_id = self.event_mine()
        else:
            body, headers = self.hotline_order(secret=self.demo_secret, integration="hotline-demo")
            event_id = self.call(
                "anonymous", "POST", "/webhooks/12345", content=body, headers=headers
            ).json()["id"]
            self.admin("POST", f"/events/{event_id}/actions/dispatch", json={"squad_id": self.squad_other})
        self.admin("POST", f"/events/{event_id}/actions/sign_for")
        rows = sql(
            self.database_url, "UPDATE outbox SET status = 'dead' WHERE event_id = $1 RETURNING id", event_id
        )
        assert len(rows) == 1
        return int(rows[0]["id"])

    def whistle(
        self,
        *,
        acknowledged: bool = False,
        departments: tuple[str, ...] = ("emergency", DEPARTMENT),
        department: str = "emergency",
    ) -> int:
        """A whistle summoning ``departments``; ``acknowledged``: ``department`` has 报到."""
        created = self.admin(
            "POST",
            "/whistles",
            json={
                "township_code": "LI-VADUZ",
                "title": "违建拆除协调",
                "departments": list(departments),
                "matter_code": self.housing_matter,
                "location": self.point(self.grid_mine),
            },
        )
        if acknowledged:
            self.admin("POST", f"/whistles/{created['id']}/departments/{department}/ack")
        return int(created["id"])

    def duban(self, role: str, *, mine: bool) -> int:
        """A 督办 raised by the escalation job (clock at 2× the sign-for limit) on a dispatched
        event: mine (Vaduz, the world's squad; level 2 reaches the world's leader) or other
        (Eschen, the other squad). Returns the one the role would answer (leader: level 2)."""
        from gridsvc.clock import FrozenClock
        from gridsvc.duban.flows import escalate

        event_id = self.event_mine() if mine else self.event_other()
        row = sql(self.database_url, "SELECT stage_started_at, due_at FROM events WHERE id = $1", event_id)[0]
        clock = FrozenClock(row["stage_started_at"] + 2 * (row["due_at"] - row["stage_started_at"]))
        raised = in_thread(
            escalate,
            self.database_url,
            default_levels="1:unit,2:township,3:county",
            clock=clock,
            event_id=event_id,
        )
        assert raised == 2
        level = 2 if role == "leader" else 1
        found = sql(
            self.database_url,
            "SELECT id FROM escalations WHERE event_id = $1 AND level = $2",
            event_id,
            level,
        )
        return int(found[0]["id"])

    def squad(self) -> int:
        created = self.admin(
            "POST",
            "/squads",
            json={
                "code": f"SQ-ACC-{uuid.uuid4().hex[:8]}",
                "name": "Access test squad",
                "station": {"lat": VADUZ[1], "lng": VADUZ[0]},
                "grid_codes": [],
            },
        )
        self.created_squads.append(created["id"])
        return int(created["id"])

    def photo(self, *, mine: bool, role: str | None = None) -> tuple[int, int]:
        """(event id, attachment id) of a photo on an event in or outside ``role``'s scope."""
        event_id = self.event_mine(role=role) if mine else self.event_other()
        stored = self.admin(
            "POST", f"/events/{event_id}/attachments", files={"file": ("scene.png", png(), "image/png")}
        )
        return event_id, int(stored["id"])

    def user(self) -> str:
        name = f"acc-user-{uuid.uuid4().hex[:8]}"
        in_thread(auth.create_user, self.database_url, name=name, role="operator")
        return name

    def token_id(self) -> int:
        row = in_thread(auth.issue_token_row, self.database_url, user_name=self.user())
        return int(row["id"])


def png() -> bytes:
    """A real 1×1 PNG (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
