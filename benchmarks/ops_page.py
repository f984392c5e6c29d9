"""/ops page benchmark: bytes transferred and time to interactive in Debian's headless Chromium.

Run: ``.venv/bin/python benchmarks/ops_page.py [--runs 5] [--events 150]`` (GRIDSVC_DATABASE_URL
or the private cluster). Works in a scratch database of its own (dropped at the end): the demo
jurisdiction is built into it (grids, roads, street base map), ``--events`` open events are
filed inside Liechtenstein's community grids through ``POST /events``, and a real uvicorn (one
worker, background jobs off) serves the app on loopback. Chromium is ``/usr/bin/chromium``
driven by Playwright (as in ``tests/browser``), 1600x1000, logged in by the ``gridsvc_token``
cookie, opening ``/ops?j=LI``.

Each run is a fresh browser context (empty HTTP cache) that loads the page twice:

- **cold**: the first load, nothing cached;
- **warm**: the same URL opened again in the same context (a normal navigation, not a
  reload), the browser cache as the first load left it. This is the baseline the cold load is
  compared with in the same run: what a page costs when its assets are cached.

**Bytes** are what came over the network (Chrome DevTools Protocol ``Network.loadingFinished``
``encodedDataLength``: headers and body as sent, gzip or not; answers served from the
browser's cache count 0, a ``304`` its headers), split into the document (``/ops``), static
files (``/static/...``), API data (JSON routes) and base map tiles (``/tiles/...``). The SSE
stream (``/live/stream``) never finishes and is not counted.

**Time to interactive** is measured in the page, from navigation start (``performance.now()``
0) to the first animation frame at which all of these hold:

1. the grid layers shown at start are drawn: the map's overlay pane holds at least as many
   interactive SVG paths as the jurisdiction has grids in its ``enforcement`` and
   ``community`` layers (the two shown by default; event and squad markers are HTML, not
   paths, so they do not count);
2. events, squads and counters are loaded and drawn: ``body[data-ready="1"]`` (set by
   ``ops.js``);
3. the work queue has its first page: ``#queue[data-ready="1"]`` (set by ``queue.js``).

The base map's tiles arrive on their own and are not waited for. DOMContentLoaded is printed
too. Each figure is the median over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.settings import Settings, get_settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
JURISDICTION = "LI"
SHOWN = ("enforcement", "community")

# Polled on every animation frame from the start of the document: the moment the page is usable.
PROBE = """
(() => {
  const need = %d;
  function check() {
    const paths = document.querySelectorAll('.leaflet-overlay-pane path.leaflet-interactive').length;
    const body = document.body && document.body.getAttribute('data-ready') === '1';
    const queue = document.querySelector('#queue[data-ready="1"]');
    if (paths >= need && body && queue) { window.__tti = performance.now(); return; }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(url: str, events: int) -> tuple[str, int, list[tuple[float, float]]]:
    """Demo data, an operator token, ``events`` open events; the grids drawn at start."""
    from gridsvc.auth import service as auth
    from gridsvc.demo.build import build_demo

    await build_demo(Settings(database_url=url, background_workers=False), url, echo=lambda _m: None)
    connection = await connect(url)
    try:
        await auth.create_user(connection, name="bench-ops", role="operator", display_name="值班员")
        token = await auth.issue_token(connection, user_name="bench-ops", label="benchmark")
        shown = await connection.fetchval(
            "SELECT count(*) FROM current_grids g JOIN jurisdictions j ON j.id = g.jurisdiction_id "
            "WHERE j.code = $1 AND g.layer = ANY($2::text[])",
            JURISDICTION,
            list(SHOWN),
        )
        spots = await connection.fetch(
            "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints("
            "ST_Buffer(g.geom::geography, -30)::geometry, 5, 7))).geom AS p FROM current_grids g "
            "JOIN jurisdictions j ON j.id = g.jurisdiction_id WHERE j.code = $1 AND g.layer = 'community' "
            "ORDER BY g.code) s LIMIT $2",
            JURISDICTION,
            events,
        )
    finally:
        await connection.close()
    return token, int(shown), [(r["lng"], r["lat"]) for r in spots]


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "GRIDSVC_DATABASE_URL": url, "GRIDSVC_BACKGROUND_WORKERS": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gridsvc.asgi:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.terminate()
            raise RuntimeError("server did not become healthy")
        time.sleep(0.2)


def file_events(base: str, token: str, spots: list[tuple[float, float]]) -> None:
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for i, (lng, lat) in enumerate(spots):
            answer = http.post(
                "/events",
                json={
                    "title": f"基准事件 {i} {uuid.uuid4().hex[:6]}",
                    "description": "占道经营",
                    "address": f"Städtle {i}, Vaduz",
                    "location": {"lng": lng, "lat": lat, "crs": "wgs84"},
                },
            )
            answer.raise_for_status()


def kind_of(url: str, base: str) -> str:
    path = url[len(base) :] if url.startswith(base) else url
    if path.startswith("/ops"):
        return "document"
    if path.startswith("/static/"):
        return "static"
    if path.startswith("/tiles/"):
        return "tiles"
    return "data"


async def load(page: Any, base: str, need: int) -> dict[str, float]:
    """One navigation to /ops: bytes per kind, requests, TTI and DOMContentLoaded (ms)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    urls: dict[str, str] = {}
    cached: set[str] = set()
    sizes: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)

    def sent(e: dict[str, Any]) -> None:
        urls[e["requestId"]] = e["request"]["url"]

    def finished(e: dict[str, Any]) -> None:
        url = urls.get(e["requestId"])
        if url is None or "/live/stream" in url:
            return
        kind = kind_of(url, base)
        sizes[kind] += e["encodedDataLength"]
        counts["requests"] += 1
        if e["requestId"] in cached or e["encodedDataLength"] == 0:
            counts["from cache"] += 1

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
    cdp.on("Network.loadingFinished", finished)
    await page.goto(f"{base}/ops?j={JURISDICTION}", wait_until="domcontentloaded")
    await page.wait_for_function("window.__tti !== undefined", timeout=60000, polling=50)
    tti = await page.evaluate("window.__tti")
    dcl = await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    # what is still on its way (tiles, late scripts) before the next navigation
    await page.wait_for_load_state("networkidle")
    await cdp.detach()
    return {
        **{f"{k} KB": v / 1024 for k, v in sizes.items()},
        "total KB": sum(sizes.values()) / 1024,
        **counts,
        "TTI ms": tti,
        "DOMContentLoaded ms": dcl,
    }


async def measure(base: str, token: str, need: int, runs: int) -> dict[str, list[dict[str, float]]]:
    from playwright.async_api import async_playwright

    host = base.split("//", 1)[1].split(":")[0]
    results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for _ in range(runs):
                context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
                await context.add_cookies(
                    [{"name": "gridsvc_token", "value": token, "domain": host, "path": "/"}]
                )
                await context.add_init_script(PROBE % need)
                page = await context.new_page()
                results["cold"].append(await load(page, base, need))
                results["warm"].append(await load(page, base, need))
                await context.close()
        finally:
            await browser.close()
    return results


def table(results: dict[str, list[dict[str, float]]], runs: int, need: int, events: int) -> None:
    rows = ["document KB", "static KB", "data KB", "tiles KB", "total KB", "requests", "from cache",
            "DOMContentLoaded ms", "TTI ms"]  # fmt: skip

    def med(kind: str, row: str) -> float:
        return statistics.median(r.get(row, 0.0) for r in results[kind])

    print(
        f"\n/ops?j={JURISDICTION} in headless Chromium 1600x1000, median of {runs} runs; {need} grids drawn "
        f"at start, {events} open events; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'':<22}{'cold':>10}{'warm':>10}{'warm/cold':>11}")
    for row in rows:
        cold, warm = med("cold", row), med("warm", row)
        ratio = f"{warm / cold:.2f}" if cold else "-"
        print(f"{row:<22}{cold:>10.1f}{warm:>10.1f}{ratio:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=150)
    args = parser.parse_args()
    from tests.roads_support import scratch_database

    async def scratch() -> None:
        async with scratch_database(resolve_database_url(get_settings()), "bench_ops") as url:
            token, need, spots = await prepare(url, args.events)
            server, base = serve(url)
            try:
                file_events(base, token, spots)
                results = await measure(base, token, need, args.runs)
            finally:
                server.terminate()
                server.wait(10)
            table(results, args.runs, need, len(spots))

    asyncio.run(scratch())


if __name__ == "__main__":
    main()
