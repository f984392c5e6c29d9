"""``gridsvc squads``: list squads; `squads import` (it refreshes coverage) lives in
gridsvc/coverage/cli.py, registered here by gridsvc.cli."""

from __future__ import annotations

from typing import Any

import typer

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

squads_app = typer.Typer(help="Enforcement squads (执法中队).", no_args_is_help=True)


@squads_app.command("list")
def squads_list() -> None:
    """List squads with their station, status and open cases."""
    from gridsvc.cli_support import run
    from gridsvc.squads.service import list_squads

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await list_squads(connection)
        finally:
            await connection.close()

    for row in run(task):
        station = row["station"]
        typer.echo(
            f"{row['id']:>4} {row['code']:<20} {row['status']:<10} {row['open_cases']:>3} open "
            f"{station.y:.5f},{station.x:.5f} {row['station_rule']:<17} {row['name']}"
            + (f"  ({row['status_reason']})" if row["status_reason"] else "")
        )


@squads_app.command("status")
def squads_status(
    code: str = typer.Argument(help="the squad's code"),
    status: str = typer.Argument(help="available (在岗), busy (忙碌), off_duty (休息), offline (离线)"),
    reason: str = typer.Option(None, "--reason", help="why; required unless available"),
) -> None:
    """Set a squad's status (the desk's way, e.g. when a squad calls in by radio)."""
    from gridsvc.cli_support import run
    from gridsvc.squads import queries
    from gridsvc.squads.service import STATUSES
    from gridsvc.squads.workload import set_status

    if status not in STATUSES:
        typer.echo(f"status must be one of {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    if status != "available" and not (reason or "").strip():
        typer.echo(f"--reason is required for status {status}", err=True)
        raise typer.Exit(2)

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            squad_id = await connection.fetchval(queries.ID_BY_CODE, code)
            if squad_id is None:
                return None
            await set_status(connection, squad_id=squad_id, status=status, reason=reason, actor="cli")
            return squad_id
        finally:
            await connection.close()

    if run(task) is None:
        typer.echo(f"no squad {code!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{code}: {status}" + (f" ({reason})" if reason else ""))
