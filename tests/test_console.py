"""The calm console: a summary line a minute on the app's clock, warnings at once, every JSON
log line (access lines too) in a file in the state folder."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from gridsvc.observability.console import resolve_log_format
from gridsvc.observability.logs import LOG_FILE, configure_logging
from gridsvc.settings import Settings
from gridsvc.webhooks.service import save_integration
from tests.auth_support import bearer
from tests.events_support import free_port, post_order
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("demo")
SUMMARY = re.compile(
    r"last minute: (\d+) work orders in, (\d+) dispatched, (\d+) overdue, "
    r"(\d+) errors?"
)


@pytest.fixture
def restore_logging(settings: Settings) -> Iterator[None]:
    yield
    configure_logging(settings.log_level, json_lines=settings.log_json)  # as other tests expect


async def _work_order(db: asyncpg.Connection) -> dict:
    matter = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' AND NOT auto_dispatch "
        "ORDER BY code LIMIT 1"
    )
    spot = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 50)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-ESCHEN') s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1"
    )
    return {
        "work_order_no": f"CON{uuid.uuid4().hex[:10]}",
        "title": "控制台摘要测试",
        "matter_code": matter,
        "location": {"lat": spot["lat"], "lng": spot["lng"]},
    }


def _after_polls(app_state, count: int = 2) -> None:
    """Wait until the summary has looked at the clock ``count`` more times."""
    seen = app_state.console.polls
    wait_until(lambda: app_state.console.polls >= seen + count)


async def test_one_summary_line_a_minute_on_the_apps_clock(
    settings: Settings,
    db: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    name = f"hotline-console-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(db, name=name, callback_url=f"http://127.0.0.1:{free_port()}/cb")
    order = await _work_order(db)
    clock = FrozenClock()
    calm = settings.model_copy(
        update={"log_console": True, "log_dir": tmp_path / "logs", "console_poll_s": 0.02}
    )
    with TestClient(create_app(calm, clock=clock)) as client:
        client.headers.update(bearer(database_url))
        state = client.app.state  # type: ignore[attr-defined]
        event_id = post_order(client, integration["secret"], order, integration=name).json()["id"]
        assert client.post(f"/events/{event_id}/actions/dispatch", json={}).status_code == 200
        # its deadline falls within this minute: counted as overdue
        await db.execute(
            "UPDATE events SET due_at = $2 WHERE id = $1", event_id, clock.now() + timedelta(seconds=30)
        )
        logging.getLogger("gridsvc.test").error("储存卡已满")  # shown at once, and counted
        clock.advance(seconds=59)
        _after_polls(state)
        assert state.console.lines == 0  # not a minute yet
        clock.advance(seconds=1)
        wait_until(lambda: state.console.lines == 1)
        _after_polls(state)
        assert state.console.lines == 1  # one line for the minute, not one per look
        clock.advance(minutes=1)
        wait_until(lambda: state.console.lines == 2)
        assert client.get("/events", params={"limit": 1}).status_code == 200
    out = capsys.readouterr().out.splitlines()
    summaries = [SUMMARY.search(line) for line in out if SUMMARY.search(line)]
    assert len(summaries) == 2, out
    received, dispatched, overdue, errors = (int(g) for g in summaries[0].groups())  # type: ignore[union-attr]
    assert (received, dispatched, errors) == (1, 1, 1) and overdue >= 1
    assert [int(g) for g in summaries[1].groups()][:2] == [0, 0]  # type: ignore[union-attr]
    assert any("ERROR gridsvc.test: 储存卡已满" in line for line in out)
    # stdout stays calm: no access line, no JSON
    assert not [line for line in out if line.startswith("{") or "/events" in line], out
    # ... the file in the state folder has every line as JSON, access lines included
    lines = [
        json.loads(line) for line in (tmp_path / "logs" / LOG_FILE).read_text(encoding="utf-8").splitlines()
    ]
    access = [line for line in lines if line["logger"] == "gridsvc.access"]
    assert {(a["method"], a["route"]) for a in access} >= {("POST", "/webhooks/12345"), ("GET", "/events")}
    assert any(line["logger"] == "gridsvc.console" for line in lines)
    assert any(line["message"] == "储存卡已满" and line["level"] == "ERROR" for line in lines)


def test_json_lines_on_stdout_when_asked(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    plain = settings.model_copy(update={"log_console": False, "log_dir": tmp_path / "logs"})
    with TestClient(create_app(plain)) as client:
        client.headers.update(bearer(str(settings.database_url)))
        assert client.get("/events", params={"limit": 1}).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "gridsvc.access" and line["route"] == "/events" for line in lines)
    assert not (tmp_path / "logs").exists()  # no file: stdout is the log


def test_auto_log_format_is_console_at_a_terminal_else_json() -> None:
    assert resolve_log_format("auto", isatty=True) == "console"
    assert resolve_log_format("auto", isatty=False) == "json"
    assert resolve_log_format("json", isatty=True) == "json"
    assert resolve_log_format("console", isatty=False) == "console"
