"""``gridsvc jurisdictions``: import boundary polygons, list jurisdictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.cli_support import run
from gridsvc.database.pool import connect
from gridsvc.settings import Settings

jurisdictions_app = typer.Typer(help="Jurisdictions (city, county, township).", no_args_is_help=True)


@jurisdictions_app.command("import")
def jurisdictions_import(
    file: Path,
    crs: Annotated[str, typer.Option(help="coordinates of the file: gcj02, bd09, wgs84, EPSG:..")],
    code_field: str = "adcode",
    level_field: str = "level",
    timezone: str = "Asia/Shanghai",
) -> None:
    """Import boundary polygons as jurisdictions (parents found by division code)."""
    from gridsvc.jurisdictions.importer import import_boundaries

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await import_boundaries(
                connection, file, crs=crs, code_field=code_field, level_field=level_field, timezone=timezone
            )
        finally:
            await connection.close()

    result = run(task)
    typer.echo(f"{result.created} jurisdictions: {result.by_level}")


@jurisdictions_app.command("list")
def jurisdictions_list(level: str | None = None) -> None:
    """List jurisdictions."""
    from gridsvc.jurisdictions.service import list_all

    async def task(_: Settings, url: str) -> list[dict[str, Any]]:
        connection = await connect(url)
        try:
            return await list_all(connection, level=level)
        finally:
            await connection.close()

    for row in run(task):
        area = f"{row['area_m2'] / 1e6:,.1f} km²" if row["area_m2"] else "no boundary"
        typer.echo(
            f"{row['code']:<12} {row['level']:<9} {row['name']:<24} {area:>14} "
            f"parent={row['parent_code'] or '-'} layers={row['layer_count']}"
        )
