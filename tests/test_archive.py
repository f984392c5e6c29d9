"""`gridsvc events archive` on real PostGIS: cases taken through the real lifecycle (webhook,
actions, 延期, 督办, 回访, 并单) on a frozen app clock in 2041 and 2042, years no other test
module files events in (the archive moves every closed event of its period, not only this
module's), then archived: what leaves the live tables arrives whole in schema ``archive``,
open cases and the 并单 originals of open duplicates stay, tallies, /metrics and the counter
strip stay consistent, a second run moves nothing, a failing batch leaves its events live, and
bad input is refused before anything moves."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridsvc.app import create_app
from gridsvc.archive import service
from gridsvc.archive.models import TABLES, ArchiveInvalid, ArchiveRequest
from gridsvc.cli import app as cli_app
from gridsvc.clock import FrozenClock
from gridsvc.duban import flows as duban
from gridsvc.settings import Settings, get_settings
from tests.auth_support import bearer
from tests.reports_support import act, quiet_grids, receive, revisit
from tests.tallies_support import tallies_match

pytestmark = pytest.mark.usefixtures("demo")

LATER = FrozenClock(datetime(2043, 1, 1, tzinfo=UTC))  # "now" of the archive runs


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2041, 3, 2, 8, tzinfo=UTC))


@pytest.fixture
def app_client(settings: Settings, demo: Any, clock: FrozenClock) -> Iterator[TestClient]:
    assert settings.database_url is not None
    with TestClient(create_app(settings, clock=clock)) as client:
        client.headers.update(bearer(settings.database_url, "admin"))
        yield client


def metric(client: TestClient, name: str, **labels: str) -> float:
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")


def without_closed_today(counters: dict[str, int]) -> dict[str, int]:
    """The counter strip but "closed today": that compares closing times with the real
    midnight, and this module's cases, closed in 2041, lie after it."""
    return {k: v for k, v in counters.items() if k != "closed_today"}


def state_of(client: TestClient, event_id: int) -> str:
    return str(client.get(f"/events/{event_id}").json()["state"])


def to_closed(client: TestClient, event_id: int) -> None:
    """Take a case through whatever steps it still needs to 结案."""
    steps = {
        "received": ("dispatch", {}),
        "routed": ("dispatch", {}),
        "dispatched": ("sign_for", {}),
        "signed_for": ("arrive", {}),
        "on_scene": ("handle", {"note": "已处理"}),
        "handled": ("verify", {}),
        "verified": ("close", {}),
    }
    for _ in range(len(steps)):
        state = state_of(client, event_id)
        if state == "closed":
            return
        action, body = steps[state]
        act(client, event_id, action, **body)
    assert state_of(client, event_id) == "closed"


async def delivered(db: asyncpg.Connection, ids: list[int]) -> None:
    """The hotline acknowledged every callback of these cases, as the sender would record it
    (the tests' app runs no background sender)."""
    await db.execute(
        "UPDATE outbox SET status = 'delivered', delivered_at = now() WHERE event_id = ANY ($1::bigint[])",
        ids,
    )
    await db.execute(
        "UPDATE recipient_notices SET status = 'delivered', delivered_at = now()"
        " WHERE event_id = ANY ($1::bigint[])",
        ids,
    )


async def closed_when_received(db: asyncpg.Connection, ids: list[int]) -> None:
    """Closing stamps the database's now(): put it a day after receipt, in the scenario's
    year, as for cases closed long ago (not "closed today" on the counter strip)."""
    await db.execute(
        "UPDATE events SET closed_at = received_at + interval '1 day' WHERE id = ANY ($1::bigint[])"
        " AND state = 'closed'",
        ids,
    )


