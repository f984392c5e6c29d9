"""``gridsvc demo build``: the demo jurisdiction from real OSM data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridsvc.cli_support import run

demo_app = typer.Typer(help="The demo jurisdiction built from real OSM data.", no_args_is_help=True)


@demo_app.command("build")
def demo_build(
    pbf: Annotated[Path | None, typer.Option(help="OSM extract (default: shared Liechtenstein)")] = None,
    boundaries: Annotated[Path | None, typer.Option(help="GCJ-02 county boundaries")] = None,
) -> None:
    """Build the demo jurisdiction from real OSM data and load the real county boundaries."""
    from gridsvc.demo.build import build_demo

    run(lambda settings, url: build_demo(settings, url, pbf=pbf, boundaries=boundaries, echo=typer.echo))
