"""Shared fixtures: a real PostGIS database built with the real migrations.

The database server is the one in GRIDSVC_DATABASE_URL, or gridsvc's own private cluster
(started on demand). Each test session works in a fresh database of its own, dropped at the
end, so tests never touch the demo data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.database.embedded import resolve_database_url
from gridsvc.database.pool import connect
from gridsvc.settings import PROJECT_ROOT, Settings
from tests.auth_support import bearer, disable_account, issue_token
from tests.roads_support import scratch_database

SHARED_GEODATA = Path(os.environ.get("GRIDSVC_SHARED_GEODATA", PROJECT_ROOT.parent / "shared" / "geodata"))


@pytest.fixture(scope="session")
def shared_geodata() -> Path:
    if not (SHARED_GEODATA / "osm" / "liechtenstein-latest.osm.pbf").exists():
        pytest.fail(f"real geodata not found in {SHARED_GEODATA}; set GRIDSVC_SHARED_GEODATA")
    return SHARED_GEODATA


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of a database on the server (configured, or the private cluster, started)."""
    return resolve_database_url(Settings())


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database with PostGIS and every migration applied."""
    async with scratch_database(server_url, "test") as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, shared_geodata: Path) -> Settings:
    # Background workers (outbox sender, SLA checker) run only in the tests that start an app
    # for them, so that those tests alone decide when deliveries and escalations happen.
    # The session's cases pile up on the demo squads: no squad is "full" unless a test about
    # load (tests/test_workload.py) sets its own limit. No reports.rollup job in the tests'
    # workers: tests seed events on days long past (a week of 1990 ...), which a rollup run
    # at the wrong moment would mark rolled up before they are seeded; the reports tests
    # build rollups themselves.
    return Settings(
        database_url=database_url,
        shared_geodata=shared_geodata,
        background_workers=False,
        dispatch_max_open_cases=100_000,
        report_rollups=False,
    )


@pytest.fixture(scope="session")
async def demo(settings: Settings, database_url: str) -> dict[str, Path]:
    """The demo jurisdiction (Liechtenstein + GCJ-02 counties), imported once per session."""
    from gridsvc.demo.build import build_demo

    return await build_demo(settings, database_url, echo=lambda _m: None)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def make_token(database_url: str) -> Callable[..., str]:
    """``make_token(role, **scope) -> token``: a new account of that role in the session
    database, e.g. ``make_token("grid_head", grid_codes=["LI-VADUZ-01"])``."""
    return lambda role, **scope: issue_token(database_url, role, **scope)


@pytest.fixture
def field_token(database_url: str) -> Iterator[Callable[..., str]]:
    """``field_token(role, **scope) -> token`` like ``make_token``, for accounts of a shared demo
    squad or grid: they are disabled when the test ends, so that no later test finds an extra
    recipient (a notice, a 督办) of its own squad or grid."""
    names: list[str] = []

    def make(role: str, **scope: object) -> str:
        names.append(f"test-{role}-{uuid.uuid4().hex[:8]}")
        return issue_token(database_url, role, name=names[-1], **scope)

    yield make
    for name in names:
        disable_account(database_url, name)


@pytest.fixture
async def rollback(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The test's connection inside a transaction that is rolled back afterwards."""
    transaction = db.transaction()
    await transaction.start()
    try:
        yield db
    finally:
        await transaction.rollback()


@pytest.fixture(scope="session")
def client(settings: Settings, demo: dict[str, Path]) -> Iterator[TestClient]:
    """The real ASGI app (lifespan and all) over the session database with the demo loaded,
    calling as an admin (``Authorization: Bearer`` of a session admin account)."""
    assert settings.database_url is not None
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(bearer(settings.database_url, "admin"))
        yield test_client
