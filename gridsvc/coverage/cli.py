"""``gridsvc map coverage`` (registered on the ``map`` sub-app by gridsvc.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def map_coverage(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("maps/coverage.html"),
    jurisdiction: Annotated[str | None, typer.Option(help="only this jurisdiction")] = None,
) -> None:
    """Write a folium choropleth of the fastest squad's arrival time per H3 cell."""
    from gridsvc.cli_support import run
    from gridsvc.coverage.maps import write_coverage_map

    path = run(lambda _settings, url: write_coverage_map(url, out=out,
                                                         jurisdiction=jurisdiction))
    typer.echo(f"wrote {path}")
