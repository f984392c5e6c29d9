"""The leaders' workbook and CSV (issue 11 item 4): through the API and the command line, on
the real database; the workbook is opened again with openpyxl."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from gridsvc.cli import app
from gridsvc.database.pool import connect
from gridsvc.settings import get_settings
from tests.reports_support import quiet_grids, receive

pytestmark = pytest.mark.usefixtures("demo")

SHEETS = ["按乡镇", "按部门", "按事项", "超期案件", "吹哨评分"]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def check_workbook(body: bytes, received_at_least: int) -> None:
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == SHEETS
    towns = book["按乡镇"]
    header = [c.value for c in towns[1]]
    assert header[:3] == ["代码", "乡镇", "受理数"] and "响应率" in header and "满意率" in header
    assert towns.freeze_panes == "A2"
    assert towns.page_setup.orientation == "landscape" and towns.page_setup.fitToWidth == 1
    assert towns.sheet_properties.pageSetUpPr.fitToPage is True
    assert towns.column_dimensions["B"].width >= 20
    last = [c.value for c in towns[towns.max_row]]
    assert last[1] == "合计"
    body_rows = [[c.value for c in row] for row in towns.iter_rows(min_row=2, max_row=towns.max_row - 1)]
    assert last[2] == sum(r[2] for r in body_rows) >= received_at_least  # the totals row adds up
    assert "吹哨报到得分" in [c.value for c in book["按部门"][1]]
    assert [c.value for c in book["超期案件"][1]][:3] == ["事件编号", "工单号", "标题"]
    assert [c.value for c in book["吹哨评分"][1]][-1] == "得分"


async def test_the_workbook_through_the_api(client, db) -> None:
    ((grid, _),) = await quiet_grids(db, 1)
    await receive(client, db, grid=grid)
    today = (await db.fetchval("SELECT (now() AT TIME ZONE 'Europe/Vaduz')::date")).isoformat()
    answer = client.get("/reports/export.xlsx", params={"from": today, "to": today})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in answer.headers["content-disposition"]
    check_workbook(answer.content, received_at_least=1)


def seed_today(client: Any, database_url: str) -> str:
    """One work order received now; today's date in the county (for a sync test: the command
    runs its own event loop)."""

    async def task() -> str:
        db = await connect(database_url)
        try:
            ((grid, _),) = await quiet_grids(db, 1)
            await receive(client, db, grid=grid)
            return str(await db.fetchval("SELECT (now() AT TIME ZONE 'Europe/Vaduz')::date"))
        finally:
            await db.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, task()).result()


def test_the_command_writes_xlsx_and_csv(
    cli: CliRunner, tmp_path: Path, client: Any, database_url: str
) -> None:
    today = seed_today(client, database_url)
    out = tmp_path / "report.xlsx"
    result = cli.invoke(app, ["report", "export", "--from", today, "--to", today, "--out", str(out)])
    assert result.exit_code == 0, result.output
    check_workbook(out.read_bytes(), received_at_least=1)
    table = tmp_path / "towns.csv"
    result = cli.invoke(app, ["report", "export", "--from", today, "--to", today, "--out", str(table)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(table.read_bytes().decode("utf-8-sig"))))
    assert rows[0][:3] == ["代码", "乡镇", "受理数"] and rows[-1][1] == "合计"
    assert int(rows[-1][2]) >= 1


def test_the_command_names_the_bad_option(cli: CliRunner, tmp_path: Path) -> None:
    out = str(tmp_path / "r.xlsx")
    bad_from = cli.invoke(
        app, ["report", "export", "--from", "2026-02-30", "--to", "2026-03-01", "--out", out]
    )
    assert bad_from.exit_code == 2 and "--from" in bad_from.output
    backwards = cli.invoke(
        app, ["report", "export", "--from", "2026-03-05", "--to", "2026-03-01", "--out", out]
    )
    assert backwards.exit_code == 2 and "--to" in backwards.output
    wrong = cli.invoke(
        app, ["report", "export", "--from", "2026-03-01", "--to", "2026-03-02", "--out", "r.pdf"]
    )
    assert wrong.exit_code == 2 and "--out" in wrong.output
    rollup = cli.invoke(app, ["report", "rollup", "--from", "yesterday"])
    assert rollup.exit_code == 2 and "--from" in rollup.output


def test_the_rollup_command(cli: CliRunner) -> None:
    # days long before any test's events: rolling them up changes no other test's answer
    result = cli.invoke(app, ["report", "rollup", "--from", "2019-01-01", "--to", "2019-01-02"])
    assert result.exit_code == 0, result.output
    assert "rolled up 2 days, 2019-01-01 .. 2019-01-02" in result.output
