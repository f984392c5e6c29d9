"""The ``gridsvc`` console script: one command for every operator task."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from tqdm import tqdm

from gridsvc.auth.cli import users_app
from gridsvc.calendar.cli import app as calendar_app
from gridsvc.cli_support import fail, run
from gridsvc.coverage.cli import map_coverage, roads_fetch, roads_import, squads_import
from gridsvc.database.embedded import EmbeddedCluster, EmbeddedClusterError
from gridsvc.database.migrate import pending as pending_migrations
from gridsvc.database.migrate import upgrade as upgrade_database
from gridsvc.database.pool import connect
from gridsvc.delegations.cli import app as delegations_app
from gridsvc.grids.importer import FieldMap, GridImportError, prepare_layer
from gridsvc.matters.cli import app as matters_app
from gridsvc.observability.console import resolve_log_format
from gridsvc.observability.logs import LOG_FILE, configure_logging
from gridsvc.replay.cli import replay_command, workorders_app
from gridsvc.roads.cli import roads_app
from gridsvc.serving import raise_file_limit, uvicorn_options
from gridsvc.settings import Settings, get_settings
from gridsvc.squads.cli import squads_app
from gridsvc.webhooks.cli import integrations_app

app = typer.Typer(help="gridsvc: grids, routing and dispatch for 综合行政执法.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database: private cluster and migrations.", no_args_is_help=True)
grids_app = typer.Typer(help="Grid layers.", no_args_is_help=True)
jurisdictions_app = typer.Typer(help="Jurisdictions (city, county, township).",
                                no_args_is_help=True)
demo_app = typer.Typer(help="The demo jurisdiction built from real OSM data.",
                       no_args_is_help=True)
map_app = typer.Typer(help="Folium maps for people to look at.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(grids_app, name="grids")
app.add_typer(jurisdictions_app, name="jurisdictions")
app.add_typer(demo_app, name="demo")
app.add_typer(map_app, name="map")
app.add_typer(roads_app, name="roads")
app.add_typer(squads_app, name="squads")
map_app.command("coverage")(map_coverage)
# these refresh coverage, so they live in coverage/ (roads/ and squads/ sit below it)
roads_app.command("import")(roads_import)
roads_app.command("fetch")(roads_fetch)
squads_app.command("import")(squads_import)
app.add_typer(matters_app, name="matters")
app.add_typer(delegations_app, name="delegations")
app.add_typer(calendar_app, name="calendar")
app.add_typer(integrations_app, name="integrations")
app.add_typer(workorders_app, name="workorders")
app.add_typer(users_app, name="users")
app.command("replay")(replay_command)

T = TypeVar("T")


# -- db ------------------------------------------------------------------------------

@db_app.command("up")
def db_up() -> None:
    """Create (first time) and start the private PostGIS cluster."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("GRIDSVC_DATABASE_URL is set; the private cluster is not used.")
        return
    cluster = EmbeddedCluster.from_settings(settings)
    try:
        cluster.up()
    except EmbeddedClusterError as error:
        fail(str(error))
    typer.echo(cluster.status())


@db_app.command("down")
def db_down() -> None:
    """Stop the private cluster (its data stay)."""
    cluster = EmbeddedCluster.from_settings(get_settings())
    cluster.down()
    typer.echo(cluster.status())


