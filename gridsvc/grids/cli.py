"""``gridsvc grids``: import a grid layer (the validation report printed for a person)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from gridsvc.cli_support import fail, run
from gridsvc.database.pool import connect
from gridsvc.grids.importer import FieldMap, GridImportError, prepare_layer
from gridsvc.settings import Settings

grids_app = typer.Typer(help="Grid layers.", no_args_is_help=True)


@grids_app.command("import")
def grids_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile, GeoPackage, ...")],
    layer: Annotated[str, typer.Option(help="community | enforcement | zone | specialist:<department>")],
    jurisdiction: Annotated[str, typer.Option(help="code of the jurisdiction the grids belong to")],
    code_field: Annotated[str | None, typer.Option(help="attribute holding the grid code")] = None,
    name_field: Annotated[str | None, typer.Option(help="attribute holding the grid name")] = None,
    enforcement_field: Annotated[
        str | None, typer.Option(help="community: attribute with the enforcement grid's code")
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="source coordinates: EPSG:xxxx, cgcs2000, gcj02 or bd09 (default: the file's)"),
    ] = None,
    resolution: Annotated[int | None, typer.Option(help="H3 resolution (default 10)")] = None,
    report_json: Annotated[Path | None, typer.Option(help="also write the report here")] = None,
    allow_outside: Annotated[
        bool, typer.Option("--allow-outside", help="import even when no grid touches the jurisdiction")
    ] = False,
) -> None:
    """Import a grid layer, replacing the current version atomically."""
    fields = FieldMap(code=code_field, name=name_field, enforcement_code=enforcement_field)
    try:
        prepared = prepare_layer(file, layer=layer, fields=fields, crs=crs)
    except GridImportError as error:
        fail(str(error))
    result = run(
        lambda settings, url: _import(settings, url, prepared, jurisdiction, resolution, allow_outside)
    )
    print_report(result.layer, result.version, result.report)
    if report_json:
        report_json.write_text(json.dumps(result.report, ensure_ascii=False, indent=2))


async def _import(
    settings: Settings,
    url: str,
    prepared: Any,
    jurisdiction: str,
    resolution: int | None,
    allow_outside: bool = False,
) -> Any:
    from gridsvc.grids.service import import_layer

    connection = await connect(url)
    try:
        with tqdm(
            total=len(prepared.records),
            desc=f"H3 cover {prepared.layer}",
            unit="grid",
            file=sys.stderr,
            disable=None,
        ) as bar:
            return await import_layer(
                connection,
                prepared,
                jurisdiction_code=jurisdiction,
                resolution=resolution or settings.h3_resolution,
                progress=bar.update,
                allow_outside=allow_outside,
            )
    finally:
        await connection.close()


def print_report(layer: str, version: int, report: dict[str, Any]) -> None:
    """The validation report, in short, for a person at a terminal."""
    typer.echo(f"{layer}: version {version}, {report['features']} grids (source CRS {report['source_crs']})")
    h3_info = report.get("h3", {})
    typer.echo(
        f"  H3 r{h3_info.get('resolution')}: {h3_info.get('cells')} cells, "
        f"{h3_info.get('straddling')} on grid borders, {h3_info.get('empty')} with no grid"
    )
    for item in report.get("repaired", []):
        typer.secho(
            f"  repaired {item['code']}: {item['problem']} ({item['repair']})", fg=typer.colors.YELLOW
        )
    for item in report.get("overlaps", []):
        typer.secho(
            f"  overlap {item['codes'][0]} / {item['codes'][1]}: {item['area_m2']} m²", fg=typer.colors.YELLOW
        )
    outside = report.get("outside_jurisdiction")
    if outside:
        typer.secho(
            f"  outside jurisdiction {outside['jurisdiction']}: "
            f"{', '.join(outside['codes'])}"
            + (
                f" (+{outside['count'] - len(outside['codes'])} more)"
                if outside["count"] > len(outside["codes"])
                else ""
            ),
            fg=typer.colors.YELLOW,
        )
    gaps = report.get("gaps")
    if gaps and gaps["pieces"]:
        typer.secho(
            f"  gaps against the jurisdiction boundary: {gaps['pieces']} pieces, {gaps['area_m2']} m²",
            fg=typer.colors.YELLOW,
        )
    links = report.get("enforcement_links")
    if links:
        typer.echo(f"  enforcement links: {links['counts']}")
        for item in links["ambiguous"][:10]:
            typer.secho(f"  ambiguous {item['code']}: {item['shares']}", fg=typer.colors.YELLOW)
        for item in links["missing"][:10]:
            typer.secho(f"  no enforcement grid for {item['code']}", fg=typer.colors.YELLOW)
        for item in links["unknown_code"][:10]:
            typer.secho(
                f"  {item['code']} names unknown enforcement grid {item['enforcement_code']}",
                fg=typer.colors.YELLOW,
            )
