"""``gridsvc squads``: import squads from CSV/GeoJSON, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

squads_app = typer.Typer(help="Enforcement squads (执法中队).", no_args_is_help=True)


@squads_app.command("import")
def squads_import(
    file: Annotated[Path, typer.Argument(help="CSV (lat,lng columns) or GeoJSON points")],
    crs: Annotated[str, typer.Option(help="coordinates of the file: wgs84, gcj02, bd09")]
    = "wgs84",
) -> None:
    """Create or update squads by code (columns: code, name, name_zh, jurisdiction, lat,
    lng, station_name, grid_codes (;-separated), size, status, phone)."""
    from gridsvc.cli_support import fail, run
    from gridsvc.coverage.service import refresh_all
    from gridsvc.squads.service import SquadError, read_squad_file, upsert_squads

    try:
        records = read_squad_file(file, crs=crs)
    except (SquadError, FileNotFoundError) as error:
        fail(str(error))

    async def task(settings: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            report = await upsert_squads(connection, records=records)
            await refresh_all(connection, settings=settings)
            return report
        finally:
            await connection.close()

    report = run(task)
    typer.echo(f"{report.created} squads created, {report.updated} updated")


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
        typer.echo(f"{row['id']:>4} {row['code']:<20} {row['status']:<10} "
                   f"{station.y:.5f},{station.x:.5f} {row['station_rule']:<17} {row['name']}")
