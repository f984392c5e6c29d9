"""Intake through two app nodes behind HAProxy, with and without a synchronous standby.

Run: ``.venv/bin/python benchmarks/nodes.py [--quick]``. It prepares the intake benchmark's
database (``benchmarks/intake.py``: demo jurisdiction, Yuncheng catalogue, auto-dispatch,
delegation lists), copies it into a throwaway primary (never the shared cluster) with a
streaming standby (``pg_basebackup``), and sends signed work orders open-loop at fixed rates:

- ``1 node``: one ``uvicorn --workers 2`` answered directly (the intake benchmark's setup);
- ``2 nodes``: two ``uvicorn --workers 1`` behind ``deploy/haproxy.cfg`` (round robin), the
  standby asynchronous;
- ``2 nodes, sync``: the same with ``synchronous_standby_names = '*'`` (each commit waits
  until the standby has flushed it);
- ``2n, sync, pgb``: the same with PgBouncer (``deploy/pgbouncer.ini``, transaction pooling,
  its default 20 server connections) between the nodes and the primary, the listeners direct.

Prints latency of work order → routed + dispatched (the webhook answers after the commit) per
rate, and the highest rate each sustains with p95 <= 50 ms. On one machine the two nodes share
its cores with the proxy, the load generator and both database servers: the table shows the
cost of the proxy hop and of synchronous commit, not the scale-out of separate machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.intake import orders_for, prepare, settle  # noqa: E402
from benchmarks.loadgen import encode_post, open_loop  # noqa: E402
from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402
from gridsvc.webhooks.signing import signed_headers  # noqa: E402
from tests.cluster_support import ThrowawayCluster  # noqa: E402
from tests.events_support import free_port  # noqa: E402
from tests.pgbouncer_support import pgbouncer  # noqa: E402
from tests.proxy_support import haproxy  # noqa: E402

P95_TARGET_MS = 50.0
LOG_DIR = Path(tempfile.gettempdir()) / "gridsvc-nodes-bench"


def start_node(url: str, workers: int, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "GRIDSVC_DATABASE_URL": url, "GRIDSVC_POOL_MAX_SIZE": "20", **extra}
    command = [sys.executable, "-m", "uvicorn", "gridsvc.asgi:app", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def wait_ready(processes: list[tuple[subprocess.Popen[bytes], str]]) -> None:
    for process, url in processes:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the node at {url} exited")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node at {url} did not become healthy")
            time.sleep(0.3)


@contextmanager
def nodes(url: str, count: int, workers: int, **extra: str) -> Iterator[list[str]]:
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for _ in range(count):
            started.append(start_node(url, workers, **extra))
        wait_ready(started)
        yield [u for _, u in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.wait(15)


async def run_rate(url: str, port: int, secret: str, rate: float, seconds: float, tag: str) -> dict:
    await settle(url)
    orders = await orders_for(url, int(rate * seconds), prefix=f"N{tag}{int(time.time())}-")
    requests = []
    for order in orders:
        body = json.dumps(order, ensure_ascii=False).encode()
        headers = signed_headers(secret, body, integration="bench")
        requests.append(encode_post("127.0.0.1", port, "/webhooks/12345", body, headers))
    result = await open_loop("127.0.0.1", port, requests, rate)
    return {
        "rate": rate,
        "errors": result.errors,
        "achieved": len(result.latencies_ms) / result.duration_s,
        "p50": result.percentile(50),
        "p95": result.percentile(95),
        "p99": result.percentile(99),
        "statuses": dict(sorted(result.statuses.items())),
    }


async def measure(
    name: str, url: str, base: str, secret: str, rates: list[float], seconds: float
) -> list[dict]:
    port = int(base.rsplit(":", 1)[1])
    # warm-up, not measured: pools grow and statements are prepared in every worker
    await run_rate(url, port, secret, 20, 2, f"{name[:1]}w1")
    await run_rate(url, port, secret, 100, 2, f"{name[:1]}w2")
    rows = []
    for rate in rates:
        row = await run_rate(url, port, secret, rate, seconds, f"{name[:1]}{int(rate)}")
        rows.append({"setup": name, **row})
        print(
            f"{name:<16} {rate:>6.0f} {row['achieved']:>9.1f} {row['p50']:>7.1f} {row['p95']:>7.1f} "
            f"{row['p99']:>7.1f} {row['errors']:>6}  {row['statuses']}",
            flush=True,
        )
    return rows


async def main_async(args: argparse.Namespace) -> None:
    LOG_DIR.mkdir(exist_ok=True)
    source, secret = await prepare(resolve_database_url(get_settings()))
    rates = [50.0, 100.0, 150.0] if args.quick else [50.0, 100.0, 150.0, 200.0]
    seconds = 4.0 if args.quick else 8.0
    primary = ThrowawayCluster.create()
    standby = None
    rows: list[dict] = []
    try:
        await asyncio.to_thread(primary.__enter__)
        url = await primary.copy_database(source, "gridsvc_nodes")
        standby = await asyncio.to_thread(primary.make_standby)
        print(
            f"{'setup':<16} {'rate/s':>6} {'achieved':>9} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'p99 ms':>7} {'errors':>6}"
        )
        with nodes(url, 1, 2) as (single,):
            rows += await measure("1 node", url, single, secret, rates, seconds)
        with nodes(url, 2, 1) as two, haproxy(two, LOG_DIR) as proxy:
            rows += await measure("2 nodes", url, proxy, secret, rates, seconds)
            await asyncio.to_thread(primary.set_synchronous, True)
            rows += await measure("2 nodes, sync", url, proxy, secret, rates, seconds)
        bouncer = {"GRIDSVC_DATABASE_PGBOUNCER": "true", "GRIDSVC_DATABASE_LISTEN_URL": url}
        with (
            pgbouncer(url, LOG_DIR / "pgbouncer") as bounced,
            nodes(bounced, 2, 1, **bouncer) as two,
            haproxy(two, LOG_DIR) as proxy,
        ):
            rows += await measure("2n, sync, pgb", url, proxy, secret, rates, seconds)
    finally:
        if standby is not None:
            await asyncio.to_thread(standby.destroy)
        await asyncio.to_thread(primary.destroy)
    print(
        f"\nintake over HTTP, work order -> routed + dispatched, {'quick' if args.quick else 'full'} run; "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), nodes, proxy, load "
        "generator, primary and standby on this one machine"
    )
    for setup in ("1 node", "2 nodes", "2 nodes, sync", "2n, sync, pgb"):
        sustained = None
        for r in (r for r in rows if r["setup"] == setup):
            if r["p95"] > P95_TARGET_MS or r["errors"] or r["achieved"] < 0.95 * r["rate"]:
                break
            sustained = r["rate"]
        best = f"{sustained:.0f}" if sustained else f"below {rates[0]:.0f}"
        print(f"{setup:<16} highest rate sustained with p95 <= {P95_TARGET_MS:.0f} ms: {best} ev/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
