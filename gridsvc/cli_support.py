"""What every ``gridsvc`` sub-command shares: resolving the database, running one task, failing.

It lives below the sub-CLIs (it imports only core modules) so that ``gridsvc/cli.py`` can import
every sub-CLI to assemble them while no sub-CLI imports ``gridsvc.cli`` back.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import asyncpg
import typer
from tqdm import tqdm

from gridsvc.database.embedded import EmbeddedClusterError, resolve_database_url
from gridsvc.database.migrate import MigrationError
from gridsvc.settings import Settings, get_settings

T = TypeVar("T")

# Failures an operator can act on: printed in one line, exit code 2, no traceback. Every
# domain's import error (GridImportError, MatterImportError, ...) is a ValueError.
EXPECTED_ERRORS = (EmbeddedClusterError, MigrationError, OSError, ValueError, asyncpg.PostgresError)


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def echo(message: str) -> None:
    typer.echo(message)


def run(coroutine_factory: Callable[[Settings, str], Coroutine[Any, Any, T]]) -> T:
    """Resolve the database (starting the private cluster if needed) and run one task."""
    settings = get_settings()
    try:
        # Command-line tasks keep a session (migrations' advisory lock, imports, the job
        # worker's LISTEN): past a transaction-pooling PgBouncer they connect directly.
        url = settings.database_listen_url or resolve_database_url(settings)
        return asyncio.run(coroutine_factory(settings, url))
    except EXPECTED_ERRORS as error:
        fail(str(error))


def progress(total: int, description: str, unit: str) -> tqdm[Any]:
    """A progress bar on stderr, silent when stderr is not a terminal."""
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=None)
