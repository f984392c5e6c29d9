"""A scratch database of a test module's own (real migrations), for road/squad scenarios
that must not touch the session's demo data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gridsvc.database.migrate import upgrade
from gridsvc.database.pool import connect
from gridsvc.settings import Settings


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


def own_database_fixtures(prefix: str) -> tuple[Any, Any, Any]:
    """``own_database, own_settings, own_db = own_database_fixtures("roads")`` at a test
    module's top: a scratch database for the module, settings on it (with a road cache of its
    own) and a connection per test."""

    @pytest.fixture(scope="module")
    async def own_database(server_url: str) -> AsyncIterator[str]:
        async with scratch_database(server_url, prefix) as url:
            yield url

    @pytest.fixture(scope="module")
    def own_settings(
        own_database: str, shared_geodata: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Settings:
        return Settings(
            database_url=own_database,
            shared_geodata=shared_geodata,
            road_cache_dir=tmp_path_factory.mktemp("road-cache"),
        )

    @pytest.fixture
    async def own_db(own_database: str) -> AsyncIterator[asyncpg.Connection]:
        connection = await connect(own_database)
        try:
            yield connection
        finally:
            await connection.close()

    return own_database, own_settings, own_db
