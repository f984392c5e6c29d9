"""``gridsvc report ...``: (re)build the daily rollups, write the leaders' workbook or CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.cli_support import fail, progress, run
from gridsvc.clock import SYSTEM
from gridsvc.database.pool import connect
from gridsvc.reports import export, service
from gridsvc.settings import Settings

report_app = typer.Typer(help="Leaders' figures: rollups, Excel and CSV.", no_args_is_help=True)


def _day(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date like 2026-11-01")


@report_app.command("rollup")
def rollup(
    first: Annotated[
        str | None, typer.Option("--from", help="first day (default: the first event's)")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="last day (default and at most: yesterday)")
    ] = None,
) -> None:
    """(Re)build the daily rollups of the summary for [--from, --to]; today is never rolled
    up (the summary computes it from the events)."""
    start, end = _day("--from", first), _day("--to", last)
    if start and end and end < start:
        fail(f"--to: {end} is before --from ({start})")

    async def main(settings: Settings, url: str) -> list[date]:
        connection = await connect(url)
        try:
            bar = progress(total=0, description="rollup", unit="day")
            try:

                def step(days: int) -> None:
                    bar.update(days)

                if start is not None and end is not None:
                    bar.total = (end - start).days + 1
                return await service.rebuild(
                    connection,
                    first=start,
                    last=end,
                    now=SYSTEM.now(),
                    sign_for_minutes=settings.sla_sign_for_minutes,
                    progress=step,
                )
            finally:
                bar.close()
        finally:
            await connection.close()

    days = run(main)
    if days:
        typer.echo(f"rolled up {len(days)} days, {days[0]} .. {days[-1]}")
    else:
        typer.echo("nothing to roll up (today and later are computed from the events)")


async def _gather(connection: Any, **options: Any) -> export.ReportData:
    """export.gather, its refusals naming the command's options (--from, --to, --jurisdiction)."""
    try:
        return await export.gather(connection, **options)
    except service.ReportInvalid as error:
        raise ValueError(f"--{error.field}: {error.reason}") from error


@report_app.command("export")
def export_report(
    first: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-11-01")],
    last: Annotated[str, typer.Option("--to", help="last day, inclusive")],
    out: Annotated[Path, typer.Option("--out", help="FILE.xlsx (the workbook) or FILE.csv (by township)")],
    jurisdiction: Annotated[str | None, typer.Option(help="jurisdiction code")] = None,
) -> None:
    """Write the leaders' workbook (sheets 按乡镇, 按部门, 按事项, 超期案件, 吹哨评分), or with a
    .csv file the by-township table."""
    start, end = _day("--from", first), _day("--to", last)
    assert start is not None and end is not None
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        fail(f"--out: {out.name}: give a file ending in .xlsx or .csv")

    async def main(settings: Settings, url: str) -> bytes:
        connection = await connect(url)
        try:
            data = await _gather(
                connection,
                first=start,
                last=end,
                jurisdiction=jurisdiction,
                scope=service.ReportScope(),
                now=SYSTEM.now(),
                sign_for_minutes=settings.sla_sign_for_minutes,
            )
        finally:
            await connection.close()
        return export.to_csv(data.by_township) if suffix == ".csv" else export.to_xlsx(data)

    body = run(main)
    out.write_bytes(body)
    typer.echo(f"wrote {out}")
