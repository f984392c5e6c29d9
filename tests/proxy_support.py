"""Several real ``gridsvc serve`` processes behind one local HAProxy (Debian's ``haproxy``).

The proxy's configuration is ``deploy/haproxy.cfg`` (the one the README's "Deploying for a
city" shows), with the listening port and the nodes filled in: round robin, health checks on
``/health``, no buffering of answers (HAProxy streams them, so ``/live/stream``'s messages pass
at once), and a header ``X-Served-By`` naming the node that answered.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from gridsvc.settings import PROJECT_ROOT, Settings
from tests.events_support import free_port
from tests.waiting import wait_until

HAPROXY_CONFIG = PROJECT_ROOT / "deploy" / "haproxy.cfg"
NODES_MARK = "    # nodes:"


def _answers(url: str, path: str = "/health") -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def app_nodes(settings: Settings, folder: Path, count: int = 2) -> Iterator[list[str]]:
    """``count`` ``gridsvc serve`` processes on free ports, on the same database; their URLs."""
    environment = {
        **os.environ,
        "GRIDSVC_DATABASE_URL": str(settings.database_url),
        "GRIDSVC_SHARED_GEODATA": str(settings.shared_geodata),
        "GRIDSVC_BACKGROUND_WORKERS": "false",
        "GRIDSVC_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for n in range(count):
            port = free_port()
            with (folder / f"node{n + 1}.log").open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gridsvc.cli",
                            "serve",
                            "--port",
                            str(port),
                            "--log-format",
                            "json",
                        ],
                        cwd=PROJECT_ROOT,
                        env=environment,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for n, (process, url) in enumerate(zip(processes, urls, strict=True)):
            wait_until(
                lambda p=process, u=url: p.poll() is not None or _answers(u),  # type: ignore[misc]
                timeout=90,
                message=f"node {n + 1} did not start",
            )
            assert process.poll() is None, (folder / f"node{n + 1}.log").read_text()
        yield urls
    finally:
        for process in processes:
            _stop(process)


def proxy_config(port: int, nodes: list[str]) -> str:
    """``deploy/haproxy.cfg`` listening on ``port`` with ``nodes`` (base URLs) as servers."""
    template = HAPROXY_CONFIG.read_text()
    assert NODES_MARK in template, f"{HAPROXY_CONFIG} lost its {NODES_MARK!r} line"
    servers = "".join(
        f"    server node{n + 1} {url.removeprefix('http://')} check inter 1s fall 3 rise 1\n"
        for n, url in enumerate(nodes)
    )
    text = template.replace("bind 127.0.0.1:8080", f"bind 127.0.0.1:{port}")
    head, _, tail = text.partition(NODES_MARK)
    # the example servers of the file are replaced by ours
    kept = [line for line in tail.splitlines(keepends=True)[1:] if not line.lstrip().startswith("server ")]
    return head + servers + "".join(kept)


@contextlib.contextmanager
def haproxy(nodes: list[str], folder: Path) -> Iterator[str]:
    """HAProxy in the foreground in front of ``nodes``; yields its URL once every node is up
    behind it (checked through the proxy's own health checks)."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(binary).exists(), "haproxy is not installed: apt-get install haproxy (scripts/setup.sh)"
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(proxy_config(port, nodes))
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    with (folder / "haproxy.log").open("wb") as output:
        process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def every_node_answers() -> bool:
            if process.poll() is not None:
                return True
            seen = set()
            for _ in range(2 * len(nodes)):
                try:
                    answer = httpx.get(f"{url}/health", timeout=2)
                except httpx.HTTPError:
                    return False
                if answer.status_code != 200:
                    return False
                seen.add(answer.headers.get("x-served-by"))
            return len(seen) == len(nodes)

        wait_until(every_node_answers, timeout=30, interval=0.2, message="the proxy did not reach every node")
        assert process.poll() is None, (folder / "haproxy.log").read_text()
        yield url
    finally:
        _stop(process)
