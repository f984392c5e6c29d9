"""督办 that reaches people (issue 8 item 5), on the real database with an injected clock.

The escalation job (:func:`gridsvc.duban.flows.escalate`, what ``sla.escalate`` runs) is
called with a :class:`~gridsvc.clock.FrozenClock` set past the deadline, 2× and 3× the stage's
time limit; the notices it writes are delivered by the job worker of a real app process to
real HTTP receivers that check each recipient's signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gridsvc.auth import service as auth
from gridsvc.clock import FrozenClock
from gridsvc.duban import flows, service
from gridsvc.duban.models import Level
from tests.auth_support import issue_token
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for
from tests.live_support import act, get, hotline_secret, order_in_a_quiet_grid, start_server

pytestmark = pytest.mark.usefixtures("demo")


async def make_leader(
    db: asyncpg.Connection, database_url: str, *, township: str | None, webhook: str | None = None
) -> str:
    """A leader account (what ``gridsvc duban leaders add`` makes); returns its token."""
    name = f"leader-{uuid.uuid4().hex[:8]}"
    await auth.create_user(db, name=name, role="leader", webhook_url=webhook, display_name="测试领导")
    await service.set_leader(
        db,
        name=name,
        reach="township" if township else "county",
        township_codes=[township] if township else [],
    )
    return issue_token(database_url, "leader", name=name)


async def dispatched_event(base_url: str, db: asyncpg.Connection, database_url: str) -> dict[str, Any]:
    """A hotline work order in a quiet grid, dispatched by the desk to the recommended squad;
    returns its id, squad, township, and its sign-for stage's start and deadline."""
    order = await order_in_a_quiet_grid(database_url)
    with httpx.Client(base_url=base_url, timeout=30) as hotline:
        created = post_order(hotline, await hotline_secret(db), order)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    act(base_url, issue_token(database_url, "operator"), event_id, "dispatch")
    row = await db.fetchrow(
        "SELECT e.id, e.squad_id, s.code AS squad_code, e.stage, e.stage_started_at, e.due_at, "
        "e.grids -> 'enforcement' ->> 'code' AS township FROM events e "
        "JOIN squads s ON s.id = e.squad_id WHERE e.id = $1",
        event_id,
    )
    assert row["stage"] == "sign_for"
    return dict(row)


@contextmanager
def receiver_for(base_url: str, token: str, port: int) -> Iterator[CallbackReceiver]:
    """A webhook receiver that checks the signature with this recipient's own secret."""
    secret = get(f"{base_url}/notices/secret", token).json()["secret"]
    receiver = CallbackReceiver(port, secret)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def got(receiver: CallbackReceiver, event_id: int, level: int) -> list[dict[str, Any]]:
    return [
        r["payload"]
        for r in receiver.received
        if r["payload"].get("kind") == "duban"
        and r["payload"]["event_id"] == event_id
        and r["payload"]["level"] == level
    ]