async def rows_of(db: asyncpg.Connection, ids: list[int], schema: str) -> dict[str, int]:
    """Rows of each table (schema public or archive) that belong to the events ``ids``."""
    ids_of = "ANY ($1::bigint[])"
    counts = {}
    for table in TABLES:
        where = {
            "events": f"id = {ids_of}",
            "duban_recipients": f"escalation_id IN (SELECT id FROM {schema}.escalations "  # noqa: S608
            f"WHERE event_id = {ids_of})",
            "whistle_attendance": f"whistle_id IN (SELECT id FROM {schema}.whistles "  # noqa: S608
            f"WHERE event_id = {ids_of})",
        }.get(table, f"event_id = {ids_of}")
        sql = f"SELECT count(*) FROM {schema}.{table} WHERE {where}"  # noqa: S608 - constant names
        counts[table] = int(await db.fetchval(sql, ids))
    return counts


async def seed_2041(
    client: TestClient, db: asyncpg.Connection, clock: FrozenClock, settings: Settings
) -> dict:
    """A: closed with 延期, 督办 and 回访; B: open; C: closed 并单 original of D, open again
    (重办); F: closed duplicate of E (a later batch than E's with batches of one), closed;
    H: closed, a callback not yet delivered; G: closed in June 2042 (after the period)."""
    ((grid, _),) = await quiet_grids(db, 1)
    clock.set(datetime(2041, 3, 2, 8, tzinfo=UTC))
    cases = {name: await receive(client, db, grid=grid) for name in "ABCDEFH"}
    ids = {name: int(case["id"]) for name, case in cases.items()}
    a = ids["A"]
    due = await db.fetchval("SELECT due_at FROM events WHERE id = $1", a)
    raised = await duban.escalate(
        db, default_levels="1:unit", clock=FrozenClock(due + timedelta(minutes=1)), event_id=a
    )
    assert raised == 1
    duban_id = await db.fetchval("SELECT id FROM escalations WHERE event_id = $1", a)
    replied = client.post(f"/duban/{duban_id}/reply", json={"text": "已督促中队尽快处置"})
    assert replied.status_code == 200, replied.text
    for action in ("dispatch", "sign_for", "arrive"):
        act(client, a, action)
    asked = client.post(f"/events/{a}/extensions", json={"minutes": 60, "reason": "等待配合"})
    assert asked.status_code == 201, asked.text
    decided = client.post(f"/events/{a}/extensions/{asked.json()['id']}/decision", json={"approved": True})
    assert decided.status_code == 200, decided.text
    to_closed(client, a)
    revisit(client, cases["A"], "满意")
    act(client, ids["B"], "dispatch")
    for duplicate, original in (("D", "C"), ("F", "E")):
        linked = client.post(f"/events/{ids[duplicate]}/duplicate_of", json={"event_id": ids[original]})
        assert linked.status_code == 200, linked.text
        to_closed(client, ids[original])
        to_closed(client, ids[duplicate])
    reopened = client.post(f"/events/{ids['D']}/redo", json={"note": "市民再次来电"})
    assert reopened.status_code == 200, reopened.text
    assert state_of(client, ids["D"]) != "closed"
    to_closed(client, ids["H"])
    clock.set(datetime(2042, 6, 1, 8, tzinfo=UTC))
    ids["G"] = int((await receive(client, db, grid=grid))["id"])
    to_closed(client, ids["G"])
    await delivered(db, [i for name, i in ids.items() if name != "H"])
    await closed_when_received(db, list(ids.values()))
    return ids


