"""``gridsvc map grids`` (``map coverage`` is registered on this sub-app by gridsvc.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridsvc.cli_support import run

map_app = typer.Typer(help="Folium maps for people to look at.", no_args_is_help=True)


@map_app.command("grids")
def map_grids(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("maps/grids.html"),
    cells: Annotated[bool, typer.Option(help="include the H3 cells (border cells marked)")] = False,
    jurisdiction: Annotated[str | None, typer.Option(help="only this jurisdiction")] = None,
) -> None:
    """Write a folium map of every layer (toggleable), names on hover."""
    from gridsvc.maps.grids import write_grid_map

    path = run(
        lambda settings, url: write_grid_map(url, out=out, with_cells=cells, jurisdiction=jurisdiction)
    )
    typer.echo(f"wrote {path}")
