"""The ``gridsvc`` console script: one command for every operator task."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from gridsvc.archive.cli import events_app
from gridsvc.auth.cli import users_app
from gridsvc.background import jobs_app
from gridsvc.calendar.cli import app as calendar_app
from gridsvc.cli_support import fail, run
from gridsvc.coverage.cli import map_coverage, roads_fetch, roads_import, squads_import
from gridsvc.database.embedded import EmbeddedCluster, EmbeddedClusterError
from gridsvc.database.migrate import pending as pending_migrations
from gridsvc.database.migrate import upgrade as upgrade_database
from gridsvc.database.pool import connect
from gridsvc.delegations.cli import app as delegations_app
from gridsvc.demo.cli import demo_app, demo_build
from gridsvc.duban.cli import duban_app
from gridsvc.geocode.cli import geocode_app
from gridsvc.grids.cli import grids_app
from gridsvc.inspections.cli import inspections_app
from gridsvc.jurisdictions.cli import jurisdictions_app
from gridsvc.maps.cli import map_app, map_grids
from gridsvc.matters.cli import app as matters_app
from gridsvc.observability.console import resolve_log_format
from gridsvc.observability.logs import LOG_FILE, configure_logging
from gridsvc.patrols.cli import patrols_app
from gridsvc.replay.cli import replay_command, workorders_app
from gridsvc.reports.cli import report_app
from gridsvc.roads.cli import roads_app
from gridsvc.serving import raise_file_limit, uvicorn_options
from gridsvc.settings import Settings, get_settings
from gridsvc.squads.cli import squads_app
from gridsvc.tiles.cli import tiles_app
from gridsvc.webhooks.cli import integrations_app

app = typer.Typer(
    help="gridsvc: grids, routing and dispatch for 综合行政执法.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: private cluster and migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(grids_app, name="grids")
app.add_typer(jurisdictions_app, name="jurisdictions")
app.add_typer(demo_app, name="demo")
app.add_typer(map_app, name="map")
app.add_typer(roads_app, name="roads")
app.add_typer(geocode_app, name="geocode")
app.add_typer(squads_app, name="squads")
app.add_typer(tiles_app, name="tiles")
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
app.add_typer(jobs_app, name="jobs")
app.add_typer(duban_app, name="duban")
app.add_typer(report_app, name="report")
app.add_typer(patrols_app, name="patrols")
app.add_typer(inspections_app, name="inspections")
app.add_typer(events_app, name="events")
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


# -- serving ------------------------------------------------------------------------


class LogFormat(StrEnum):
    auto = "auto"
    console = "console"
    json = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        help="console: a summary line a minute and warnings on stdout, JSON logs in the state "
        "folder (.gridsvc/logs); json: every JSON line on stdout; auto: console at a "
        "terminal, else json"
    ),
]


@app.command("serve")
def serve(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_format: LogFormatOption = LogFormat.auto
) -> None:
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
        "open-file limit %s (hard %s): at most %s client connections",
        soft,
        hard,
        options["limit_concurrency"],
    )
    if settings.log_console:
        typer.echo(
            f"serving http://{host}:{port}; every log line (JSON) goes to "
            f"{settings.log_dir / LOG_FILE}, here a summary a minute and any warning"
        )
    uvicorn.run(
        "gridsvc.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        **options,
    )


def _use_log_format(log_format: LogFormat, *, workers: int = 1) -> Settings:
    """Settle console or JSON logging for this process and uvicorn's workers (environment)."""
    if log_format != LogFormat.auto or "GRIDSVC_LOG_CONSOLE" not in os.environ:
        chosen = resolve_log_format(log_format.value, isatty=sys.stdout.isatty())
        os.environ["GRIDSVC_LOG_CONSOLE"] = "true" if chosen == "console" else "false"
    if workers > 1:
        os.environ["GRIDSVC_CONSOLE_SUMMARY"] = "false"  # N workers would print N lines
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(
        settings.log_level,
        json_lines=settings.log_json,
        console=settings.log_console,
        log_dir=settings.log_dir,
    )
    return settings


@app.command("up")
def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    rebuild: bool = False,
    replay_rate: Annotated[
        float, typer.Option(help="demo 12345 work orders per second posted in the background (0: none)")
    ] = 0.2,
    log_format: LogFormatOption = LogFormat.auto,
) -> None:
    """Everything for a first look: database, migrations, demo data (once), map, API, the
    operator's live map at /ops with a stream of demo work orders."""
    _use_log_format(log_format)
    db_up()
    db_upgrade()

    async def has_demo(_: Settings, url: str) -> bool:
        from gridsvc.demo.build import demo_is_loaded

        connection = await connect(url)
        try:
            return await demo_is_loaded(connection)
        finally:
            await connection.close()

    if rebuild or not run(has_demo):
        demo_build(pbf=None, boundaries=None)
    map_grids(out=Path("maps/grids.html"), cells=False, jurisdiction="LI")
    typer.echo(f"API on http://{host}:{port}  (docs: /docs, try /grids/lookup?lat=47.1410&lng=9.5209)")
    _live_demo(host, port, replay_rate)
    serve(host=host, port=port, workers=1, log_format=log_format)


def _live_demo(host: str, port: int, replay_rate: float) -> None:
    """Demo accounts (tokens printed) and, unless the rate is 0, the work-order feed."""
    from gridsvc.live.demo import DEMO_FEED, DEMO_GRID_HEAD, DEMO_OPERATOR, DemoFeed, demo_accounts

    tokens = run(lambda _s, url: demo_accounts(url))
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    typer.secho(f"operator live map: {base}/login?next=/ops", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  operator token ({DEMO_OPERATOR}): {tokens[DEMO_OPERATOR]}")
    typer.echo(f"  grid head LI-VADUZ-01 inbox ({DEMO_GRID_HEAD}, {base}/inbox): {tokens[DEMO_GRID_HEAD]}")
    if replay_rate > 0:
        url = run(lambda _s, url: _identity(url))
        DemoFeed(base_url=base, database_url=url, rate=replay_rate, token=tokens[DEMO_FEED]).start()
        typer.echo(f"  demo work orders: {replay_rate:g}/s in the background (--replay-rate 0 to stop them)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