@db_app.command("status")
def db_status() -> None:
    """Where the database is, and which migrations are pending."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("database: GRIDSVC_DATABASE_URL")
    else:
        cluster = EmbeddedCluster.from_settings(settings)
        typer.echo(f"private cluster: {cluster.status()}")
        if not cluster.is_running():
            return

    async def task(_: Settings, url: str) -> list[str]:
        connection = await connect(url)
        try:
            return await pending_migrations(connection)
        finally:
            await connection.close()

    waiting = run(task)
    typer.echo("migrations: up to date" if not waiting else f"pending: {', '.join(waiting)}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (idempotent)."""

    async def task(_: Settings, url: str) -> list[str]:
        connection = await connect(url)
        try:
            return await upgrade_database(connection)
        finally:
            await connection.close()

    applied = run(task)
    typer.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in use (starts the private cluster if needed)."""
    typer.echo(run(lambda _s, url: _identity(url)))


async def _identity(value: T) -> T:
    return value


# -- grids ---------------------------------------------------------------------------

@grids_app.command("import")
def grids_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile, GeoPackage, ...")],
    layer: Annotated[str, typer.Option(help="community | enforcement | zone | "
                                            "specialist:<department>")],
    jurisdiction: Annotated[str, typer.Option(help="code of the jurisdiction the grids belong to")],
    code_field: Annotated[str | None, typer.Option(help="attribute holding the grid code")] = None,
    name_field: Annotated[str | None, typer.Option(help="attribute holding the grid name")] = None,
    enforcement_field: Annotated[str | None, typer.Option(
        help="community: attribute with the enforcement grid's code")] = None,
    crs: Annotated[str | None, typer.Option(
        help="source coordinates: EPSG:xxxx, cgcs2000, gcj02 or bd09 (default: the file's)")] = None,
    resolution: Annotated[int | None, typer.Option(help="H3 resolution (default 10)")] = None,
    report_json: Annotated[Path | None, typer.Option(help="also write the report here")] = None,
    allow_outside: Annotated[bool, typer.Option(
        "--allow-outside", help="import even when no grid touches the jurisdiction")] = False,
) -> None:
    """Import a grid layer, replacing the current version atomically."""
    fields = FieldMap(code=code_field, name=name_field, enforcement_code=enforcement_field)
    try:
        prepared = prepare_layer(file, layer=layer, fields=fields, crs=crs)
    except GridImportError as error:
        fail(str(error))
    result = run(lambda settings, url: _import(settings, url, prepared, jurisdiction, resolution,
                                               allow_outside))
    print_report(result.layer, result.version, result.report)
    if report_json:
        report_json.write_text(json.dumps(result.report, ensure_ascii=False, indent=2))


async def _import(settings: Settings, url: str, prepared: Any, jurisdiction: str,
                  resolution: int | None, allow_outside: bool = False) -> Any:
    from gridsvc.grids.service import import_layer

    connection = await connect(url)
    try:
        with tqdm(total=len(prepared.records), desc=f"H3 cover {prepared.layer}", unit="grid",
                  file=sys.stderr, disable=None) as bar:
            return await import_layer(connection, prepared, jurisdiction_code=jurisdiction,
                                      resolution=resolution or settings.h3_resolution,
                                      progress=bar.update, allow_outside=allow_outside)
    finally:
        await connection.close()


def print_report(layer: str, version: int, report: dict[str, Any]) -> None:
    """The validation report, in short, for a person at a terminal."""
    typer.echo(f"{layer}: version {version}, {report['features']} grids "
               f"(source CRS {report['source_crs']})")
    h3_info = report.get("h3", {})
    typer.echo(f"  H3 r{h3_info.get('resolution')}: {h3_info.get('cells')} cells, "
               f"{h3_info.get('straddling')} on grid borders, {h3_info.get('empty')} with no grid")
    for item in report.get("repaired", []):
        typer.secho(f"  repaired {item['code']}: {item['problem']} ({item['repair']})",
                    fg=typer.colors.YELLOW)
    for item in report.get("overlaps", []):
        typer.secho(f"  overlap {item['codes'][0]} / {item['codes'][1]}: {item['area_m2']} m²",
                    fg=typer.colors.YELLOW)
    outside = report.get("outside_jurisdiction")
    if outside:
        typer.secho(f"  outside jurisdiction {outside['jurisdiction']}: "
                    f"{', '.join(outside['codes'])}"
                    + (f" (+{outside['count'] - len(outside['codes'])} more)"
                       if outside["count"] > len(outside["codes"]) else ""),
                    fg=typer.colors.YELLOW)
    gaps = report.get("gaps")
    if gaps and gaps["pieces"]:
        typer.secho(f"  gaps against the jurisdiction boundary: {gaps['pieces']} pieces, "
                    f"{gaps['area_m2']} m²", fg=typer.colors.YELLOW)
    links = report.get("enforcement_links")
    if links:
        typer.echo(f"  enforcement links: {links['counts']}")
        for item in links["ambiguous"][:10]:
            typer.secho(f"  ambiguous {item['code']}: {item['shares']}", fg=typer.colors.YELLOW)
        for item in links["missing"][:10]:
            typer.secho(f"  no enforcement grid for {item['code']}", fg=typer.colors.YELLOW)
        for item in links["unknown_code"][:10]:
            typer.secho(f"  {item['code']} names unknown enforcement grid "
                        f"{item['enforcement_code']}", fg=typer.colors.YELLOW)


# -- jurisdictions -------------------------------------------------------------------

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
            return await import_boundaries(connection, file, crs=crs, code_field=code_field,
                                           level_field=level_field, timezone=timezone)
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
        typer.echo(f"{row['code']:<12} {row['level']:<9} {row['name']:<24} {area:>14} "
                   f"parent={row['parent_code'] or '-'} layers={row['layer_count']}")


# -- demo, maps, serving ------------------------------------------------------------

@demo_app.command("build")
def demo_build(
    pbf: Annotated[Path | None, typer.Option(help="OSM extract (default: shared Liechtenstein)")] = None,
    boundaries: Annotated[Path | None, typer.Option(help="GCJ-02 county boundaries")] = None,
) -> None:
    """Build the demo jurisdiction from real OSM data and load the real county boundaries."""
    from gridsvc.demo.build import build_demo

    run(lambda settings, url: build_demo(settings, url, pbf=pbf, boundaries=boundaries,
                                         echo=typer.echo))


@map_app.command("grids")
def map_grids(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("maps/grids.html"),
    cells: Annotated[bool, typer.Option(help="include the H3 cells (border cells marked)")] = False,
    jurisdiction: Annotated[str | None, typer.Option(help="only this jurisdiction")] = None,
) -> None:
    """Write a folium map of every layer (toggleable), names on hover."""
    from gridsvc.maps.grids import write_grid_map

    path = run(lambda settings, url: write_grid_map(url, out=out, with_cells=cells,
                                                    jurisdiction=jurisdiction))
    typer.echo(f"wrote {path}")


class LogFormat(StrEnum):
    auto = "auto"
    console = "console"
    json = "json"


LogFormatOption = Annotated[LogFormat, typer.Option(
    help="console: a summary line a minute and warnings on stdout, JSON logs in the state "
         "folder (.gridsvc/logs); json: every JSON line on stdout; auto: console at a "
         "terminal, else json")]


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_format: LogFormatOption = LogFormat.auto) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    settings = _use_log_format(log_format, workers=workers)
    if not settings.database_url:
        # Start the private cluster once here, not in every worker.
        try:
            EmbeddedCluster.from_settings(settings).up()
        except EmbeddedClusterError as error:
            fail(str(error))
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its histograms and counters to files here and /metrics adds them
        # up, whichever worker answers the scrape; a fresh folder per start, so no counts
        # of dead processes linger.
        metrics_dir = Path(tempfile.mkdtemp(prefix="gridsvc-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    # log_config=None: uvicorn keeps gridsvc's JSON logging (set again in every worker by
    # create_app); its access log is replaced by gridsvc.access (request id, route, actor).
    # timeout_graceful_shutdown: open live streams (/live/stream) would hold a stop forever
    # serving.py: file limit raised, a connection cap that closes idle ones first, header and
    # keep-alive deadlines (idle sockets cannot take the server down, D10)
    soft, hard = raise_file_limit()
    options = uvicorn_options(settings)
    logging.getLogger("gridsvc.serving").info(
        "open-file limit %s (hard %s): at most %s client connections", soft, hard,
        options["limit_concurrency"])
    if settings.log_console:
        typer.echo(f"serving http://{host}:{port}; every log line (JSON) goes to "
                   f"{settings.log_dir / LOG_FILE}, here a summary a minute and any warning")
    uvicorn.run("gridsvc.asgi:app", host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), log_config=None, access_log=False,
                timeout_graceful_shutdown=5, **options)


def _use_log_format(log_format: LogFormat, *, workers: int = 1) -> Settings:
    """Settle console or JSON logging for this process and uvicorn's workers (environment)."""
    if log_format != LogFormat.auto or "GRIDSVC_LOG_CONSOLE" not in os.environ:
        chosen = resolve_log_format(log_format.value, isatty=sys.stdout.isatty())
        os.environ["GRIDSVC_LOG_CONSOLE"] = "true" if chosen == "console" else "false"
    if workers > 1:
        os.environ["GRIDSVC_CONSOLE_SUMMARY"] = "false"  # N workers would print N lines
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json,
                      console=settings.log_console, log_dir=settings.log_dir)
    return settings


