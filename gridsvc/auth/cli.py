"""``gridsvc users ...``: accounts and their tokens.

A token is printed once, when issued; only its hash is stored. ``users list`` shows each
token's prefix (e.g. ``gs_Ab3x9``), which ``users revoke`` accepts as well as the id.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import asyncpg
import typer

from gridsvc.auth import service
from gridsvc.database.embedded import resolve_database_url
from gridsvc.database.pool import connect
from gridsvc.settings import get_settings

users_app = typer.Typer(
    help="Accounts and access tokens (roles: admin, operator, grid_head, squad, integration, department).",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _run(task: Any) -> Any:
    """Run ``task(connection)`` against the configured database; known failures exit 2."""

    async def main() -> Any:
        connection = await connect(resolve_database_url(get_settings()))
        try:
            return await task(connection)
        finally:
            await connection.close()

    try:
        return asyncio.run(main())
    except (service.UserError, service.UserNotFound) as error:
        _fail(str(error))
    except asyncpg.UniqueViolationError as error:
        _fail(error.detail or str(error))


@users_app.command("add")
def add(
    name: str,
    role: Annotated[
        str, typer.Option(help="admin | operator | grid_head | squad | integration | department")
    ],
    grid: Annotated[
        list[str] | None, typer.Option(help="grid_head: a community grid code (repeat for several)")
    ] = None,
    squad: Annotated[str | None, typer.Option(help="squad: the squad's code")] = None,
    integration: Annotated[str | None, typer.Option(help="integration: its name")] = None,
    department: Annotated[
        str | None, typer.Option(help="department: the county department's code, e.g. forestry")
    ] = None,
    station: Annotated[
        list[str] | None,
        typer.Option(
            help="department (optional): only this station's area, a grid code of layer "
            "specialist:<department> (repeat for several)"
        ),
    ] = None,
    township: Annotated[
        list[str] | None,
        typer.Option(help="department (optional): only this township, an enforcement grid code (repeat)"),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="optional: where this recipient's notices are forwarded")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="name shown on pages")] = None,
    label: Annotated[str | None, typer.Option(help="label of the first token")] = None,
) -> None:
    """Create an account and print its first token (shown once)."""

    async def task(connection: asyncpg.Connection) -> tuple[dict[str, Any], str]:
        async with connection.transaction():
            user = await service.create_user(
                connection,
                name=name,
                role=role,
                grid_codes=grid or (),
                squad_code=squad,
                integration=integration,
                webhook_url=webhook_url,
                display_name=display_name,
                department_code=department,
                station_codes=station or (),
                township_codes=township or (),
            )
            return user, await service.issue_token(connection, user_name=name, label=label)

    user, token = _run(task)
    typer.echo(f"user {user['name']} (id {user['id']}, {user['role']}{_scope(user)})")
    typer.echo(f"token: {token}")
    typer.echo("keep it now: it is not stored and cannot be shown again")


@users_app.command("token")
def token(name: str, label: Annotated[str | None, typer.Option(help="what the token is for")] = None) -> None:
    """Issue another token for an account (printed once)."""
    issued = _run(lambda c: service.issue_token_row(c, user_name=name, label=label))
    typer.echo(f"token {issued['id']} for {name}: {issued['token']}")


@users_app.command("revoke")
def revoke(
    token_id_or_prefix: Annotated[
        str,
        typer.Argument(
            metavar="TOKEN_ID_OR_PREFIX", help="the id, the prefix from `users list`, or the token"
        ),
    ],
) -> None:
    """Revoke a token (refused within 5 s by every running process)."""
    row = _run(lambda c: service.revoke_token(c, token=token_id_or_prefix))
    if row is None:
        _fail(f"no live token {token_id_or_prefix!r}")
    typer.echo(
        f"token {row['id']} ({row['token_prefix']}…, {row['user']}) revoked at "
        f"{row['revoked_at']:%Y-%m-%d %H:%M:%S %Z}"
    )


@users_app.command("list")
def list_users() -> None:
    """Accounts, their scope and their tokens."""
    for user in _run(service.list_users):
        state = " DISABLED" if user["disabled"] else ""
        typer.echo(f"{user['name']:<24} {user['role']:<12}{_scope(user)}{state}")
        for item in user["tokens"]:
            status = (
                f"revoked {item['revoked_at']:%Y-%m-%d}"
                if item["revoked_at"]
                else f"last used {item['last_used_at']:%Y-%m-%d %H:%M}"
                if item["last_used_at"]
                else "never used"
            )
            typer.echo(
                f"    token {item['id']:<5} {item['token_prefix']}…  {item['label'] or '-':<20} {status}"
            )


@users_app.command("disable")
def disable(
    name: str, enable: Annotated[bool, typer.Option(help="enable the account again")] = False
) -> None:
    """Disable an account: all its tokens stop working (within 5 s)."""
    _run(lambda c: service.set_disabled(c, name=name, disabled=not enable))
    typer.echo(f"{name} {'enabled' if enable else 'disabled'}")


def _scope(user: dict[str, Any]) -> str:
    if user["grid_codes"]:
        return f" grids {','.join(user['grid_codes'])}"
    if user["squad_code"]:
        return f" squad {user['squad_code']}"
    if user["integration"]:
        return f" integration {user['integration']}"
    if user.get("department_code"):
        areas = [*user.get("station_codes", ()), *user.get("township_codes", ())]
        return f" department {user['department_code']}" + (f" ({','.join(areas)})" if areas else "")
    return ""
