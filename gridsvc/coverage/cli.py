"""Commands that change what coverage is computed from, and refresh it in the same run
(``gridsvc roads import|fetch``, ``gridsvc squads import``), and ``gridsvc map coverage``.

They live here, above roads and squads (coverage reads both), so that roads/ and squads/ do
not import coverage; gridsvc.cli registers them on the ``roads``, ``squads`` and ``map``
sub-apps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.cli_support import fail, run
from gridsvc.database.pool import connect
from gridsvc.geocode.cli import build_with_bar
from gridsvc.roads.cli import StepBar, print_report
from gridsvc.settings import Settings


def map_coverage(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("maps/coverage.html"),
    jurisdiction: Annotated[str | None, typer.Option(help="only this jurisdiction")] = None,
) -> None:
    """Write a folium choropleth of the fastest squad's arrival time per H3 cell."""
    from gridsvc.coverage.maps import write_coverage_map

    path = run(lambda _settings, url: write_coverage_map(url, out=out, jurisdiction=jurisdiction))
    typer.echo(f"wrote {path}")


# -- roads (registered as `gridsvc roads import|fetch`) -----------------------------------


async def _import_roads(
    settings: Settings, url: str, *, source: Path | None, place: str | None, jurisdiction: str | None
) -> Any:
    from gridsvc.coverage.service import refresh_all
    from gridsvc.roads.service import current_networks, import_roads

    connection = await connect(url)
    bar = StepBar("roads")
    try:
        result = await import_roads(
            connection, settings=settings, source=source, place=place, jurisdiction=jurisdiction, progress=bar
        )
        bar.close()
        await refresh_all(connection, settings=settings)
        networks = await current_networks(connection)
        if source is not None and len(networks) <= 1:
            # The geocoder indexes the same extract, so addresses and roads agree.
            report = await build_with_bar(settings, url, [(source, jurisdiction)])
            typer.echo(f"geocoder build {report.build_id}: {report.entries} entries {report.by_kind}")
        elif source is not None:
            # Rebuilding from this county's extract alone would lose the other counties'
            # addresses: the index of several is built with one --osm FILE=CODE per county.
            typer.echo(
                f"geocoder kept: {len(networks)} jurisdictions have roads (rebuild it with "
                "gridsvc geocode build --osm FILE=CODE, once per county)"
            )
        return result
    finally:
        bar.bar.close()
        await connection.close()


_JURISDICTION_HELP = (
    "jurisdiction code: the network becomes that jurisdiction's (others are kept), clipped to "
    "its boundary (+ GRIDSVC_ROAD_CLIP_BUFFER_M); a city's network serves its counties that "
    "have none"
)


def roads_import(
    file: Annotated[Path, typer.Argument(help=".osm.pbf or .osm (XML) extract, WGS84")],
    jurisdiction: Annotated[
        str | None, typer.Option("--jurisdiction", "--clip", "-j", help=_JURISDICTION_HELP)
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="also write the report here")] = None,
) -> None:
    """Import the drivable roads of an extract as one jurisdiction's network, replacing
    that jurisdiction's current network atomically."""
    result = run(lambda s, url: _import_roads(s, url, source=file, place=None, jurisdiction=jurisdiction))
    print_report(result)
    if report_json:
        report_json.write_text(json.dumps(result.report, ensure_ascii=False, indent=2))


def roads_fetch(
    place: Annotated[str, typer.Option(help='place name for osmnx, e.g. "宁化县, 三明市"')],
    jurisdiction: Annotated[
        str | None, typer.Option("--jurisdiction", "--clip", "-j", help=_JURISDICTION_HELP)
    ] = None,
) -> None:
    """Download a place's roads through osmnx (needs internet) and import them."""
    result = run(lambda s, url: _import_roads(s, url, source=None, place=place, jurisdiction=jurisdiction))
    print_report(result)


# -- squads (registered as `gridsvc squads import`) ---------------------------------------


def squads_import(
    file: Annotated[Path, typer.Argument(help="CSV (lat,lng columns) or GeoJSON points")],
    crs: Annotated[str, typer.Option(help="coordinates of the file: wgs84, gcj02, bd09")] = "wgs84",
) -> None:
    """Create or update squads by code (columns: code, name, name_zh, jurisdiction, lat,
    lng, station_name, grid_codes (;-separated), size, status, phone)."""
    from gridsvc.coverage.service import refresh_all
    from gridsvc.squads.service import Placement, SquadError, read_squad_file, upsert_squads

    try:
        records = read_squad_file(file, crs=crs)
    except (SquadError, FileNotFoundError) as error:
        fail(str(error))

    async def task(settings: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            # Stations far off the jurisdiction are refused here; distance to the roads is
            # checked by the app (it holds the graph) and flagged there, never fatal.
            placement = Placement(
                max_road_distance_m=settings.squad_max_road_distance_m,
                jurisdiction_margin_m=settings.squad_jurisdiction_margin_m,
            )
            report = await upsert_squads(connection, records=records, placement=placement)
            await refresh_all(connection, settings=settings)
            return report
        finally:
            await connection.close()

    report = run(task)
    typer.echo(f"{report.created} squads created, {report.updated} updated")
