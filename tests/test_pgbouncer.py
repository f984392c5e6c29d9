"""The app through PgBouncer in transaction pooling, its LISTEN connection direct.

A real PgBouncer (Debian's ``pgbouncer``) runs ``deploy/pgbouncer.ini`` in front of the test
database, on a free port, with a userlist file of its own and only 3 server connections, so
the app's pool (10 connections) really shares them transaction by transaction. The app runs
with ``GRIDSVC_DATABASE_PGBOUNCER=true`` (asyncpg's prepared statements off) and
``GRIDSVC_DATABASE_LISTEN_URL`` pointing at PostgreSQL itself: signed work orders posted
concurrently and the lifecycle actions on them succeed (without the setting, asyncpg's named
statements meet the wrong server connections and intake answers 500), pass through PgBouncer
(its own statistics count them), every change reaches ``/live/stream``, and the listener is
not among PgBouncer's clients: a LISTEN through transaction pooling stays on whichever server
connection ran it, which hears its NOTIFYs only while some transaction happens to hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

from gridsvc.database.embedded import _ensure_os_user
from gridsvc.listener import APPLICATION_NAME
from gridsvc.settings import PROJECT_ROOT, Settings
from tests.events_support import free_port, post_order
from tests.live_support import (
    Message,
    SSEClient,
    act,
    hotline_secret,
    is_event,
    order_in_a_quiet_grid,
    start_server,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("demo")
PGBOUNCER_CONFIG = PROJECT_ROOT / "deploy" / "pgbouncer.ini"
SERVER_CONNECTIONS = 3  # fewer than the app's pool: transactions must share them
ORDERS = 8
LIVE_WITHIN_S = 5.0


def bouncer_config(template: str, *, database_url: str, port: int, userlist: Path) -> str:
    """``deploy/pgbouncer.ini`` in front of ``database_url``, listening on ``port``."""
    parts = urlsplit(database_url)
    server = f"gridsvc = host={parts.hostname} port={parts.port or 5432} dbname={parts.path.lstrip('/')}"
    text, found = re.subn(r"(?m)^gridsvc = host=.*$", server, template)
    assert found == 1, f"{PGBOUNCER_CONFIG} lost its 'gridsvc = host=...' line"
    for key, value in (
        ("listen_port", str(port)),
        ("auth_file", str(userlist)),
        ("default_pool_size", str(SERVER_CONNECTIONS)),
    ):
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, f"{PGBOUNCER_CONFIG} lost its {key} line"
    # the admin console, for the statistics this test reads
    return text + f"admin_users = {parts.username}\n"


@contextlib.contextmanager
def pgbouncer(database_url: str, folder: Path) -> Iterator[str]:
    """PgBouncer in the foreground in front of ``database_url``; yields the URL through it."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer is not installed: apt-get install pgbouncer (scripts/setup.sh)"
    parts = urlsplit(database_url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    userlist = folder / "userlist.txt"
    userlist.write_text(f'"{user}" "{password}"\n')
    config = folder / "pgbouncer.ini"
    config.write_text(
        bouncer_config(PGBOUNCER_CONFIG.read_text(), database_url=database_url, port=port, userlist=userlist)
    )
    command = [binary, str(config)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; it drops to this user after reading its files
        _ensure_os_user("gridsvc")
        command[1:1] = ["-u", "gridsvc"]
    log = folder / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: process.poll() is not None or "listening on" in log.read_text(),
            timeout=20,
            message="pgbouncer did not start",
        )
        assert process.poll() is None, log.read_text()
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"
        yield f"postgresql://{netloc}/gridsvc"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def every_event(ids: list[int], state: str | None = None) -> Callable[[Message], bool]:
    """A stream predicate that holds once every one of ``ids`` has arrived (in ``state``)."""
    matchers = {event_id: is_event(event_id, state) for event_id in ids}
    pending = set(ids)

    def arrived(message: Message) -> bool:
        pending.difference_update([i for i in pending if matchers[i](message)])
        return not pending

    return arrived


def admin_show(bouncer_url: str, what: str) -> list[dict[str, str]]:
    """``SHOW what`` on PgBouncer's admin console, through psql (the console speaks only the
    simple query protocol, which asyncpg's fetch does not use)."""
    parts = urlsplit(bouncer_url)
    login = ["-h", "127.0.0.1", "-p", str(parts.port), "-U", unquote(parts.username or "")]
    answer = subprocess.run(
        ["psql", "-X", "-A", "-F", "\t", *login, "pgbouncer", "-c", f"SHOW {what}"],
        env={**os.environ, "PGPASSWORD": unquote(parts.password or "")},
        capture_output=True,
        text=True,
        check=True,
    )
    header, *rows = answer.stdout.splitlines()
    columns = header.split("\t")
    return [dict(zip(columns, row.split("\t"), strict=False)) for row in rows if "\t" in row]


def transactions_through(bouncer_url: str) -> int:
    """Transactions PgBouncer has passed to the database ``gridsvc`` so far."""
    stats = [row for row in admin_show(bouncer_url, "STATS") if row["database"] == "gridsvc"]
    return int(stats[0]["total_xact_count"]) if stats else 0


async def test_intake_actions_and_live_updates_through_pgbouncer_in_transaction_pooling(
    settings: Settings, make_token, db, tmp_path: Path
):
    direct = settings.database_url
    assert direct is not None
    operator = make_token("operator")
    secret = await hotline_secret(db)
    orders = [await order_in_a_quiet_grid(direct) for _ in range(ORDERS)]
    with pgbouncer(direct, tmp_path / "pgbouncer") as bounced:
        server = start_server(
            settings, database_url=bounced, database_pgbouncer=True, database_listen_url=direct
        )
        try:
            before = transactions_through(bounced)
            async with SSEClient(server.url, operator) as stream:
                assert stream.response is not None and stream.response.status_code == 200
                await stream.wait_for(lambda m: m.event == "hello")
                async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
                    # concurrent intake: more requests at once than PgBouncer has server connections
                    answers = await asyncio.gather(*(post_order(client, secret, order) for order in orders))
                assert [a.status_code for a in answers] == [201] * ORDERS, [a.text for a in answers]
                ids = [int(a.json()["id"]) for a in answers]
                await stream.wait_for(every_event(ids), within=LIVE_WITHIN_S)
                # concurrent lifecycle actions on them, each reaching the stream as well
                moved = await asyncio.gather(
                    *(asyncio.to_thread(act, server.url, operator, event_id, "dispatch") for event_id in ids)
                )
                assert {m["state"] for m in moved} == {"dispatched"}, moved
                await stream.wait_for(every_event(ids, "dispatched"), within=LIVE_WITHIN_S)
            # the requests' queries did go through PgBouncer (intake and actions: one
            # transaction each at least, besides their reads)
            through = transactions_through(bounced) - before
            assert through >= 2 * ORDERS, through
            # ... and the LISTEN connection did not: it is a direct session on PostgreSQL
            clients = admin_show(bounced, "CLIENTS")
            assert clients and "application_name" in clients[0], clients
            assert not [c for c in clients if c.get("application_name") == APPLICATION_NAME], clients
            print(f"{ORDERS} work orders + {ORDERS} actions: {through} transactions through pgbouncer")
        finally:
            server.__exit__()
