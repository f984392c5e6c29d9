"""``gridsvc serve`` as a real process under a low open-file limit: idle and slow clients (D10)."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gridsvc.serving import connection_cap, raise_file_limit
from gridsvc.settings import PROJECT_ROOT, Settings
from tests.events_support import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("demo")

FILE_LIMIT = 256  # the server's RLIMIT_NOFILE, soft and hard (raising it is then no help)


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@contextlib.contextmanager
def serving(settings: Settings, log: Path, **env: str) -> Iterator[str]:
    """``gridsvc serve`` on a free port in a child process; yields its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "GRIDSVC_DATABASE_URL": str(settings.database_url),
        "GRIDSVC_SHARED_GEODATA": str(settings.shared_geodata),
        "GRIDSVC_BACKGROUND_WORKERS": "false",
        "GRIDSVC_LOG_LEVEL": "WARNING",
        **env,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridsvc.cli", "serve", "--port", str(port), "--log-format", "json"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_low_file_limit,
        )  # noqa: PLW1509 - only setrlimit, before exec
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(url),
            timeout=90,
            message="gridsvc serve did not start",
        )
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_idle_sockets_do_not_take_health_down(settings: Settings, tmp_path: Path) -> None:
    # A long header deadline: the connection cap alone must keep the server answering.
    with serving(settings, tmp_path / "serve.log", GRIDSVC_HTTP_HEADER_TIMEOUT_S="60") as url:
        port = int(url.rsplit(":", 1)[1])
        idle: list[socket.socket] = []
        try:
            for _ in range(FILE_LIMIT + 150):  # more connections than the server has files
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            health = httpx.get(f"{url}/health", timeout=20)
            assert health.status_code == 200, health.text
            # The hotline webhook answers too (unsigned here: refused, not left hanging).
            webhook = httpx.post(f"{url}/webhooks/12345", content=b"{}", timeout=20)
            assert 400 <= webhook.status_code < 500, webhook.text
        finally:
            for sock in idle:
                sock.close()


def test_a_client_that_never_finishes_its_headers_is_dropped(settings: Settings, tmp_path: Path) -> None:
    with serving(settings, tmp_path / "serve.log", GRIDSVC_HTTP_HEADER_TIMEOUT_S="1") as url:
        port = int(url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=15) as slow,
            socket.create_connection(("127.0.0.1", port), timeout=15) as silent,
        ):
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: gridsvc\r\n")  # never ends the headers
            # Both are closed by the server (recv returns b"") long before the 15 s timeout.
            assert slow.recv(1024) == b""
            assert silent.recv(1024) == b""
        # A client that sends its request in time is served as usual.
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_the_connection_cap_follows_the_file_limit() -> None:
    assert connection_cap(Settings(), soft_limit=1024) == 1024 - 128
    assert connection_cap(Settings(), soft_limit=256) == 256 - 64
    assert connection_cap(Settings(http_max_connections=50), soft_limit=1024) == 50
    soft, hard = raise_file_limit()
    assert soft == hard or hard == resource.RLIM_INFINITY