async def test_levels_reach_the_unit_the_township_leader_and_the_county(settings, db, database_url):
    ports = {"unit": free_port(), "township": free_port(), "county": free_port()}
    hook = {k: f"http://127.0.0.1:{p}/callbacks" for k, p in ports.items()}
    server = start_server(settings, background_workers=True)
    try:
        event = await dispatched_event(server.url, db, database_url)
        event_id = event["id"]
        unit = issue_token(database_url, "squad", squad_code=event["squad_code"], webhook_url=hook["unit"])
        township = await make_leader(db, database_url, township=event["township"], webhook=hook["township"])
        county = await make_leader(db, database_url, township=None, webhook=hook["county"])
        # a leader of another township is not reached
        other_town = await db.fetchval(
            "SELECT code FROM current_grids WHERE layer = 'enforcement' AND code <> $1 LIMIT 1",
            event["township"],
        )
        elsewhere = await make_leader(db, database_url, township=other_town)
        limit = event["due_at"] - event["stage_started_at"]
        clock = FrozenClock(event["due_at"] - timedelta(seconds=1))

        async def escalate() -> int:
            return await flows.escalate(
                db, default_levels=settings.duban_levels, clock=clock, event_id=event_id
            )

        with (
            receiver_for(server.url, unit, ports["unit"]) as unit_hook,
            receiver_for(server.url, township, ports["township"]) as township_hook,
            receiver_for(server.url, county, ports["county"]) as county_hook,
        ):
            assert await escalate() == 0  # not due yet
            clock.set(event["due_at"] + timedelta(minutes=1))
            assert await escalate() == 1  # level 1 at overdue: the squad (the unit's head)
            assert await escalate() == 0  # once per level and deadline
            first = wait_for(lambda: got(unit_hook, event_id, 1), timeout=15)[0]
            assert first["level_zh"] == "一级督办" and first["audience"] == "unit"
            assert first["stage"] == "sign_for" and first["overdue_minutes"] == 1
            assert first["reply_url"].startswith("/duban/")
            assert "督办" in first["text"] and first["work_order_no"]

            clock.set(event["stage_started_at"] + 2 * limit)
            assert await escalate() == 1  # level 2 at 2× the limit: the township leader
            second = wait_for(lambda: got(township_hook, event_id, 2), timeout=15)[0]
            assert second["audience"] == "township" and second["level_zh"] == "二级督办"
            assert second["reporter"] is None or "*" in (second["reporter"].get("phone") or "*")

            clock.set(event["stage_started_at"] + 3 * limit)
            assert await escalate() == 1  # level 3 at 3×: the county
            third = wait_for(lambda: got(county_hook, event_id, 3), timeout=15)[0]
            assert third["audience"] == "county"
            # each level reached its own people only
            assert not got(unit_hook, event_id, 2) and not got(township_hook, event_id, 1)
            assert not got(county_hook, event_id, 1) and not got(county_hook, event_id, 2)

        # inboxes: each recipient lists what was sent to it, the desk lists all three
        def levels_seen(token: str, **params: Any) -> list[int]:
            query = "&".join(f"{k}={v}" for k, v in {"event_id": event_id, **params}.items())
            return [d["level"] for d in get(f"{server.url}/duban?{query}", token).json()["duban"]]

        assert levels_seen(unit) == [1]
        assert levels_seen(township) == [2]
        assert levels_seen(county) == [3]
        assert levels_seen(elsewhere) == []
        operator = issue_token(database_url, "operator")
        assert levels_seen(operator) == [3, 2, 1]
        assert levels_seen(operator, unreplied="true") == [3, 2, 1]
        listed = get(f"{server.url}/duban?event_id={event_id}", operator).json()["duban"]
        # (other tests' accounts of the same squad may be recipients too: judge ours)
        ours = {get(f"{server.url}/me", token).json()["name"] for token in (unit, township, county)}
        delivered = {
            r["name"]: r["notice_status"] for d in listed for r in d["recipients"] if r["name"] in ours
        }
        assert delivered == dict.fromkeys(ours, "delivered")
        history = get(f"{server.url}/events/{event_id}", operator).json()["history"]
        assert [h["data"]["level"] for h in history if h["action"] == "escalate"] == [1, 2, 3]
    finally:
        server.__exit__()


async def test_a_reply_is_stored_once_shown_and_counted(settings, client, db, database_url):
    event = await dispatched_event_via(client, db, database_url)
    township = await make_leader(db, database_url, township=event["township"])
    clock = FrozenClock(event["stage_started_at"] + 2 * (event["due_at"] - event["stage_started_at"]))
    raised = await flows.escalate(db, default_levels=settings.duban_levels, clock=clock, event_id=event["id"])
    assert raised == 2  # a check that comes late raises every level reached: 1 and 2
    leader_headers = {"Authorization": f"Bearer {township}"}
    mine = client.get("/duban", params={"unreplied": True}, headers=leader_headers).json()["duban"]
    duban = next(d for d in mine if d["event_id"] == event["id"])
    assert duban["level"] == 2 and duban["replied"] is False
    other_level = client.get("/duban", params={"event_id": event["id"], "unreplied": True}).json()["duban"]
    level_one = next(d for d in other_level if d["level"] == 1)

    blank = client.post(f"/duban/{duban['id']}/reply", json={"text": "   "}, headers=leader_headers)
    assert blank.status_code == 422 and "text" in blank.text
    # not addressed to this leader: it does not exist for them
    assert (
        client.post(f"/duban/{level_one['id']}/reply", json={"text": "x"}, headers=leader_headers).status_code
        == 404
    )

    before = metric(client, "gridsvc_duban_replied_total", level="2")
    answer = "已约谈中队负责人，今日17时前到场处置。"
    replied = client.post(f"/duban/{duban['id']}/reply", json={"text": answer}, headers=leader_headers)
    assert replied.status_code == 200, replied.text
    body = replied.json()
    assert body["reply"] == answer and body["replied"] and body["replied_by"].startswith("leader:")
    again = client.post(f"/duban/{duban['id']}/reply", json={"text": "再次回复"}, headers=leader_headers)
    assert again.status_code == 409

    shown = client.get("/duban", params={"event_id": event["id"]}).json()["duban"]
    assert next(d for d in shown if d["id"] == duban["id"])["reply"] == answer
    unreplied = client.get("/duban", params={"event_id": event["id"], "unreplied": True}).json()["duban"]
    assert [d["level"] for d in unreplied] == [1]
    trail = client.get(f"/events/{event['id']}").json()["history"]
    assert trail[-1]["action"] == "duban_reply" and trail[-1]["note"] == answer

    # metrics and the counter strip agree with the table
    assert metric(client, "gridsvc_duban_replied_total", level="2") == before + 1
    for level in ("1", "2"):
        # a counter never goes down: 督办 that `gridsvc events archive` moved out still count
        assert metric(client, "gridsvc_duban_total", level=level) == await db.fetchval(
            "SELECT (SELECT count(*) FROM escalations WHERE level = $1) + coalesce((SELECT n FROM "
            "archive.tallies WHERE kind = 'escalation_level' AND label = $1::text), 0)",
            int(level),
        )
        assert metric(client, "gridsvc_duban_unreplied", level=level) == await db.fetchval(
            "SELECT count(*) FROM escalations WHERE level = $1 AND replied_at IS NULL", int(level)
        )
    counters = client.get("/live/counters").json()
    assert counters["duban_unreplied"] == await db.fetchval(
        "SELECT count(*) FROM escalations WHERE replied_at IS NULL"
    )


