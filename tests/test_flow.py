"""One intake flow for every entry point, one dispatch decision, one read model.

The webhook, ``POST /events``, whistles and the demo feed all store events through
``gridsvc.events.flows.intake``: each answer is cut from the stored row's read model, so it
equals what ``GET /events/{id}`` says afterwards, and the audit trail starts the same way.
"""

from __future__ import annotations

import ast
import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gridsvc.app import create_app
from gridsvc.live.demo import DemoFeed
from gridsvc.settings import PROJECT_ROOT, Settings
from tests.auth_support import bearer
from tests.events_support import AppServer, free_port, post_order

pytestmark = pytest.mark.usefixtures("demo")

CREATED_KEYS = ["id", "created", "state", "responsible", "squad_id", "duplicate_of", "routing", "sla"]
SLA_KEYS = ["stage", "due_at", "time_left_s", "status", "handle_due_at"]
GRIDSVC = PROJECT_ROOT / "gridsvc"


async def _spot(db: asyncpg.Connection, grid: str = "LI-VADUZ") -> dict[str, float]:
    """A point inside ``grid`` more than 250 m from every event so far (no accidental 并单)."""
    row = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, "
        "200))).geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = $1) s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1",
        grid,
    )
    assert row is not None, f"no free spot left in {grid}"
    return {"lat": row["lat"], "lng": row["lng"]}


async def _matter(db: asyncpg.Connection, owner: str, *, auto: bool) -> str:
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = $1 AND kind = 'event' "
        "AND auto_dispatch = $2 ORDER BY code LIMIT 1",
        owner,
        auto,
    )
    assert code is not None
    return str(code)