@app.command("up")
def up(host: str = "127.0.0.1", port: int = 8000, rebuild: bool = False,
       replay_rate: Annotated[float, typer.Option(
           help="demo 12345 work orders per second posted in the background (0: none)")] = 0.2,
       log_format: LogFormatOption = LogFormat.auto,
       ) -> None:
    """Everything for a first look: database, migrations, demo data (once), map, API, the
    operator's live map at /ops with a stream of demo work orders."""
    _use_log_format(log_format)
    db_up()
    db_upgrade()

    async def has_demo(_: Settings, url: str) -> bool:
        connection = await connect(url)
        try:
            return bool(await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM layers l JOIN jurisdictions j "
                "ON j.id = l.jurisdiction_id WHERE j.code = 'LI')"))
        finally:
            await connection.close()

    if rebuild or not run(has_demo):
        demo_build(pbf=None, boundaries=None)
    map_grids(out=Path("maps/grids.html"), cells=False, jurisdiction="LI")
    typer.echo(f"API on http://{host}:{port}  (docs: /docs, try "
               f"/grids/lookup?lat=47.1410&lng=9.5209)")
    _live_demo(host, port, replay_rate)
    serve(host=host, port=port, workers=1, log_format=log_format)


def _live_demo(host: str, port: int, replay_rate: float) -> None:
    """Demo accounts (tokens printed) and, unless the rate is 0, the work-order feed."""
    from gridsvc.live.demo import DEMO_FEED, DEMO_GRID_HEAD, DEMO_OPERATOR, DemoFeed, demo_accounts

    tokens = run(lambda _s, url: demo_accounts(url))
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    typer.secho(f"operator live map: {base}/login?next=/ops", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  operator token ({DEMO_OPERATOR}): {tokens[DEMO_OPERATOR]}")
    typer.echo(f"  grid head LI-VADUZ-01 inbox ({DEMO_GRID_HEAD}, {base}/inbox): "
               f"{tokens[DEMO_GRID_HEAD]}")
    if replay_rate > 0:
        url = run(lambda _s, url: _identity(url))
        DemoFeed(base_url=base, database_url=url, rate=replay_rate,
                 token=tokens[DEMO_FEED]).start()
        typer.echo(f"  demo work orders: {replay_rate:g}/s in the background "
                   "(--replay-rate 0 to stop them)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
