"""Seeding for the reports tests: hotline work orders taken through the real lifecycle (app
with a frozen clock), then the moments the database stamped put where the scenario says.

The lifecycle stamps audit rows, ``closed_at``, 回访 and 延期 decisions with PostgreSQL's
``now()`` (they record, they decide nothing: gridsvc/clock.py), so a test that needs an
action at a given minute moves that stamp afterwards; receipt comes from the app's clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.webhooks.signing import signed_headers
from tests.live_support import BUSY_TOWNS, delegated_matter, spot_in

HOTLINE = "hotline-demo"


async def quiet_grids(db: asyncpg.Connection, towns: int) -> list[tuple[str, str]]:
    """(community grid, township) of ``towns`` different quiet townships."""
    rows = await db.fetch(
        "SELECT DISTINCT ON (enforcement_code) code, enforcement_code FROM current_grids "
        "WHERE layer = 'community' AND code LIKE 'LI-%' AND enforcement_code <> ALL($1::text[]) "
        "ORDER BY enforcement_code, code",
        list(BUSY_TOWNS),
    )
    assert len(rows) >= towns
    return [(r["code"], r["enforcement_code"]) for r in rows[:towns]]


async def receive(client: Any, db: asyncpg.Connection, *, grid: str) -> dict[str, Any]:
    """A signed 12345 work order in ``grid``, received at the app clock's time (the signature's
    timestamp is checked against the real time, as the hotline's would be)."""
    where = await spot_in(db, grid)
    order = {
        "work_order_no": f"R{uuid.uuid4().hex[:12]}",
        "title": "占道经营，请处理",
        "content": "市民来电反映：路口占道经营。",
        "matter_code": await delegated_matter(db),
        "location": {**where, "crs": "wgs84"},
        "address": "测试地址",
    }
    raw = json.dumps(order, ensure_ascii=False).encode()
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = $1", HOTLINE)
    headers = signed_headers(secret, raw, integration=HOTLINE)
    answer = client.post("/webhooks/12345", content=raw, headers=headers)
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["id"], "order": order, "secret": secret}


def act(client: Any, event_id: int, action: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/events/{event_id}/actions/{action}", json=body)
    assert answer.status_code == 200, (action, answer.text)
    return dict(answer.json())


def revisit(client: Any, case: dict[str, Any], satisfaction: str) -> dict[str, Any]:
    body = {
        "work_order_no": case["order"]["work_order_no"],
        "satisfaction": satisfaction,
        "revisit_id": f"HF{uuid.uuid4().hex[:10]}",
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = signed_headers(case["secret"], raw, integration=HOTLINE)
    answer = client.post("/webhooks/12345/revisits", content=raw, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def stamp(db: asyncpg.Connection, event_id: int, action: str, at: datetime) -> None:
    """Put the audit rows of ``action`` on ``event_id`` at ``at``."""
    done = await db.execute(
        "UPDATE event_transitions SET at = $3 WHERE event_id = $1 AND action = $2", event_id, action, at
    )
    assert done != "UPDATE 0", (event_id, action)