async def test_levels_configured_per_matter_and_stage(settings, client, db, database_url):
    event = await dispatched_event_via(client, db, database_url)
    matter = await db.fetchval("SELECT matter_code FROM events WHERE id = $1", event["id"])
    county = await make_leader(db, database_url, township=None)
    try:
        # this matter's sign-for: the county already at 1.5× (two levels only)
        await service.set_levels(
            db,
            matter_code=matter,
            stage="sign_for",
            levels=[Level(1, 1.0, "unit"), Level(2, 1.5, "county")],
        )
        levels = client.get("/duban/levels").json()
        assert {"matter_code": matter, "stage": "sign_for"}.items() <= next(
            s for s in levels["configured"] if s["matter_code"] == matter
        ).items()
        assert [lv["audience"] for lv in levels["default"]] == ["unit", "township", "county"]
        limit = event["due_at"] - event["stage_started_at"]
        clock = FrozenClock(event["stage_started_at"] + 1.5 * limit)
        assert (
            await flows.escalate(db, default_levels=settings.duban_levels, clock=clock, event_id=event["id"])
            == 2
        )
        clock.advance(days=30)  # no level 3 in this set
        assert (
            await flows.escalate(db, default_levels=settings.duban_levels, clock=clock, event_id=event["id"])
            == 0
        )
        mine = client.get("/duban", headers={"Authorization": f"Bearer {county}"}).json()["duban"]
        assert [(d["event_id"], d["level"], d["audience"]) for d in mine] == [(event["id"], 2, "county")]
        with pytest.raises(service.DubanInvalid, match="grow"):
            await service.set_levels(
                db,
                matter_code=matter,
                stage="handle",
                levels=[Level(1, 2.0, "unit"), Level(2, 1.0, "county")],
            )
        with pytest.raises(service.DubanInvalid, match="stage"):
            await service.set_levels(db, matter_code=matter, stage="lunch", levels=[Level(1, 1.0, "unit")])
    finally:
        await service.set_levels(db, matter_code=matter, stage="sign_for", levels=[])


async def dispatched_event_via(client: Any, db: asyncpg.Connection, database_url: str) -> dict[str, Any]:
    """As :func:`dispatched_event`, through the session's in-process app."""
    order = await order_in_a_quiet_grid(database_url)
    created = post_order(client, await hotline_secret(db), order)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    assert client.post(f"/events/{event_id}/actions/dispatch", json={}).status_code == 200
    row = await db.fetchrow(
        "SELECT id, stage, stage_started_at, due_at, grids -> 'enforcement' ->> 'code' AS township "
        "FROM events WHERE id = $1",
        event_id,
    )
    assert row["stage"] == "sign_for"
    return dict(row)


def metric(client: Any, name: str, **labels: str) -> float:
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")


