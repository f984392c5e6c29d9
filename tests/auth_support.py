"""Tokens for tests: accounts made through the real auth service in a test database."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gridsvc.auth import service as auth
from gridsvc.database.pool import connect


def issue_token(database_url: str, role: str = "admin", *, name: str | None = None, **scope: Any) -> str:
    """Create an account of ``role`` (``scope``: grid_codes, squad_code, integration, ...) in
    that database, through the real auth service, and return a fresh token for it.

    Usable from sync and async tests alike: it runs on its own event loop in a thread.
    """
    name = name or f"test-{role}-{uuid.uuid4().hex[:8]}"

    async def task() -> str:
        connection = await connect(database_url)
        try:
            if await auth.get_user(connection, name=name) is None:
                await auth.create_user(connection, name=name, role=role, **scope)
            return await auth.issue_token(connection, user_name=name)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, task()).result()


def bearer(database_url: str, role: str = "admin", **scope: Any) -> dict[str, str]:
    """An Authorization header for a new account of ``role`` (for apps a test starts itself:
    ``client.headers.update(bearer(settings.database_url))``)."""
    return {"Authorization": f"Bearer {issue_token(database_url, role, **scope)}"}


def disable_account(database_url: str, name: str) -> None:
    """Disable an account (its tokens stop working), through the real auth service."""

    async def task() -> None:
        connection = await connect(database_url)
        try:
            await auth.set_disabled(connection, name=name)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, task()).result()
