"""The job worker: every background task of gridsvc runs as a pgqueuer job.

=====================  ===============================================================
``callbacks.deliver``  one 12345 callback (outbox row), signed, once per destination
``notices.deliver``    one recipient notice (recipient_notices row), signed
``notices.fanout``     a dispatch/transfer -> one notice per recipient who sees it
``sla.escalate``       schedule: raise 督办 levels for stages past their deadline
``deliveries.sweep``   schedule: start the next due message of idle destinations
``reports.rollup``     schedule: daily rollups of the leaders' figures (finished days,
                       days touched by changes since the last run)
=====================  ===============================================================

The app runs a worker in-process when ``GRIDSVC_BACKGROUND_WORKERS`` is true; ``gridsvc jobs
work`` runs one on its own (any number of either share the work: pgqueuer claims jobs with
``FOR UPDATE SKIP LOCKED`` and runs each schedule in one process at a time).

The worker has a small pool of its own (``GRIDSVC_JOBS_POOL_SIZE``), so a backlog of jobs never
takes the connections the API answers with, and runs at most ``GRIDSVC_JOBS_MAX_TASKS`` jobs at
once (a try waiting on a slow receiver holds no connection). pgqueuer keeps one LISTEN
connection of that pool (channel ``ch_pgqueuer``, fed by a trigger
on its queue table) besides the process's own listener; the worker restarts with backoff
when that connection or the database goes away, and polls every ``GRIDSVC_JOBS_POLL_S``
seconds meanwhile, so a missed NOTIFY delays a job by that much at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
import httpx
import typer
from pgqueuer import DatabaseRetryEntrypointExecutor, PgQueuer
from pgqueuer.executors import EntrypointExecutorParameters
from pgqueuer.models import Job, Schedule

from gridsvc.auth.scope import event_visible, summoned
from gridsvc.cli_support import fail, run
from gridsvc.clock import SYSTEM
from gridsvc.database.pool import connect, create_pool
from gridsvc.duban.flows import escalate as escalate_duban
from gridsvc.jobs import delivery, queue
from gridsvc.live import notices
from gridsvc.live.api import principal_of_user
from gridsvc.outbox import service as outbox
from gridsvc.reports import service as reports
from gridsvc.settings import Settings, get_settings
from gridsvc.webhooks.signing import post_signed

log = logging.getLogger("gridsvc.background")


def every(seconds: float) -> str:
    """A cron expression (croniter, seconds as a sixth field) for "every ``seconds``"."""
    whole = max(int(seconds), 1)
    if whole < 60:
        return f"* * * * * */{whole}"
    return f"*/{max(whole // 60, 1)} * * * *"


def _retrying(parameters: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
    # A handler that fails for another reason than its receiver (the database restarting,
    # say) is run again with backoff instead of being dropped.
    return DatabaseRetryEntrypointExecutor(parameters=parameters, max_attempts=8)


class JobWorker:
    """pgqueuer's queue and schedule managers on a pool of their own, restarted after a
    failure."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self._pool_or_none: asyncpg.Pool | None = None
        self._settings = settings
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._current: PgQueuer | None = None
        self._stopping = False
        self._policy = delivery.Policy(
            max_attempts=settings.outbox_max_attempts,
            backoff_max_s=settings.outbox_backoff_max_s,
            lease_s=settings.callback_timeout_s + 5.0,
        )

    @property
    def _pool(self) -> asyncpg.Pool:
        assert self._pool_or_none is not None, "start() the worker first"
        return self._pool_or_none

    async def start(self) -> None:
        # pgqueuer's LISTEN connection + at least one for the jobs
        self._pool_or_none = await create_pool(
            self._url, min_size=1, max_size=max(self._settings.jobs_pool_size, 2)
        )
        self._client = httpx.AsyncClient(timeout=self._settings.callback_timeout_s)
        self._task = asyncio.create_task(self._supervise(), name="gridsvc jobs")

    async def stop(self) -> None:
        self._stopping = True
        if self._current is not None:
            self._current.shutdown.set()
        if self._task is not None:
            try:
                # Running tries finish (each is bounded by the callback timeout) ...
                await asyncio.wait_for(
                    asyncio.shield(self._task), timeout=self._settings.callback_timeout_s + 2
                )
            except TimeoutError:
                # ... or are cut short: their lease runs out and another worker retries.
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._client is not None:
            await self._client.aclose()
        if self._pool_or_none is not None:
            await self._pool_or_none.close()

    async def _supervise(self) -> None:
        wait = 0.5
        while not self._stopping:
            pgq = self._current = self._build()
            watchdog = asyncio.create_task(self._watch(pgq))
            try:
                await pgq.run(
                    dequeue_timeout=timedelta(seconds=self._settings.jobs_poll_s),
                    batch_size=10,
                    max_concurrent_tasks=max(self._settings.jobs_max_tasks, 20),
                )
                wait = 0.5
            except Exception as error:  # whatever broke, the worker must come back
                log.error("job worker stopped: %s; restarting in %.1f s", error, wait)
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if self._stopping:
                break
            await asyncio.sleep(wait)  # backoff between restarts
            wait = min(wait * 2, 30.0)

    async def _watch(self, pgq: PgQueuer) -> None:
        """Restart the worker when its LISTEN connection is gone (a database restart, a
        terminated backend): jobs would then wait for the poll instead of being woken.
        pgqueuer's own probe may run before its LISTEN is set up, so this one waits a poll
        interval first, then round-trips a NOTIFY every poll interval."""
        interval = max(self._settings.jobs_poll_s, 1.0)
        while not pgq.shutdown.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pgq.shutdown.wait(), timeout=interval)
            if pgq.shutdown.is_set():
                return
            try:
                await pgq.qm.listener_healthy(timeout=timedelta(seconds=10))
            except Exception as error:
                log.warning("job worker: no answer on its LISTEN connection (%r); restarting", error)
                pgq.shutdown.set()
                return

    def _build(self) -> PgQueuer:
        pgq = PgQueuer.from_asyncpg_pool(self._pool)
        pool, policy, settings = self._pool, self._policy, self._settings

        @pgq.entrypoint(outbox.OUTBOX.entrypoint, executor_factory=_retrying)
        async def deliver_callback(job: Job) -> None:
            await delivery.deliver(
                pool,
                outbox.OUTBOX,
                queue.payload_of(job)["id"],
                job_id=int(job.id),
                load=outbox.load,
                send=self._send_callback,
                policy=policy,
            )

        @pgq.entrypoint(notices.NOTICES.entrypoint, executor_factory=_retrying)
        async def deliver_notice(job: Job) -> None:
            await delivery.deliver(
                pool,
                notices.NOTICES,
                queue.payload_of(job)["id"],
                job_id=int(job.id),
                load=notices.load,
                send=self._send_notice,
                policy=policy,
            )

        @pgq.entrypoint(notices.FANOUT, executor_factory=_retrying)
        async def fan_out(job: Job) -> None:
            async with pool.acquire() as connection:
                await notices.fan_out(
                    connection,
                    transition_id=queue.payload_of(job)["transition_id"],
                    principal_of=principal_of_user,
                    visible=event_visible,
                    summoned=summoned,
                )

        @pgq.schedule("sla.escalate", every(settings.sla_check_interval_s))
        async def escalate(_: Schedule) -> None:
            async with pool.acquire() as connection:
                raised = await escalate_duban(connection, default_levels=settings.duban_levels)
            if raised:
                log.info("督办: %d levels raised on overdue stages", raised)

        @pgq.schedule("deliveries.sweep", every(settings.jobs_sweep_s))
        async def sweep(_: Schedule) -> None:
            async with pool.acquire() as connection:
                for box in (outbox.OUTBOX, notices.NOTICES):
                    await delivery.sweep(connection, box)

        if settings.report_rollups:

            @pgq.schedule("reports.rollup", every(settings.report_rollup_interval_s))
            async def rollup(_: Schedule) -> None:
                async with pool.acquire() as connection:
                    days = await reports.refresh(
                        connection, now=SYSTEM.now(), sign_for_minutes=settings.sla_sign_for_minutes
                    )
                if days:
                    log.info("reports: rolled up %d days (%s .. %s)", len(days), days[0], days[-1])

        return pgq

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "start() the worker first"
        return self._client

    async def _send_callback(self, row: Mapping[str, Any]) -> str | None:
        if not row["callback_url"]:
            return f"integration {row['integration']} has no callback URL"
        return await post_signed(
            self.client,
            row["callback_url"],
            secret=row["secret"],
            payload=row["payload"],
            idempotency_key=row["idempotency_key"],
            headers={"X-Integration": row["integration"]},
        )

    async def _send_notice(self, row: Mapping[str, Any]) -> str | None:
        return await post_signed(
            self.client,
            row["url"],
            secret=row["secret"],
            payload=row["payload"],
            idempotency_key=row["idempotency_key"],
            headers={"X-Recipient": row["recipient"]},
        )


