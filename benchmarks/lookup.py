"""Lookup benchmark: H3 overlay vs PostGIS ST_Contains, in process and over HTTP.

Run: ``.venv/bin/python benchmarks/lookup.py`` (uses GRIDSVC_DATABASE_URL or the private
cluster; builds the demo first if it is missing). Prints one table; the ST_Contains
baseline is measured in the same run, on the same points, against the same grids.
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
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.grids import queries  # noqa: E402
from gridsvc.grids.service import load_overlay  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402

# Liechtenstein's bounding box (WGS84): most points fall inside the country, some outside.
BBOX = (9.471, 47.048, 9.636, 47.271)


def random_points(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(BBOX[0], BBOX[2], count), rng.uniform(BBOX[1], BBOX[3], count)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ensure_demo(url: str) -> None:
    connection = await connect(url)
    try:
        await upgrade(connection)
        has_demo = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM jurisdictions WHERE code = 'LI')")
    finally:
        await connection.close()
    if not has_demo:
        from gridsvc.demo.build import build_demo

        await build_demo(get_settings(), url, echo=lambda _m: None)


async def in_process(url: str, points: int) -> dict[str, float]:
    connection = await connect(url)
    try:
        overlay = await load_overlay(connection)
        lng, lat = random_points(points, seed=1)
        overlay.locate(lng[:1000], lat[:1000])  # warm up
        started = time.perf_counter()
        overlay.locate(lng, lat)
        all_layers = time.perf_counter() - started
        community = {"community": overlay.layers["community"]}
        from gridsvc.grids.lookup import Overlay

        started = time.perf_counter()
        Overlay(layers=community).locate(lng, lat)
        one_layer = time.perf_counter() - started

        naive_points = min(points, 50_000)
        started = time.perf_counter()
        await connection.fetch(queries.NAIVE_LOOKUP, lng[:naive_points].tolist(), lat[:naive_points].tolist())
        naive = time.perf_counter() - started
    finally:
        await connection.close()
    return {
        "layers": len(overlay.layers),
        "all": points / all_layers,
        "one": points / one_layer,
        "naive": naive_points / naive,
    }


async def bench_token(url: str) -> str:
    """A token of the benchmark's operator account (made on first use): lookups need one."""
    from gridsvc.auth import service as auth

    connection = await connect(url)
    try:
        if await auth.get_user(connection, name="bench-lookup") is None:
            await auth.create_user(connection, name="bench-lookup", role="operator")
        return await auth.issue_token(connection, user_name="bench-lookup", label="benchmark")
    finally:
        await connection.close()


def over_http(url: str, requests: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "GRIDSVC_DATABASE_URL": url}
    token = asyncio.run(bench_token(url))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gridsvc.asgi:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )  # the app's JSON access lines, one per request
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
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
            lng, lat = random_points(requests, seed=2)
            for i in range(200):  # warm up
                client.get("/grids/lookup", params={"lat": lat[i], "lng": lng[i]})
            timings = []
            for i in range(requests):
                started = time.perf_counter()
                response = client.get("/grids/lookup", params={"lat": lat[i], "lng": lng[i]})
                timings.append(time.perf_counter() - started)
                response.raise_for_status()
            batch_lng, batch_lat = random_points(10_000, seed=3)
            body = {
                "points": [
                    {"lat": float(y), "lng": float(x)} for x, y in zip(batch_lng, batch_lat, strict=True)
                ]
            }
            started = time.perf_counter()
            client.post("/grids/lookup", json=body).raise_for_status()
            batch = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    ms = sorted(t * 1000 for t in timings)
    return {"p50": statistics.median(ms), "p99": ms[int(len(ms) * 0.99) - 1], "batch_10k_s": batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3_000)
    args = parser.parse_args()
    url = resolve_database_url(get_settings())
    asyncio.run(ensure_demo(url))
    local = asyncio.run(in_process(url, args.points))
    http = over_http(url, args.requests)
    rows = [
        (
            f"in-process batch, all {local['layers']} layers (H3)",
            f"{local['all']:,.0f} points/s",
            f"{local['all'] / local['naive']:.1f}x",
            ">= 500,000 points/s",
        ),
        (
            "in-process batch, 1 layer (H3)",
            f"{local['one']:,.0f} points/s",
            f"{local['one'] / local['naive']:.1f}x",
            "",
        ),
        ("baseline: PostGIS ST_Contains, all layers", f"{local['naive']:,.0f} points/s", "1.0x", "H3 >= 10x"),
        ("API single lookup p50 (loopback)", f"{http['p50']:.2f} ms", "", ""),
        ("API single lookup p99 (loopback)", f"{http['p99']:.2f} ms", "", "<= 5 ms"),
        ("API batch of 10,000 points", f"{http['batch_10k_s'] * 1000:.0f} ms", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'result':>20}  {'vs baseline':>11}  target")
    print("-" * (width + 50))
    for name, value, ratio, target in rows:
        print(f"{name:<{width}}  {value:>20}  {ratio:>11}  {target}")


if __name__ == "__main__":
    main()
