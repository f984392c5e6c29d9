"""``gridsvc tiles import FILE`` and ``gridsvc tiles info``: the offline street base map."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from gridsvc.cli_support import run
from gridsvc.database.pool import connect
from gridsvc.settings import Settings

tiles_app = typer.Typer(help="The offline street base map (/tiles/{z}/{x}/{y}.mvt).", no_args_is_help=True)


async def import_with_bar(connection: Any, source: Path, jurisdiction: str | None = None) -> Any:
    """Import the base map of ``source`` with a progress bar on stderr (one notch a step)."""
    from gridsvc.tiles.service import IMPORT_STEPS, import_basemap

    with tqdm(total=len(IMPORT_STEPS), desc="base map", unit="step", file=sys.stderr, disable=None) as bar:

        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        return await import_basemap(connection, source=source, jurisdiction=jurisdiction, progress=progress)


@tiles_app.command("import")
def tiles_import(
    file: Annotated[Path, typer.Argument(help=".osm.pbf or .osm (XML) extract, WGS84")],
    jurisdiction: Annotated[
        str | None,
        typer.Option(
            "--jurisdiction", "-j", help="jurisdiction code: replaces that jurisdiction's base map only"
        ),
    ] = None,
) -> None:
    """Import roads, buildings, water, landuse and place labels of an extract, replacing the
    jurisdiction's current base map at once (tile caches follow: every ETag changes)."""

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await import_with_bar(connection, file, jurisdiction)
        finally:
            await connection.close()

    result = run(task)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    typer.echo(f"base map {result.import_id}: {counts}")


@tiles_app.command("info")
def tiles_info() -> None:
    """Show the current base map."""
    from gridsvc.tiles.service import basemap_info

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await basemap_info(connection)
        finally:
            await connection.close()

    info = run(task)
    if info is None:
        typer.echo("no base map imported (gridsvc tiles import FILE)")
        return
    typer.echo(
        f"base map {info.import_id} from {info.source_file}, {info.imported_at:%Y-%m-%d %H:%M}: {info.counts}"
    )
    if info.bounds:
        typer.echo(f"  bounds (WGS84): {', '.join(f'{v:.5f}' for v in info.bounds)}")
