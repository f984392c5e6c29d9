"""A scratch database of a test module's own (real migrations), for road/squad scenarios
that must not touch the session's demo data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from gridsvc.database.migrate import upgrade
from gridsvc.database.pool import connect


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    name = f"gridsvc_{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')  # name is ours, not user input
    url = f"{server_url.rpartition('/')[0]}/{name}"
    try:
        connection = await connect(url)
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(connection)
        finally:
            await connection.close()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
