"""The job queue (pgqueuer): its schema from the migrations, jobs enqueued in the transaction
of the change (rolled back with it), and the ``gridsvc jobs`` commands."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pgqueuer import Queries, QueueManager
from typer.testing import CliRunner

from gridsvc.cli import app as cli_app
from gridsvc.outbox.service import enqueue_feedback
from gridsvc.settings import PROJECT_ROOT, get_settings
from gridsvc.webhooks.service import save_integration
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for

pytestmark = pytest.mark.usefixtures("demo")

JOBS_OF = (
    "SELECT id, convert_from(payload, 'UTF8')::jsonb AS payload FROM pgqueuer "
    "WHERE entrypoint = 'callbacks.deliver' "
    "AND (convert_from(payload, 'UTF8')::jsonb ->> 'id')::bigint = $1"
)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


async def invoke(cli: CliRunner, args: list[str]) -> Any:
    # The command runs its own event loop (asyncio.run): give it a thread of its own.
    return await asyncio.to_thread(cli.invoke, cli_app, args)


async def _hotline_event(db: asyncpg.Connection, client: Any) -> tuple[dict[str, Any], int]:
    """A new integration (its receiver not running yet) and one of its work orders."""
    name = f"hotline-jobs-{uuid.uuid4().hex[:6]}"
    integration = await save_integration(
        db, name=name, callback_url=f"http://127.0.0.1:{free_port()}/callbacks"
    )
    matter = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' ORDER BY code LIMIT 1"
    )
    spot = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 50)))"
        ".geom AS p FROM current_grids WHERE layer = 'enforcement' AND code = 'LI-SCHAAN') s "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE ST_DWithin(e.geom::geography, "
        "s.p::geography, 250)) LIMIT 1"
    )
    order = {
        "work_order_no": f"JB{uuid.uuid4().hex[:10]}",
        "title": "任务队列测试",
        "matter_code": matter,
        "location": {"lat": spot["lat"], "lng": spot["lng"]},
    }
    response = post_order(client, integration["secret"], order, integration=name)
    assert response.status_code == 201, response.text
    return integration, int(response.json()["id"])


async def test_the_migrations_install_pgqueuer_as_the_installed_version_wants_it(db):
    queries = Queries.from_asyncpg_connection(db)
    await QueueManager(queries).verify_structure()  # what a worker checks before it starts
    plan = await queries.plan_upgrade()
    assert list(plan.statements) == [], plan.statements  # nothing for `pgq upgrade` to do


async def test_a_callback_and_its_job_commit_or_roll_back_with_the_change(db, client):
    integration, event_id = await _hotline_event(db, client)
    args = {
        "event_id": event_id,
        "integration_id": integration["id"],
        "kind": "signed_for",
        "payload": {"status": "signed_for", "event_id": event_id},
    }
    transaction = db.transaction()
    await transaction.start()
    message_id = await enqueue_feedback(db, idempotency_key=f"jobs-{uuid.uuid4()}", **args)
    assert message_id is not None and len(await db.fetch(JOBS_OF, message_id)) == 1
    await transaction.rollback()
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE id = $1", message_id) == 0
    assert await db.fetch(JOBS_OF, message_id) == []  # rolled back: no job either

    key = f"jobs-{uuid.uuid4()}"
    async with db.transaction():
        message_id = await enqueue_feedback(db, idempotency_key=key, **args)
        # the same key again (a retried request, say): no second message, no second job
        assert await enqueue_feedback(db, idempotency_key=key, **args) is None
    jobs = await db.fetch(JOBS_OF, message_id)
    assert [json.loads(j["payload"]) if isinstance(j["payload"], str) else j["payload"] for j in jobs] == [
        {"id": message_id}
    ]
    await db.execute("DELETE FROM pgqueuer WHERE id = $1", jobs[0]["id"])


async def test_a_lifecycle_action_queues_its_callback_job_in_its_transaction(db, client):
    _, event_id = await _hotline_event(db, client)
    for action in ("dispatch", "sign_for"):
        assert client.post(f"/events/{event_id}/actions/{action}", json={}).status_code == 200
    message_id = await db.fetchval("SELECT id FROM outbox WHERE event_id = $1", event_id)
    assert len(await db.fetch(JOBS_OF, message_id)) == 1
    await db.execute(
        "DELETE FROM pgqueuer WHERE entrypoint = 'callbacks.deliver' AND "
        "(convert_from(payload, 'UTF8')::jsonb ->> 'id')::bigint = $1",
        message_id,
    )


async def test_jobs_status_retry_and_work(cli: CliRunner, db, client, database_url: str, tmp_path: Path):
    integration, event_id = await _hotline_event(db, client)
    for action in ("dispatch", "sign_for"):
        assert client.post(f"/events/{event_id}/actions/{action}", json={}).status_code == 200
    message_id = await db.fetchval("SELECT id FROM outbox WHERE event_id = $1", event_id)

    result = await invoke(cli, ["jobs", "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    callbacks = next(j for j in report["jobs"] if j["entrypoint"] == "callbacks.deliver")
    assert callbacks["queued"] >= 1
    assert report["messages"]["callbacks"]["pending"] >= 1
    table = await invoke(cli, ["jobs", "status"])
    assert table.exit_code == 0 and "callbacks.deliver" in table.output

    # retry: only a dead message; it is pending again with its job queued
    assert (await invoke(cli, ["jobs", "retry", str(message_id)])).exit_code == 2
    await db.execute(
        "DELETE FROM pgqueuer WHERE entrypoint = 'callbacks.deliver' AND "
        "(convert_from(payload, 'UTF8')::jsonb ->> 'id')::bigint = $1",
        message_id,
    )
    await db.execute("UPDATE outbox SET status = 'dead', attempts = 12 WHERE id = $1", message_id)
    result = await invoke(cli, ["jobs", "retry", str(message_id)])
    assert result.exit_code == 0, result.output
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", message_id) == "pending"
    assert len(await db.fetch(JOBS_OF, message_id)) == 1

    # `gridsvc jobs work`, a process of its own, delivers it; SIGTERM stops it cleanly.
    port = int(integration["callback_url"].rsplit(":", 1)[1].split("/")[0])
    receiver = CallbackReceiver(port, integration["secret"])
    receiver.start()
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from gridsvc.cli import main; main()",
            "jobs",
            "work",
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "GRIDSVC_DATABASE_URL": database_url,
                "GRIDSVC_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(PROJECT_ROOT),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        got = await asyncio.to_thread(
            wait_for,
            lambda: [r for r in receiver.received if r["payload"]["event_id"] == event_id],
            timeout=30,
        )
        assert [r["payload"]["status"] for r in got] == ["signed_for"]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), timeout=45) == 0, log.read_text()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        receiver.stop()
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", message_id) == "delivered"
