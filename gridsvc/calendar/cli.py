"""``gridsvc calendar ...``: public holidays and make-up working days (调休)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

app = typer.Typer(
    help="The holiday calendar: holidays and make-up working days (调休).", no_args_is_help=True
)


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


@app.command("import")
def calendar_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV day,working,name[,jurisdiction_code] (e.g. geodata/calendar_cn_2026.csv)"),
    ],
) -> None:
    """Upsert calendar days from a CSV, all or nothing."""
    from gridsvc.calendar.service import import_file

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await import_file(connection, file)
        finally:
            await connection.close()

    result = _run(task)
    typer.echo(
        f"{result['rows']} days: {result['holidays']} holidays, "
        f"{result['working_days']} working days ({', '.join(result['jurisdictions'])})"
    )


@app.command("list")
def calendar_list(
    jurisdiction: Annotated[str | None, typer.Option(help="'*' rows and this one's")] = None,
    year: Annotated[int | None, typer.Option(help="only this year")] = None,
) -> None:
    """List holidays and make-up working days."""
    from gridsvc.calendar.service import list_days

    async def task(_: Settings, url: str) -> list[dict[str, Any]]:
        connection = await connect(url)
        try:
            return await list_days(connection, jurisdiction=jurisdiction, year=year)
        finally:
            await connection.close()

    for row in _run(task):
        kind = "working" if row["working"] else "holiday"
        typer.echo(
            f"{row['day'].isoformat()} {row['day'].strftime('%a')} {kind:<8} "
            f"{row['jurisdiction_code']:<10} {row['name'] or ''}"
        )
