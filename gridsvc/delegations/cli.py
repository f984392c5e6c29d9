"""``gridsvc delegations ...``: the townships' delegation lists (赋权事项清单)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

app = typer.Typer(
    help="Delegation lists (赋权事项清单) of the townships, with effective dates.", no_args_is_help=True
)


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


@app.command("import")
def delegations_import(
    file: Annotated[Path, typer.Argument(help="CSV with a column matter_code")],
    enforcement_code: Annotated[str, typer.Option(help="the township's enforcement grid code")],
    effective_from: Annotated[
        str, typer.Option(help="YYYY-MM-DD (local midnight of the township) or an ISO datetime")
    ],
    name: Annotated[str | None, typer.Option(help="name of the list")] = None,
) -> None:
    """Create the next version of a township's list; the previous one ends where it starts."""
    from gridsvc.cli_support import fail
    from gridsvc.delegations.service import DelegationError, import_file, parse_effective

    try:
        start = parse_effective(effective_from)
    except DelegationError as error:
        fail(str(error))

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await import_file(
                connection, file, enforcement_code=enforcement_code, effective_from=start, name=name
            )
        finally:
            await connection.close()

    result = _run(task)
    local = result["effective_from"].astimezone(ZoneInfo(result["timezone"]))
    typer.echo(
        f"{result['enforcement_code']} version {result['version']} ({result['name']}): "
        f"{result['items']} matters from {local.isoformat()} ({result['timezone']})"
    )
    if result["previous"]:
        previous = result["previous"]
        typer.echo(
            f"  version {previous['version']} closed; +{len(result['added'])} "
            f"-{len(result['removed'])} matters"
        )
    for item in result["duplicates"]:
        typer.secho(
            f"  row {item['row']}: {item['matter_code']} repeats row {item['first_row']}",
            fg=typer.colors.YELLOW,
        )
    for warning in result["warnings"]:
        typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW)


@app.command("list")
def delegations_list(
    enforcement_code: Annotated[str | None, typer.Option(help="only this township")] = None,
) -> None:
    """Every version of the townships' lists."""
    from gridsvc.delegations.service import list_versions, township_timezone

    async def task(_: Settings, url: str) -> list[dict[str, Any]]:
        connection = await connect(url)
        try:
            rows = await list_versions(connection, enforcement_code=enforcement_code)
            zones = {
                code: ZoneInfo((await township_timezone(connection, code))[0])
                for code in {r["enforcement_code"] for r in rows}
            }
        finally:
            await connection.close()
        for row in rows:  # dates as the township reads them
            zone = zones[row["enforcement_code"]]
            row["effective_from"] = row["effective_from"].astimezone(zone)
            if row["effective_to"] is not None:
                row["effective_to"] = row["effective_to"].astimezone(zone)
        return rows

    for row in _run(task):
        until = row["effective_to"].isoformat() if row["effective_to"] else "now"
        typer.echo(
            f"#{row['id']:<5} {row['enforcement_code']:<16} v{row['version']:<3} "
            f"{row['items']:>4} matters  {row['effective_from'].isoformat()} .. {until}  "
            f"{row['name']}"
        )


@app.command("show")
def delegations_show(list_id: int) -> None:
    """One version with its matters."""
    from gridsvc.cli_support import fail
    from gridsvc.delegations.service import get_list

    async def task(_: Settings, url: str) -> dict[str, Any] | None:
        connection = await connect(url)
        try:
            return await get_list(connection, list_id=list_id)
        finally:
            await connection.close()

    row = _run(task)
    if row is None:
        fail(f"delegation list {list_id} does not exist")
    typer.echo(f"{row['enforcement_code']} v{row['version']} {row['name']}: {row['items']} matters")
    for matter in row["matters"]:
        typer.echo(f"  {matter['matter_code']:<10} {matter['name']}")
