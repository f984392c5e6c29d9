"""D4: a database outage answers 503 with Retry-After, and the app recovers by itself.

The test runs a throwaway PostgreSQL cluster of its own (temporary folder, own port; the
shared cluster is never touched), serves the real app against it with uvicorn, stops the
cluster the way a crash looks to clients (``pg_ctl stop -m immediate``), and starts it again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from gridsvc.app import create_app
from gridsvc.database.embedded import EmbeddedCluster
from gridsvc.database.errors import RETRY_AFTER_S, is_unavailable
from gridsvc.database.migrate import upgrade
from gridsvc.database.pool import connect, create_pool
from gridsvc.settings import Settings
from gridsvc.webhooks.service import save_integration
from gridsvc.webhooks.signing import signed_headers
from tests.auth_support import bearer
from tests.events_support import AppServer, free_port


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    base = Path(tempfile.mkdtemp(prefix="gridsvc-outage-"))
    base.chmod(0o755)  # the cluster runs as an unprivileged OS user when we are root
    own = EmbeddedCluster(
        base_dir=base,
        configured_port=free_port(),
        os_user=os.environ.get("GRIDSVC_EMBEDDED_OS_USER", "gridsvc"),
    )
    try:
        own.up()
        yield own
    finally:
        own.down(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
async def integration(cluster: EmbeddedCluster) -> dict[str, Any]:
    connection = await connect(cluster.url())
    try:
        await upgrade(connection)
        return await save_integration(connection, name=f"outage-{uuid.uuid4().hex[:6]}", callback_url=None)
    finally:
        await connection.close()


def _order(integration: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"work_order_no": f"OUT{uuid.uuid4().hex[:10]}", "title": "停库测试", "address": "瓦杜兹"},
        ensure_ascii=False,
    ).encode()
    return body, signed_headers(integration["secret"], body, integration=integration["name"])


def _until(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)  # polling a condition, not ordering by time


def test_outage_answers_503_with_retry_after_then_recovers(
    cluster: EmbeddedCluster, integration: dict[str, Any]
) -> None:
    own = Settings(database_url=cluster.url(), background_workers=False)
    auth = bearer(cluster.url())
    with (
        AppServer(create_app(own), free_port()) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get("/events", headers=auth).status_code == 200
        body, headers = _order(integration)
        assert client.post("/webhooks/12345", content=body, headers=headers).status_code == 201

        cluster.down(mode="immediate")
        answers = []
        for _ in range(3):  # a stale pooled connection first, then refused reconnects
            answers.append(client.get("/events", headers=auth))
            body, headers = _order(integration)
            answers.append(client.post("/webhooks/12345", content=body, headers=headers))
        for answer in answers:
            assert answer.status_code == 503, (answer.request.url, answer.text)
            assert answer.headers["retry-after"] == str(RETRY_AFTER_S)
            assert answer.json()["error"] == "database_unavailable"

        cluster.up()
        assert _until(lambda: client.get("/events", headers=auth).status_code == 200)
        body, headers = _order(integration)
        created = client.post("/webhooks/12345", content=body, headers=headers)
        assert created.status_code == 201, created.text
        assert client.get(f"/events/{created.json()['id']}", headers=auth).status_code == 200


async def test_too_many_connections_is_unavailable_but_a_conflict_is_not(
    cluster: EmbeddedCluster, integration: dict[str, Any]
) -> None:
    """The translator judges the driver's real errors: 53300 is an outage, 23505 is not."""
    admin = await connect(cluster.url())
    role, password = f"limited_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    # A role, not a database, limit: the cluster's owner (a superuser) ignores database limits.
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' CONNECTION LIMIT 1")
    try:
        own = urlsplit(cluster.url())
        url = urlunsplit(own._replace(netloc=f"{role}:{password}@{own.hostname}:{own.port}"))
        first = await asyncpg.connect(url)
        with pytest.raises(asyncpg.TooManyConnectionsError) as refused:
            await asyncpg.connect(url)
        assert is_unavailable(refused.value)
        await first.close()
        with pytest.raises(asyncpg.UniqueViolationError) as duplicate:
            await admin.execute(
                "INSERT INTO integrations (name, secret) VALUES ($1, 'x')", integration["name"]
            )
        assert not is_unavailable(duplicate.value)
        assert not is_unavailable(FileNotFoundError(2, "no such file"))
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_a_closed_pool_and_an_acquire_timeout_are_unavailable(cluster: EmbeddedCluster) -> None:
    """What a route meets while the app's pool is exhausted or shutting down."""
    pool = await create_pool(cluster.url(), min_size=1, max_size=1)
    held = await pool.acquire()
    with pytest.raises(TimeoutError) as waited:
        await pool.acquire(timeout=0.2)
    assert is_unavailable(waited.value)
    await pool.release(held)
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError) as closed:
        await pool.acquire()
    assert is_unavailable(closed.value)
