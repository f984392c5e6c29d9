"""A real PgBouncer (Debian's ``pgbouncer``) running ``deploy/pgbouncer.ini`` in front of a
database, for tests/test_pgbouncer.py and benchmarks/nodes.py: its port, server, userlist
file and pool size filled in, in the foreground, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from gridsvc.database.embedded import _ensure_os_user
from gridsvc.settings import PROJECT_ROOT
from tests.events_support import free_port
from tests.waiting import wait_until

PGBOUNCER_CONFIG = PROJECT_ROOT / "deploy" / "pgbouncer.ini"


def bouncer_config(
    template: str, *, database_url: str, port: int, userlist: Path, server_connections: int | None = None
) -> str:
    """``deploy/pgbouncer.ini`` in front of ``database_url``, listening on ``port``."""
    parts = urlsplit(database_url)
    server = f"gridsvc = host={parts.hostname} port={parts.port or 5432} dbname={parts.path.lstrip('/')}"
    text, found = re.subn(r"(?m)^gridsvc = host=.*$", server, template)
    assert found == 1, f"{PGBOUNCER_CONFIG} lost its 'gridsvc = host=...' line"
    changes = [("listen_port", str(port)), ("auth_file", str(userlist))]
    if server_connections is not None:
        changes.append(("default_pool_size", str(server_connections)))
    for key, value in changes:
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, f"{PGBOUNCER_CONFIG} lost its {key} line"
    # the admin console, for the statistics this test reads
    return text + f"admin_users = {parts.username}\n"


@contextlib.contextmanager
def pgbouncer(database_url: str, folder: Path, *, server_connections: int | None = None) -> Iterator[str]:
    """PgBouncer in the foreground in front of ``database_url``; yields the URL through it.
    ``server_connections``: its ``default_pool_size`` (default: the file's)."""
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
        bouncer_config(
            PGBOUNCER_CONFIG.read_text(),
            database_url=database_url,
            port=port,
            userlist=userlist,
            server_connections=server_connections,
        )
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
