"""A lean open-loop HTTP/1.1 load generator for loopback benchmarks.

The benchmark client shares two cores with the server, so it must cost little: requests are
encoded (and signed) before the run, sent over persistent connections with asyncio streams,
and latency is measured from each request's *scheduled* send time, so a server that falls
behind shows its queueing delay instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    duration_s: float = 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def encode_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, max_connections: int = 256
) -> LoadResult:
    """Send ``requests`` at ``rate`` per second; each waits for a free connection if needed."""
    result = LoadResult()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened = 0
    tasks = []

    async def one(request: bytes, due: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            connection = await asyncio.open_connection(host, port)
        else:
            connection = await idle.get()
        try:
            status = await _exchange(*connection, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            connection[1].close()
            opened -= 1
            return
        result.latencies_ms.append((time.perf_counter() - due) * 1000)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status >= 400:
            result.errors += 1
        idle.put_nowait(connection)

    started = time.perf_counter()
    for index, request in enumerate(requests):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    result.duration_s = time.perf_counter() - started
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    return result
