"""Tile benchmark: /tiles/{z}/{x}/{y}.mvt over the whole county at z12-z16, over HTTP.

Run: ``.venv/bin/python benchmarks/tiles.py [--quick]`` (GRIDSVC_DATABASE_URL or the private
cluster; imports the Liechtenstein base map first if none is there). A real uvicorn serves the
app on loopback (one worker). Every tile whose bounds touch the county (the LI jurisdiction's
boundary, else the base map's extent) is fetched three times in the same run:

- uncached: the first request, built by PostGIS (``ST_AsMVT``), the app's LRU empty;
- cached: the same request again, answered from the in-process LRU;
- revalidated: with ``If-None-Match`` of the ETag, answered 304;

and, as the baseline the zoom rules are measured against, the tile statement without its
``min_zoom`` filter (every feature at every zoom: what a naive ``ST_AsMVT`` over the tables
does) is timed in the database. Target: p95 <= 30 ms per uncached tile at each zoom.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402
from gridsvc.tiles import queries  # noqa: E402
from gridsvc.tiles.osm import tile_bounds, tile_of  # noqa: E402
from gridsvc.tiles.service import import_basemap  # noqa: E402

TARGET_P95_MS = 30.0
ZOOMS = range(12, 17)
NAIVE_TILE = queries.TILE.replace(" AND f.min_zoom <= $1", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered))) - 1))]


async def prepare(url: str) -> tuple[str, list[tuple[int, int, int]], str]:
    """A token, the tiles over the county, and what the county is."""
    from gridsvc.auth import service as auth

    connection = await connect(url)
    try:
        await upgrade(connection)
        if await connection.fetchval(queries.CURRENT) is None:
            await import_basemap(connection, source=get_settings().demo_pbf)
        boundary = await connection.fetchval("SELECT boundary FROM jurisdictions WHERE code = 'LI'")
        area = "LI boundary"
        if boundary is None:
            boundary = await connection.fetchval(
                "SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, 3857), 4326) FROM basemap_roads"
            )
            area = "base map extent"
        if await auth.get_user(connection, name="bench-tiles") is None:
            await auth.create_user(connection, name="bench-tiles", role="operator")
        token = await auth.issue_token(connection, user_name="bench-tiles", label="benchmark")
    finally:
        await connection.close()
    west, south, east, north = boundary.bounds
    tiles = []
    for z in ZOOMS:
        x0, y0 = tile_of(west, north, z)
        x1, y1 = tile_of(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                if boundary.intersects(shapely.box(*tile_bounds(z, x, y))):
                    tiles.append((z, x, y))
    return token, tiles, area


async def in_database(url: str, tiles: list[tuple[int, int, int]]) -> dict[str, dict[int, list[float]]]:
    """Milliseconds per tile of the tile statement, with and without the zoom rules."""
    connection = await connect(url)
    times: dict[str, dict[int, list[float]]] = {"rules": {}, "naive": {}}
    sizes: dict[int, int] = {}
    try:
        for name, sql in (("rules", queries.TILE), ("naive", NAIVE_TILE)):
            statement = await connection.prepare(sql)
            for z, x, y in tiles:
                started = time.perf_counter()
                data = await statement.fetchval(z, x, y)
                times[name].setdefault(z, []).append((time.perf_counter() - started) * 1000)
                if name == "rules":
                    sizes[z] = max(sizes.get(z, 0), len(data or b""))
    finally:
        await connection.close()
    times["max_kb"] = {z: [size / 1024] for z, size in sizes.items()}
    return times


def over_http(url: str, token: str, tiles: list[tuple[int, int, int]]) -> dict[str, dict[int, list[float]]]:
    port = free_port()
    env = {**os.environ, "GRIDSVC_DATABASE_URL": url, "GRIDSVC_BACKGROUND_WORKERS": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gridsvc.asgi:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    times: dict[str, dict[int, list[float]]] = {"uncached": {}, "cached": {}, "304": {}, "health": {}}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not become healthy")
                time.sleep(0.2)
            client.get("/tiles/0/0/0.mvt").raise_for_status()  # connections, statement cache
            # the floor: the cheapest route of the same app (no auth, no database), interleaved
            for _ in range(300):
                started = time.perf_counter()
                client.get("/health")
                times["health"].setdefault(0, []).append((time.perf_counter() - started) * 1000)
            etags: dict[tuple[int, int, int], str] = {}
            for kind in ("uncached", "cached", "304"):
                for z, x, y in tiles:
                    headers = {"If-None-Match": etags[(z, x, y)]} if kind == "304" else {}
                    started = time.perf_counter()
                    response = client.get(f"/tiles/{z}/{x}/{y}.mvt", headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    expected = {"uncached": (200, 204), "cached": (200, 204), "304": (304,)}[kind]
                    if response.status_code not in expected:
                        raise RuntimeError(f"{kind} {z}/{x}/{y}: HTTP {response.status_code}")
                    if kind == "cached" and response.status_code == 200:
                        assert response.headers["x-tile-cache"] == "hit"
                    etags[(z, x, y)] = response.headers["etag"]
                    times[kind].setdefault(z, []).append(elapsed)
    finally:
        server.terminate()
        server.wait(10)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="z12-z15 only (fewer tiles)")
    args = parser.parse_args()
    url = resolve_database_url(get_settings())
    token, tiles, area = asyncio.run(prepare(url))
    if args.quick:
        tiles = [t for t in tiles if t[0] <= 15]
    database = asyncio.run(in_database(url, tiles))
    http = over_http(url, token, tiles)
    load = os.getloadavg()[0]
    print(
        f"\n/tiles over the county ({area}), {len(tiles)} tiles, 1 uvicorn worker, sequential requests; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'z':>3} {'tiles':>6} {'max KB':>7} | {'uncached p50':>12} {'p95':>6} | {'cached p95':>10} "
        f"{'304 p95':>8} | {'SQL p95':>7} {'naive SQL p95':>13} {'naive/rules':>11} | target"
    )
    failed = False
    for z in sorted(http["uncached"]):
        uncached = http["uncached"][z]
        p95 = p(uncached, 0.95)
        cached, revalidated = p(http["cached"][z], 0.95), p(http["304"][z], 0.95)
        rules, naive = p(database["rules"][z], 0.95), p(database["naive"][z], 0.95)
        ok = p95 <= TARGET_P95_MS
        failed |= not ok
        print(
            f"{z:>3} {len(uncached):>6} {database['max_kb'][z][0]:>7.1f} | {p(uncached, 0.5):>9.1f} ms "
            f"{p95:>6.1f} | {cached:>7.1f} ms {revalidated:>8.1f} | {rules:>7.1f} {naive:>10.1f} ms "
            f"{naive / max(rules, 1e-3):>10.1f}x | {'[ok]' if ok else '[FAIL]'} p95 <= {TARGET_P95_MS:.0f} ms"
        )
    every = [t for z in http["uncached"] for t in http["uncached"][z]]
    hits = [t for z in http["cached"] for t in http["cached"][z]]
    print(
        f"all {len(every):>6}         | p95 uncached {p(every, 0.95):.1f} ms, cached {p(hits, 0.95):.1f} ms "
        f"(uncached/cached {p(every, 0.95) / max(p(hits, 0.95), 1e-3):.1f}x)"
    )
    floor = http["health"][0]
    print(
        f"floor: GET /health p50 {p(floor, 0.5):.1f} ms, p95 {p(floor, 0.95):.1f} ms (the HTTP stack alone)"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