def test_leaders_and_levels_are_set_by_the_gridsvc_command(database_url, demo, monkeypatch):  # noqa: ARG001
    from typer.testing import CliRunner

    from gridsvc.cli import app
    from gridsvc.settings import get_settings
    from tests.access_support import sql

    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        name = f"cli-leader-{uuid.uuid4().hex[:6]}"
        made = runner.invoke(
            app,
            [
                "duban",
                "leaders",
                "add",
                name,
                "--township",
                "LI-VADUZ",
                "--webhook-url",
                "http://127.0.0.1:9/h",
            ],
        )
        assert made.exit_code == 0, made.output
        assert "township leader of LI-VADUZ" in made.output and "token: gs_" in made.output
        row = sql(
            database_url,
            "SELECT u.role, u.webhook_url, l.reach, l.township_codes FROM users u "
            "JOIN duban_leaders l ON l.user_id = u.id WHERE u.name = $1",
            name,
        )[0]
        assert row == {
            "role": "leader",
            "webhook_url": "http://127.0.0.1:9/h",
            "reach": "township",
            "township_codes": ["LI-VADUZ"],
        }
        assert name in runner.invoke(app, ["duban", "leaders", "list"]).output
        # disabled like any account: no 督办 of later tests goes to its (dead) webhook
        assert runner.invoke(app, ["users", "disable", name]).exit_code == 0
        assert "DISABLED" in runner.invoke(app, ["duban", "leaders", "list"]).output
        # an unknown township, or neither/both reaches: exit 2 with the reason, nothing stored
        bad = runner.invoke(app, ["duban", "leaders", "add", f"{name}-x", "--township", "NOPE-99"])
        assert bad.exit_code == 2 and "NOPE-99" in bad.output
        assert not sql(database_url, "SELECT 1 FROM users WHERE name = $1", f"{name}-x")
        assert runner.invoke(app, ["duban", "leaders", "add", f"{name}-y"]).exit_code == 2

        matter = sql(database_url, "SELECT code FROM matters ORDER BY code LIMIT 1")[0]["code"]
        set_ = runner.invoke(
            app, ["duban", "levels", "set", "1:unit", "4:county", "--matter", matter, "--stage", "handle"]
        )
        assert set_.exit_code == 0, set_.output
        listed = runner.invoke(app, ["duban", "levels", "list"]).output
        assert "default: 1:unit,2:township,3:county" in listed and "1:unit, 4:county" in listed
        wrong = runner.invoke(app, ["duban", "levels", "set", "1:mayor", "--matter", matter])
        assert wrong.exit_code == 2 and "mayor" in wrong.output
        cleared = runner.invoke(app, ["duban", "levels", "clear", "--matter", matter, "--stage", "handle"])
        assert cleared.exit_code == 0
        assert not sql(database_url, "SELECT 1 FROM duban_levels WHERE matter_code = $1", matter)
    finally:
        get_settings.cache_clear()


def test_who_each_level_reaches():
    event = {
        "responsible_kind": "department",
        "responsible_code": "housing",
        "squad_id": None,
        "township_code": "LI-VADUZ",
    }
    users = [
        {"id": 1, "name": "housing-a", "role": "department", "department_code": "housing"},
        {"id": 2, "name": "market-a", "role": "department", "department_code": "market"},
        {
            "id": 3,
            "name": "vaduz-lead",
            "role": "leader",
            "leader_reach": "township",
            "leader_townships": ["LI-VADUZ"],
        },
        {
            "id": 4,
            "name": "schaan-lead",
            "role": "leader",
            "leader_reach": "township",
            "leader_townships": ["LI-SCHAAN"],
        },
        {"id": 5, "name": "county", "role": "leader", "leader_reach": "county", "leader_townships": []},
        {"id": 6, "name": "head", "role": "grid_head", "grid_codes": ["LI-VADUZ-01"]},
        {"id": 7, "name": "squad-7", "role": "squad", "squad_id": 7},
    ]

    def names(audience: str, **changes: Any) -> list[str]:
        return [u["name"] for u in service.recipients_of(audience, {**event, **changes}, users)]

    assert names("unit") == ["housing-a"]
    assert names("township") == ["vaduz-lead"]
    assert names("county") == ["county"]
    assert names("unit", responsible_kind="grid_head", responsible_code="LI-VADUZ-01") == ["head"]
    assert names("unit", responsible_kind="squad", responsible_code="LI-VADUZ", squad_id=7) == ["squad-7"]
    assert names("township", township_code=None) == []


def test_levels_are_due_at_their_multiple_of_the_limit():
    from datetime import UTC, datetime

    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    due = start + timedelta(minutes=30)
    levels = [Level(1, 1.0, "unit"), Level(2, 2.0, "township"), Level(3, 3.0, "county")]

    def reached(minutes: float) -> list[int]:
        at = start + timedelta(minutes=minutes)
        return [lv.level for lv in service.due_levels(levels, started_at=start, due_at=due, now=at)]

    assert reached(29.9) == []
    assert reached(30) == [1]
    assert reached(59) == [1]
    assert reached(60) == [1, 2]
    assert reached(90) == [1, 2, 3]
    # without a start only the deadline counts
    assert [lv.level for lv in service.due_levels(levels, started_at=None, due_at=due, now=due)] == [1]
