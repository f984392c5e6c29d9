"""A small world of events for the work-queue tests (API and browser): every source, two
quiet community grids, two matter classes, an address-only case, a dispatched one, callers
with a phone (one confidential). Each world carries a tag of its own in every event's text,
so ``q=<tag>`` lists exactly its events whatever other tests stored."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.events_support import post_order
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, delegated_matter, hotline_secret, spot_in, work_order

# Han characters for unique Chinese words (common ones: the fonts have them)
HAN = "东南西北山水林田湖草河桥街巷路口园村镇城门楼台亭阁花石泉溪岭坡湾港"


def han_word(length: int = 4) -> str:
    return "".join(random.choice(HAN) for _ in range(length))  # noqa: S311 - not a secret


@dataclass
class QueueWorld:
    tag: str
    grids: list[str]  # two community grids
    townships: list[str]  # their enforcement grids
    matters: list[str]  # two matters of different classes
    ids: dict[str, int] = field(default_factory=dict)  # name -> event id
    words: dict[str, str] = field(default_factory=dict)  # name -> a Chinese word in its title
    orders: dict[str, str] = field(default_factory=dict)  # name -> work-order number
    phones: dict[str, str] = field(default_factory=dict)  # name -> caller's number


async def _quiet_grids(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch(
        QUIET_GRIDS.replace("SELECT code", "SELECT code, enforcement_code") + " ORDER BY code DESC",
        list(BUSY_TOWNS),
    )
    picked: list[tuple[str, str]] = []
    for row in rows:
        if row["enforcement_code"] in {t for _, t in picked}:
            continue
        picked.append((row["code"], row["enforcement_code"]))
        if len(picked) == 2:
            return picked
    raise AssertionError("two quiet community grids in different townships are needed")


async def build_world(http: Any, db: asyncpg.Connection, headers: dict[str, str] | None = None) -> QueueWorld:
    """Six events through the real API (``http``: a TestClient or an httpx client of the
    app, ``headers`` an operator's or admin's authorisation)."""
    headers = headers or {}
    (g1, t1), (g2, t2) = await _quiet_grids(db)
    first = await delegated_matter(db)
    other = await db.fetchval(
        "SELECT code FROM matters WHERE kind = 'event' "
        "AND split_part(code, '-', 2) <> split_part($1, '-', 2) ORDER BY code LIMIT 1",
        first,
    )
    world = QueueWorld(
        tag=f"Q{uuid.uuid4().hex[:8].upper()}", grids=[g1, g2], townships=[t1, t2], matters=[first, other]
    )
    secret = await hotline_secret(db)

    def hotline(name: str, grid: str, matter: str, where: dict[str, float], **reporter: Any) -> None:
        word = han_word()
        order = work_order(matter, where, title=f"{word}占道经营 {world.tag}")
        order["address"] = f"{han_word(3)}路{random.randint(1, 99)}号"  # noqa: S311
        phone = f"139{uuid.uuid4().int % 10**8:08d}"
        order["reporter"] = {"name": "张三", "phone": phone, **reporter}
        answer = post_order(http, secret, order)
        assert answer.status_code == 201, answer.text
        world.ids[name], world.words[name] = int(answer.json()["id"]), word
        world.orders[name], world.phones[name] = order["work_order_no"], phone

    def operator(name: str, matter: str, where: dict[str, float] | None, source: str = "operator") -> None:
        word = han_word()
        body: dict[str, Any] = {
            "source": source,
            "title": f"{word}乱堆物料",
            "description": f"现场描述 {world.tag}",
            "matter_code": matter,
            "address": f"{han_word(3)}街{random.randint(1, 99)}号",  # noqa: S311
        }
        if where is not None:
            body["location"] = where
        answer = http.post("/events", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        world.ids[name], world.words[name] = int(answer.json()["id"]), word

    hotline("hotline_1", g1, first, await spot_in(db, g1))
    hotline("hotline_2", g2, other, await spot_in(db, g2), confidential=True)
    operator("address_only", first, None)
    operator("patrol_1", first, await spot_in(db, g1), source="patrol")
    operator("operator_2", other, await spot_in(db, g2))
    hotline("hotline_3", g1, first, await spot_in(db, g1))
    dispatched = http.post(f"/events/{world.ids['patrol_1']}/actions/dispatch", json={}, headers=headers)
    assert dispatched.status_code == 200, dispatched.text
    # one case late, one due soon: their clocks moved as the SLA checker would find them
    await db.execute(
        "UPDATE events SET due_at = now() - interval '2 hours', "
        "stage_started_at = now() - interval '3 hours' WHERE id = $1",
        world.ids["hotline_3"],
    )
    await db.execute(
        "UPDATE events SET due_at = now() + interval '5 minutes', "
        "stage_started_at = now() - interval '3 hours' WHERE id = $1",
        world.ids["operator_2"],
    )
    return world
