"""Post signed 12345 work orders to a gridsvc at a steady rate, and measure the answers."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from gridsvc.webhooks.signing import signed_headers


@dataclass
class ReplayResult:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "statuses": self.statuses,
            "errors": len(self.errors),
            "achieved_rate": self.sent / self.duration_s if self.duration_s else 0.0,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "mean_ms": statistics.fmean(self.latencies_ms) if self.latencies_ms else None,
        }


async def replay(
    orders: Iterable[dict[str, Any]],
    *,
    url: str,
    integration: str,
    secret: str,
    rate: float,
    progress: Callable[[int], None] | None = None,
    timeout_s: float = 30.0,
) -> ReplayResult:
    """POST each order to ``url`` (…/webhooks/12345), ``rate`` orders per second, open loop.

    Open loop: orders leave on schedule whether or not earlier answers came back, so a slow
    server shows up as latency instead of silently lowering the rate.
    """
    result = ReplayResult()
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        started = time.perf_counter()
        tasks = []
        for index, order in enumerate(orders):
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(_send(client, url, integration, secret, order, result, progress))
            )
        await asyncio.gather(*tasks)
        result.duration_s = time.perf_counter() - started
    return result


async def _send(
    client: httpx.AsyncClient,
    url: str,
    integration: str,
    secret: str,
    order: dict[str, Any],
    result: ReplayResult,
    progress: Callable[[int], None] | None,
) -> None:
    body = json.dumps(order, ensure_ascii=False).encode()
    headers = signed_headers(secret, body, integration=integration)
    sent = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=headers)
        result.latencies_ms.append((time.perf_counter() - sent) * 1000)
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 400:
            result.errors.append(
                f"{order.get('work_order_no')}: {response.status_code} {response.text[:200]}"
            )
    except httpx.HTTPError as error:
        result.errors.append(f"{order.get('work_order_no')}: {type(error).__name__} {error}")
    result.sent += 1
    if progress is not None:
        progress(1)


def read_orders(path: str) -> list[dict[str, Any]]:
    """Work orders from a JSON Lines file (one order per line) or a JSON array."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        orders = json.loads(stripped)
    else:
        orders = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    orders.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}: line {number}: not JSON ({error})") from None
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise ValueError(f"{path}: expected JSON objects, one work order each")
    return orders
