"""``gridsvc integrations ...``: hotline integrations, their secrets and callback URLs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from gridsvc.database.embedded import resolve_database_url
from gridsvc.database.pool import connect
from gridsvc.settings import get_settings
from gridsvc.webhooks import service

integrations_app = typer.Typer(help="12345 hotline integrations.", no_args_is_help=True)


async def _with_connection(function: Any, **kwargs: Any) -> Any:
    connection = await connect(resolve_database_url(get_settings()))
    try:
        return await function(connection, **kwargs)
    finally:
        await connection.close()


@integrations_app.command("add")
def add(
    name: str,
    callback_url: Annotated[str | None, typer.Option(help="where feedback is POSTed")] = None,
    rotate_secret: Annotated[bool, typer.Option(help="issue a new secret")] = False,
) -> None:
    """Create an integration (prints its secret) or change its callback URL."""
    row = asyncio.run(
        _with_connection(
            service.save_integration, name=name, callback_url=callback_url, rotate_secret=rotate_secret
        )
    )
    typer.echo(f"integration {row['name']} (id {row['id']}): callback {row['callback_url'] or '-'}")
    typer.echo(f"secret: {row['secret']}")


@integrations_app.command("list")
def list_all() -> None:
    for row in asyncio.run(_with_connection(service.list_integrations)):
        typer.echo(
            f"{row['name']:<20} {'active' if row['active'] else 'inactive':<9} {row['callback_url'] or '-'}"
        )


@integrations_app.command("deactivate")
def deactivate(name: str) -> None:
    if not asyncio.run(_with_connection(service.deactivate, name=name)):
        typer.secho(f"error: no integration {name!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(f"{name} deactivated")