async def _secret(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'"))


def _stored(client: Any, event_id: int) -> dict[str, Any]:
    response = client.get(f"/events/{event_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _assert_answer_is_the_stored_event(answer: dict[str, Any], stored: dict[str, Any]) -> None:
    assert list(answer) == CREATED_KEYS
    assert list(answer["sla"]) == SLA_KEYS
    assert answer["responsible"] == {
        "kind": stored["responsible_kind"],
        "code": stored["responsible_code"],
        "name": stored["responsible_name"],
    }
    for key in ("id", "state", "squad_id", "duplicate_of", "routing"):
        assert answer[key] == stored[key], key
    for key in ("stage", "due_at", "handle_due_at"):
        assert answer["sla"][key] == stored["sla"][key], key


def _receive_row(stored: dict[str, Any]) -> dict[str, Any]:
    first = stored["history"][0]
    assert first["action"] == "receive" and first["from_state"] is None
    return first


async def test_the_four_entry_points_go_through_one_intake(
    client, db, settings: Settings, database_url: str
) -> None:
    matter = await _matter(db, "urban_management", auto=False)
    secret = await _secret(db)

    # 1. the 12345 webhook
    order = {
        "work_order_no": f"F{uuid.uuid4().hex[:12]}",
        "title": "占道经营",
        "matter_code": matter,
        "location": await _spot(db),
    }
    hooked = post_order(client, secret, order)
    assert hooked.status_code == 201, hooked.text
    again = post_order(client, secret, order)  # known work order: same event, same shape
    assert again.status_code == 200
    assert again.json() == {
        **hooked.json(),
        "created": False,
        "sla": {
            **hooked.json()["sla"],
            "time_left_s": again.json()["sla"]["time_left_s"],
            "status": again.json()["sla"]["status"],
        },
    }

    # 2. POST /events (operator or patrol)
    entered = client.post(
        "/events",
        json={
            "source": "patrol",
            "title": "巡查发现占道经营",
            "matter_code": matter,
            "location": await _spot(db),
        },
    )
    assert entered.status_code == 201, entered.text

    # 3. a whistle (吹哨): its event takes the same flow
    whistled = client.post(
        "/whistles",
        json={
            "township_code": "LI-VADUZ",
            "title": f"吹哨 {uuid.uuid4().hex[:6]}",
            "location": await _spot(db),
            "matter_code": matter,
            "departments": ["housing"],
        },
    )
    assert whistled.status_code == 201, whistled.text

    # 4. the demo feed of `gridsvc up`, against a real server
    app_settings = settings.model_copy(update={"background_workers": False})
    with AppServer(create_app(app_settings), free_port()) as server:
        feed = DemoFeed(
            base_url=server.url,
            database_url=database_url,
            rate=1.0,
            token=bearer(database_url)["Authorization"].split()[1],
        )
        demo_order = {
            "work_order_no": f"DEMO{uuid.uuid4().hex[:10]}",
            "title": "演示工单",
            "matter_code": matter,
            "location": await _spot(db),
        }

        async def post() -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                return await feed._post(http, secret, demo_order)

        fed = await asyncio.get_running_loop().run_in_executor(None, asyncio.run, post())
    assert fed.status_code == 201, fed.text

    sources = []
    for answer, source, actor in (
        (hooked.json(), "hotline", "integration:hotline-demo"),
        (entered.json(), "patrol", None),
        (fed.json(), "hotline", "integration:hotline-demo"),
    ):
        stored = _stored(client, answer["id"])
        _assert_answer_is_the_stored_event(answer, stored)
        receive = _receive_row(stored)
        assert receive["data"] == {"source": source}
        if actor:
            assert receive["actor"] == actor
        sources.append(stored["source"])
    event = whistled.json()["event"]
    stored = _stored(client, whistled.json()["event_id"])
    assert (event["routing"], event["duplicate_of"]) == (stored["routing"], stored["duplicate_of"])
    assert event["sla"]["due_at"] == stored["sla"]["due_at"]
    assert _receive_row(stored)["data"] == {"source": "whistle"}
    assert [h["action"] for h in stored["history"][:2]] == ["receive", "route"]
    assert sources == ["hotline", "patrol", "hotline"]


async def test_auto_dispatch_and_an_operator_dispatch_are_one_decision(client, db) -> None:
    """Auto-dispatch at intake and an operator's 派遣 send the recommended squad with the
    matter's handling limit, and record it alike."""
    secret = await _secret(db)
    auto = post_order(
        client,
        secret,
        {
            "work_order_no": f"F{uuid.uuid4().hex[:12]}",
            "title": "紧急: 井盖缺失",
            "matter_code": await _matter(db, "urban_management", auto=True),
            "location": await _spot(db),
        },
    ).json()
    manual = client.post(
        "/events",
        json={
            "title": "占道经营",
            "location": await _spot(db),
            "matter_code": await _matter(db, "urban_management", auto=False),
        },
    ).json()
    assert (auto["state"], manual["state"]) == ("dispatched", "routed")
    recommended = client.get(f"/events/{manual['id']}/candidates").json()["recommended"]
    dispatched = client.post(f"/events/{manual['id']}/actions/dispatch", json={})
    assert dispatched.status_code == 200, dispatched.text

    records = []
    for event_id in (auto["id"], manual["id"]):
        stored = _stored(client, event_id)
        row = next(h for h in stored["history"] if h["action"] == "dispatch")
        records.append(row["data"])
        assert stored["squad_id"] == row["data"]["squad_id"]
        assert stored["sla"]["handle_due_at"] is not None
        matter = client.get(f"/matters/{stored['matter_code']}").json()
        condition = next(c for c in matter["conditions"] if c["position"] == 1)
        assert row["data"]["handle_limit"] == {
            "amount": condition["limit_amount"],
            "unit": condition["limit_unit"],
        }
    assert [list(r) for r in records] == [["squad_id", "handle_limit", "recommendation"]] * 2
    assert records[1]["recommendation"] == recommended
    assert records[1]["squad_id"] == recommended["id"]


def _calls(name: str) -> list[str]:
    """Modules of gridsvc that call ``<anything>.name(...)`` or ``name(...)``."""
    found = []
    for path in sorted(GRIDSVC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    found.append(str(path.relative_to(PROJECT_ROOT)))
    return sorted(set(found))


def test_dispatch_is_decided_in_one_place() -> None:
    assert _calls("choose_squad") == ["gridsvc/events/dispatching.py"]
    assert _calls("plan_dispatch") == ["gridsvc/events/flows.py", "gridsvc/events/transitions.py"]
    assert _calls("squad_chooser") == ["gridsvc/events/flows.py"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_api_module_imports_another_and_errors_import_no_domain() -> None:
    for path in sorted(GRIDSVC.rglob("api.py")):
        others = {n for n in _imports(path) if n.endswith(".api") and n.startswith("gridsvc.")}
        assert not others, f"{path.relative_to(PROJECT_ROOT)} imports {sorted(others)}"
    core = _imports(GRIDSVC / "errors.py") | _imports(GRIDSVC / "database" / "errors.py")
    assert not {n for n in core if n.startswith("gridsvc.events")}
