"""``gridsvc roads``: import an extract, fetch a place, show the current network."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

roads_app = typer.Typer(help="The drivable road graph (for ETAs and coverage).",
                        no_args_is_help=True)

# The steps build_network reports, in order (for a bar with a known length).
_STEPS = ("filter drivable ways", "osmnx graph_from_xml", "urban areas", "speeds", "clip",
          "strongly connected component", "osmnx simplify", "arrays", "done", "write PostGIS")


class StepBar:
    """A tqdm bar that advances one notch per named step."""

    def __init__(self, description: str) -> None:
        self.bar = tqdm(total=len(_STEPS), desc=description, unit="step", file=sys.stderr,
                        disable=None)

    def __call__(self, step: str) -> None:
        self.bar.set_postfix_str(step)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.n = self.bar.total or 0
        self.bar.close()


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


async def _import(settings: Settings, url: str, *, source: Path | None, place: str | None,
                  clip: str | None) -> Any:
    from gridsvc.coverage.service import refresh_all
    from gridsvc.roads.service import import_roads

    connection = await connect(url)
    bar = StepBar("roads")
    try:
        result = await import_roads(connection, settings=settings, source=source, place=place,
                                    clip_jurisdiction=clip, progress=bar)
        bar.close()
        await refresh_all(connection, settings=settings)
        return result
    finally:
        bar.bar.close()
        await connection.close()


def _print_report(result: Any) -> None:
    report = result.report
    graph, components = report["graph"], report["components"]
    typer.echo(f"road network {result.network_id}: {graph['nodes']} nodes, {graph['edges']} "
               f"directed edges ({graph['oneway_edges']} one-way), {graph['length_km']} km")
    typer.echo(f"  drivable ways: {report['ways']['drivable']}; left out: "
               f"{report['ways']['left_out']}")
    if components["dropped_components"]:
        typer.secho(f"  kept the largest strongly connected component; dropped "
                    f"{components['dropped_components']} others ({components['dropped_nodes']} "
                    f"nodes, {components['dropped_edges']} segments; largest "
                    f"{components['largest_dropped']})", fg=typer.colors.YELLOW)
    typer.echo(f"  speeds: {report['speed_rules']} (table {report['speed_table']['source']})")
    typer.echo(f"  cache: {result.cache_file} "
               f"({report['cache']['routing_bytes_per_edge']} bytes/edge routing core)")


@roads_app.command("import")
def roads_import(
    file: Annotated[Path, typer.Argument(help=".osm.pbf or .osm (XML) extract, WGS84")],
    clip: Annotated[str | None, typer.Option(
        help="jurisdiction code: keep roads inside its boundary (+ GRIDSVC_ROAD_CLIP_BUFFER_M)"
    )] = None,
    report_json: Annotated[Path | None, typer.Option(help="also write the report here")] = None,
) -> None:
    """Import the drivable roads of an extract, replacing the current network atomically."""
    result = _run(lambda s, url: _import(s, url, source=file, place=None, clip=clip))
    _print_report(result)
    if report_json:
        report_json.write_text(json.dumps(result.report, ensure_ascii=False, indent=2))


@roads_app.command("fetch")
def roads_fetch(
    place: Annotated[str, typer.Option(help='place name for osmnx, e.g. "宁化县, 三明市"')],
    clip: Annotated[str | None, typer.Option(help="jurisdiction code to clip to")] = None,
) -> None:
    """Download a place's roads through osmnx (needs internet) and import them."""
    result = _run(lambda s, url: _import(s, url, source=None, place=place, clip=clip))
    _print_report(result)


@roads_app.command("info")
def roads_info() -> None:
    """Show the current road network."""
    from gridsvc.roads.service import current_network

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await current_network(connection)
        finally:
            await connection.close()

    network = _run(task)
    if network is None:
        typer.echo("no road network imported (gridsvc roads import FILE)")
        return
    typer.echo(f"network {network['id']} from {network['source_file']}, imported "
               f"{network['imported_at']:%Y-%m-%d %H:%M}: {network['node_count']} nodes, "
               f"{network['edge_count']} edges")
