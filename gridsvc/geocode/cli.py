"""``gridsvc geocode build|search``: the offline geocoder's index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.cli_support import progress, run
from gridsvc.database.pool import connect
from gridsvc.settings import Settings

geocode_app = typer.Typer(help="The offline geocoder (addresses -> points).", no_args_is_help=True)


async def build_with_bar(settings: Settings, url: str, extracts: list[tuple[Path, str | None]]) -> Any:
    """Build the index from ``extracts`` (file, jurisdiction), a progress bar over the steps."""
    from gridsvc.geocode.service import BUILD_STEPS, build_index

    connection = await connect(url)
    bar = progress(len(BUILD_STEPS), "geocoder", "step")

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        return await build_index(connection, settings=settings, extracts=extracts, progress=step)
    finally:
        bar.close()
        await connection.close()


@geocode_app.command("build")
def geocode_build(
    osm: Annotated[
        list[str] | None,
        typer.Option(
            help="OSM extract, .osm.pbf or .osm, as FILE or FILE=JURISDICTION (the entries are "
            "tagged with it); repeat for several counties (default: the demo's Liechtenstein)"
        ),
    ] = None,
) -> None:
    """Build the geocoder's index from OSM extracts and the division codes (replaces the
    current index atomically)."""
    extracts: list[tuple[Path, str | None]] = []
    for given in osm or []:
        path, sep, code = given.rpartition("=")
        if not sep or Path(given).exists():  # a file whose name holds "=" is a file
            path, code = given, ""
        extracts.append((Path(path), code.strip() or None))
    report = run(lambda settings, url: build_with_bar(settings, url, extracts or [(settings.demo_pbf, None)]))
    typer.echo(
        f"geocoder build {report.build_id}: {report.entries} entries {report.by_kind}, "
        f"{report.towns} towns, {report.seconds} s"
    )
    if report.skipped:
        typer.echo(f"  skipped: {report.skipped}")


@geocode_app.command("search")
def geocode_search(
    query: Annotated[str, typer.Argument(help="an address as typed, e.g. 'Städtle 43, 9490 Vaduz'")],
    limit: Annotated[int, typer.Option(min=1, max=20)] = 5,
) -> None:
    """Print the candidates for an address (JSON)."""
    from gridsvc.geocode.service import geocode

    async def task(settings: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await geocode(
                connection, query=query, min_confidence=settings.geocode_min_confidence, limit=limit
            )
        finally:
            await connection.close()

    answer = run(task)
    typer.echo(json.dumps(answer.model_dump(), ensure_ascii=False, indent=2))
