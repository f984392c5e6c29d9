"""``gridsvc roads``: show the current network; `roads import|fetch` (they refresh coverage)
live in gridsvc/coverage/cli.py, registered here by gridsvc.cli."""

from __future__ import annotations

import sys
from typing import Any

import typer
from tqdm import tqdm

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

roads_app = typer.Typer(help="The drivable road graph (for ETAs and coverage).", no_args_is_help=True)

# The steps build_network reports, in order (for a bar with a known length).
_STEPS = (
    "filter drivable ways",
    "osmnx graph_from_xml",
    "urban areas",
    "speeds",
    "clip",
    "strongly connected component",
    "osmnx simplify",
    "arrays",
    "done",
    "write PostGIS",
)


class StepBar:
    """A tqdm bar that advances one notch per named step."""

    def __init__(self, description: str) -> None:
        self.bar = tqdm(total=len(_STEPS), desc=description, unit="step", file=sys.stderr, disable=None)

    def __call__(self, step: str) -> None:
        self.bar.set_postfix_str(step)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.n = self.bar.total or 0
        self.bar.close()


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


def print_report(result: Any) -> None:
    report = result.report
    graph, components = report["graph"], report["components"]
    typer.echo(
        f"road network {result.network_id}: {graph['nodes']} nodes, {graph['edges']} "
        f"directed edges ({graph['oneway_edges']} one-way), {graph['length_km']} km"
    )
    typer.echo(f"  drivable ways: {report['ways']['drivable']}; left out: {report['ways']['left_out']}")
    trimmed = report["ways"].get("trimmed_at_edge") or {}
    if trimmed.get("ways"):
        typer.secho(
            f"warning: {trimmed['ways']} ways referenced {trimmed['missing_node_refs']} nodes "
            f"missing from the extract (clipped by a bounding box): cut at its edge into "
            f"{trimmed['parts_kept']} pieces, {trimmed['ways_dropped']} with no piece left",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if components["dropped_components"]:
        typer.secho(
            f"  kept the largest strongly connected component; dropped "
            f"{components['dropped_components']} others ({components['dropped_nodes']} "
            f"nodes, {components['dropped_edges']} segments; largest "
            f"{components['largest_dropped']})",
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"  speeds: {report['speed_rules']} (table {report['speed_table']['source']})")
    typer.echo(
        f"  cache: {result.cache_file} ({report['cache']['routing_bytes_per_edge']} bytes/edge routing core)"
    )


@roads_app.command("info")
def roads_info() -> None:
    """Show the current road networks (one per jurisdiction that has its own)."""
    from gridsvc.roads.service import current_networks

    async def task(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await current_networks(connection)
        finally:
            await connection.close()

    networks = _run(task)
    if not networks:
        typer.echo("no road network imported (gridsvc roads import FILE [--jurisdiction CODE])")
        return
    for network in networks:
        typer.echo(
            f"network {network['id']} of {network['jurisdiction'] or 'the installation'} from "
            f"{network['source_file']}, imported {network['imported_at']:%Y-%m-%d %H:%M}: "
            f"{network['node_count']} nodes, {network['edge_count']} edges"
        )
