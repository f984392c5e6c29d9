"""``gridsvc duban ...``: who 督办 reaches (township leaders, county supervisors), the levels
per matter and stage, and a check run by hand."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import typer

from gridsvc.auth import service as auth
from gridsvc.cli_support import fail, run
from gridsvc.database.pool import connect
from gridsvc.duban import flows, service
from gridsvc.duban.models import AUDIENCES, Level
from gridsvc.settings import Settings

duban_app = typer.Typer(help="督办: leaders it reaches, levels per matter and stage.", no_args_is_help=True)
leaders_app = typer.Typer(help="Township leaders and county supervisors (role leader).", no_args_is_help=True)
levels_app = typer.Typer(help="督办 levels per matter and stage.", no_args_is_help=True)
duban_app.add_typer(leaders_app, name="leaders")
duban_app.add_typer(levels_app, name="levels")


def _with_connection(task: Any) -> Any:
    async def main(_: Settings, url: str) -> Any:
        connection = await connect(url)
        try:
            return await task(connection)
        finally:
            await connection.close()

    try:
        return run(main)
    except (service.DubanInvalid, auth.UserError) as error:
        fail(str(error))


@leaders_app.command("add")
def add_leader(
    name: str,
    township: Annotated[
        list[str] | None,
        typer.Option(help="a township leader: the township's enforcement grid code (repeat for several)"),
    ] = None,
    county: Annotated[bool, typer.Option("--county", help="a county supervisor (every township)")] = False,
    webhook_url: Annotated[
        str | None, typer.Option(help="where this leader's 督办 notices are forwarded")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="name shown on pages, e.g. 张副镇长")] = None,
) -> None:
    """Create a leader account (role leader) with its reach; prints its first token once.
    An existing leader account gets the new reach (no new token)."""
    if county == bool(township):
        fail("give either --township CODE (a township leader) or --county (a county supervisor)")

    async def task(connection: asyncpg.Connection) -> str | None:
        async with connection.transaction():
            token = None
            if await auth.get_user(connection, name=name) is None:
                await auth.create_user(
                    connection, name=name, role="leader", webhook_url=webhook_url, display_name=display_name
                )
                token = await auth.issue_token(connection, user_name=name)
            await service.set_leader(
                connection, name=name, reach="county" if county else "township", township_codes=township or []
            )
            return token

    token = _with_connection(task)
    reach = "county supervisor" if county else f"township leader of {', '.join(township or [])}"
    typer.echo(f"leader {name}: {reach}")
    if token:
        typer.echo(f"token: {token}")
        typer.echo("keep it now: it is not stored and cannot be shown again")


@leaders_app.command("list")
def list_leaders() -> None:
    """Leaders, their reach and webhook."""
    for row in _with_connection(service.leaders):
        reach = "county" if row["reach"] == "county" else "township " + ",".join(row["township_codes"])
        state = " DISABLED" if row["disabled"] else ""
        hook = row["webhook_url"] or "(no webhook: inbox only)"
        typer.echo(f"{row['name']:<24} {reach:<30} {hook}{state}")


@levels_app.command("set")
def set_levels(
    level: Annotated[
        list[str],
        typer.Argument(help="FACTOR:AUDIENCE per level, in order, e.g. 1:unit 1.5:township 2:county"),
    ],
    matter: Annotated[str, typer.Option(help="matter code ('*': any)")] = "*",
    stage: Annotated[
        str, typer.Option(help="stage: route, dispatch, sign_for, arrive, handle, verify, close, '*'")
    ] = "*",
) -> None:
    """Set the levels of a matter's stage (replaces that set)."""
    levels = []
    for number, text in enumerate(level, start=1):
        factor, _, audience = text.partition(":")
        try:
            value = float(factor)
        except ValueError:
            fail(f"level {number}: {factor!r} is not a number (FACTOR:AUDIENCE)")
        if audience not in AUDIENCES:
            fail(f"level {number}: audience {audience!r} is not one of {', '.join(AUDIENCES)}")
        levels.append(Level(level=number, factor=value, audience=audience))
    _with_connection(lambda c: service.set_levels(c, matter_code=matter, stage=stage, levels=levels))
    typer.echo(f"督办 levels of matter {matter}, stage {stage}: " + ", ".join(level))


@levels_app.command("clear")
def clear_levels(
    matter: Annotated[str, typer.Option(help="matter code ('*': any)")] = "*",
    stage: Annotated[str, typer.Option(help="stage ('*': any)")] = "*",
) -> None:
    """Remove a configured set (the next more general one applies again)."""
    _with_connection(lambda c: service.set_levels(c, matter_code=matter, stage=stage, levels=[]))
    typer.echo(f"督办 levels of matter {matter}, stage {stage}: removed")


@levels_app.command("list")
def list_levels() -> None:
    """The default (GRIDSVC_DUBAN_LEVELS) and every configured set."""
    from gridsvc.settings import get_settings

    typer.echo(f"default: {get_settings().duban_levels}")
    for found in _with_connection(service.configured_levels):
        parts = ", ".join(f"{lv.factor:g}:{lv.audience}" for lv in found.levels)
        typer.echo(f"matter {found.matter_code:<12} stage {found.stage:<9} {parts}")


@duban_app.command("check")
def check(event: Annotated[int | None, typer.Option(help="only this event")] = None) -> None:
    """Raise the 督办 levels due now (what the sla.escalate job does every interval)."""

    async def main(settings: Settings, url: str) -> int:
        connection = await connect(url)
        try:
            return await flows.escalate(connection, default_levels=settings.duban_levels, event_id=event)
        finally:
            await connection.close()

    typer.echo(f"督办 raised: {run(main)}")