async def test_closed_history_moves_whole_and_the_live_desk_stays_consistent(
    app_client: TestClient, db: asyncpg.Connection, clock: FrozenClock, settings: Settings
) -> None:
    client = app_client
    ids = await seed_2041(client, db, clock, settings)
    moving = [ids[n] for n in "AEF"]
    staying = [ids[n] for n in "BCDGH"]
    before_rows = await rows_of(db, moving, "public")
    assert before_rows["event_transitions"] >= 3 * 6 and before_rows["escalations"] == 1
    assert before_rows["event_extensions"] == 1 and before_rows["revisits"] == 1 and before_rows["outbox"] > 0
    staying_rows = await rows_of(db, staying, "public")
    await tallies_match(db)
    escalations_total = metric(client, "gridsvc_sla_escalations_total")
    duban_level_1 = metric(client, "gridsvc_duban_total", level="1")
    closed = metric(client, "gridsvc_events", state="closed")
    counters, live = client.get("/events-counters").json(), client.get("/live/counters").json()

    request = ArchiveRequest(
        before=datetime(2042, 1, 1, tzinfo=UTC), since=datetime(2041, 1, 1, tzinfo=UTC), batch_size=1
    )
    # another county's events of the period: none
    elsewhere = await service.archive(
        db,
        request=ArchiveRequest(before=request.before, since=request.since, jurisdiction="350424"),
        clock=LATER,
    )
    assert elsewhere.moved["events"] == 0
    # a dry run counts exactly and moves nothing
    dry = await service.archive(db, request=dataclasses.replace(request, dry_run=True), clock=LATER)
    assert dry.moved == before_rows
    assert await rows_of(db, moving, "public") == before_rows

    steps: list[int] = []
    result = await service.archive(db, request=request, clock=LATER, progress=steps.append)
    assert result.moved == before_rows
    assert result.kept_linked == 1 and result.kept_pending == 1  # C (D is open again), H
    assert result.batches == 2 and sum(steps) == 4  # A; (C kept live); E with its duplicate F
    # gone from the live tables, whole in the archive; the rest untouched
    assert set((await rows_of(db, moving, "public")).values()) == {0}
    archived = await rows_of(db, moving, "archive")
    assert {t: n for t, n in archived.items() if t != "target_violations"} == {
        t: n for t, n in before_rows.items() if t != "target_violations"
    }
    assert await rows_of(db, staying, "public") == staying_rows
    assert set((await rows_of(db, staying, "archive")).values()) == {0}
    # tallies follow the deletes; counters never go down; gauges show what is live
    await tallies_match(db)
    assert metric(client, "gridsvc_sla_escalations_total") == escalations_total
    assert metric(client, "gridsvc_duban_total", level="1") == duban_level_1
    assert metric(client, "gridsvc_events", state="closed") == closed - 3
    assert without_closed_today(client.get("/events-counters").json()) == without_closed_today(counters)
    assert without_closed_today(client.get("/live/counters").json()) == without_closed_today(live)
    # an archived case still answers, read-only
    shown = client.get(f"/events/{ids['A']}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["archived"] is True and body["state"] == "closed" and body["allowed_actions"] == []
    trail = await db.fetchval("SELECT count(*) FROM archive.event_transitions WHERE event_id = $1", ids["A"])
    assert len(body["history"]) == trail > 6
    assert [d["id"] for d in client.get(f"/events/{ids['E']}").json()["duplicates"]] == [ids["F"]]
    assert "archived" not in client.get(f"/events/{ids['C']}").json()
    assert client.get("/events/999999999").status_code == 404
    # a second run finds nothing more to move
    again = await service.archive(db, request=request, clock=LATER)
    assert set(again.moved.values()) == {0} and again.batches == 0


async def test_a_failing_batch_leaves_its_events_live(
    app_client: TestClient, db: asyncpg.Connection, clock: FrozenClock
) -> None:
    """Batches of one event, the second made to fail in the database half-way (after its
    events and audit rows were copied): the first is archived, the second wholly live."""
    ((grid, _),) = await quiet_grids(db, 1)
    clock.set(datetime(2042, 3, 2, 8, tzinfo=UTC))
    first = int((await receive(app_client, db, grid=grid))["id"])
    second = int((await receive(app_client, db, grid=grid))["id"])
    for event_id in (first, second):
        to_closed(app_client, event_id)
    await delivered(db, [first, second])
    await closed_when_received(db, [first, second])
    second_rows = await rows_of(db, [second], "public")
    request = ArchiveRequest(
        before=datetime(2042, 4, 1, tzinfo=UTC), since=datetime(2042, 3, 1, tzinfo=UTC), batch_size=1
    )
    await db.execute(
        f"""CREATE FUNCTION test_archive_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.event_id = {second} THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER test_archive_refuse BEFORE INSERT ON archive.outbox
            FOR EACH ROW EXECUTE FUNCTION test_archive_refuse()"""
    )
    try:
        with pytest.raises(asyncpg.RaiseError, match="disk full"):
            await service.archive(db, request=request, clock=LATER)
    finally:
        await db.execute(
            "DROP TRIGGER test_archive_refuse ON archive.outbox; DROP FUNCTION test_archive_refuse()"
        )
    assert await db.fetchval("SELECT count(*) FROM archive.events WHERE id = $1", first) == 1
    assert await rows_of(db, [second], "public") == second_rows
    assert set((await rows_of(db, [second], "archive")).values()) == {0}
    await tallies_match(db)
    # run again: carries on where it stopped
    result = await service.archive(db, request=request, clock=LATER)
    assert result.moved["events"] == 1
    assert await rows_of(db, [second], "archive") == second_rows


def count(database_url: str, sql: str) -> int:
    async def go() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return int(await connection.fetchval(sql))
        finally:
            await connection.close()

    return asyncio.run(go())


def test_bad_input_is_refused_naming_the_option_and_nothing_moves(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    live = count(database_url, "SELECT count(*) FROM events")
    archived = count(database_url, "SELECT count(*) FROM archive.events")
    try:
        cli = CliRunner()
        soon = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        for args, says in (
            (["--before", "2021-13-01"], "error: --before: '2021-13-01' is not a date"),
            (["--before", "last year"], "error: --before: 'last year' is not a date"),
            (["--before", soon], f"error: --before: {soon} is in the future"),
            (["--before", "2021-01-01", "--since", "2021-02-01"], "error: --since: 2021-02-01 is not before"),
            (
                ["--before", "2021-01-01", "--jurisdiction", "NOWHERE"],
                "error: --jurisdiction: no jurisdiction",
            ),
            (["--before", "2021-01-01", "--batch", "0"], "error: --batch: must be at least 1"),
        ):
            result = cli.invoke(cli_app, ["events", "archive", *args])
            assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
            assert result.stderr.startswith(says), result.stderr
        # a period with nothing in it: a clean no-op with the per-table counts
        result = cli.invoke(cli_app, ["events", "archive", "--since", "1990-01-01", "--before", "1990-01-02"])
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        assert "moved 0 events in 0 batches" in result.stdout and "event_transitions" in result.stdout
    finally:
        get_settings.cache_clear()
    assert count(database_url, "SELECT count(*) FROM events") == live
    assert count(database_url, "SELECT count(*) FROM archive.events") == archived


async def test_the_service_refuses_a_future_date(db: asyncpg.Connection) -> None:
    with pytest.raises(ArchiveInvalid, match="before: 2044-01-01 is in the future"):
        await service.archive(
            db, request=ArchiveRequest(before=datetime(2044, 1, 1, tzinfo=UTC)), clock=LATER
        )


async def test_archive_tables_have_the_live_columns(db: asyncpg.Connection) -> None:
    """INSERT ... SELECT * needs the same columns in the same order: a migration that adds a
    column to a live table adds it to its archive table too."""
    columns = """
    SELECT table_name, array_agg(column_name::text || ' ' || data_type::text ORDER BY ordinal_position) AS c
    FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY ($2::text[])
    GROUP BY table_name
    """
    live = {r["table_name"]: r["c"] for r in await db.fetch(columns, "public", list(TABLES))}
    kept = {r["table_name"]: r["c"] for r in await db.fetch(columns, "archive", list(TABLES))}
    assert set(live) == set(TABLES) and kept == live