# ``gridsvc jobs ...``
jobs_app = typer.Typer(help="Background jobs (pgqueuer): the worker and its queues.", no_args_is_help=True)


@jobs_app.command("work")
def work() -> None:
    """Run a job worker until Ctrl-C / SIGTERM (callbacks, notices, SLA checks)."""
    from gridsvc.observability.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)

    async def main(settings: Settings, url: str) -> None:
        worker = JobWorker(url, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.start()
        typer.echo("job worker running (Ctrl-C stops it)")
        try:
            await stop.wait()
        finally:
            await worker.stop()

    run(main)


async def status_report(connection: asyncpg.Connection) -> dict[str, Any]:
    """Jobs per queue and state, and the delivery records behind them."""
    records = {}
    for name, box in (("callbacks", outbox.OUTBOX), ("notices", notices.NOTICES)):
        records[name] = dict(await connection.fetchrow(box.counts_sql))
    return {"jobs": await queue.status(connection), "messages": records}


@jobs_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Jobs per queue (entrypoint) and state, and callbacks / notices by status."""

    async def main(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await status_report(connection)
        finally:
            await connection.close()

    report = run(main)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    columns = ("queued", "waiting", "picked", "failed", "successful_1h", "exception_1h")
    typer.echo(f"{'queue':<20}" + "".join(f"{c:>15}" for c in columns))
    for entry in report["jobs"]:
        typer.echo(f"{entry['entrypoint']:<20}" + "".join(f"{entry.get(c, 0):>15}" for c in columns))
    for name, counts in report["messages"].items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@jobs_app.command("retry")
def retry(
    message_id: int,
    notice: Annotated[
        bool, typer.Option(help="a recipient notice (default: a 12345 callback in the outbox)")
    ] = False,
) -> None:
    """Send a dead callback (or notice) again, like POST /outbox/{id}/retry."""

    async def main(_: Settings, url: str) -> bool:
        pool = await create_pool(url, max_size=2)
        try:
            if notice:
                return await notices.retry(pool, notice_id=message_id)
            return await outbox.retry(pool, message_id=message_id)
        finally:
            await pool.close()

    if not run(main):
        fail(f"no dead {'notice' if notice else 'message'} {message_id}")
    typer.echo(f"{'notice' if notice else 'message'} {message_id}: pending again")
