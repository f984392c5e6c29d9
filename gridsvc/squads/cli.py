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
    """List squads with their station and status."""
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
            f"{row['id']:>4} {row['code']:<20} {row['status']:<10} "
            f"{station.y:.5f},{station.x:.5f} {row['station_rule']:<17} {row['name']}"
        )
