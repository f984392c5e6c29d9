"""A throwaway PostgreSQL + PostGIS cluster of a test's (or benchmark's) own.

Tests that restart the database or kill its backends must never do that to the shared
cluster other test runs use. This one lives in a temporary folder on a free port, is made
with the project's own :class:`~gridsvc.database.embedded.EmbeddedCluster` (initdb, pg_ctl;
run as the unprivileged ``gridsvc`` user when we are root) and is removed afterwards.
Its data is copied from a database that already has the demo (``pg_dump | pg_restore``),
which is much faster than building the demo again.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from gridsvc.database.embedded import EmbeddedCluster, find_postgres_bindir
from tests.events_support import free_port

# The backends a process LISTENs on: the one listener (by its application_name) and, for
# older code, any connection whose last statement was a LISTEN.
LISTEN_BACKENDS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND (application_name = 'gridsvc-listener' OR query ~* '^\\s*(un)?listen\\s')
"""


class ThrowawayCluster(EmbeddedCluster):
    """``with ThrowawayCluster.create() as cluster: ...``: started on entry, gone on exit."""

    @classmethod
    def create(cls) -> ThrowawayCluster:
        base = Path(tempfile.mkdtemp(prefix="gridsvc-throwaway-"))
        return cls(base_dir=base, configured_port=free_port(), os_user="gridsvc")

    def __enter__(self) -> ThrowawayCluster:
        try:
            self.up()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        self.destroy()

    def destroy(self) -> None:
        if self.is_initialised():
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self, mode: str = "immediate") -> None:
        """``pg_ctl restart -m immediate``: every backend dies at once, as in a crash; returns
        when the server accepts connections again (after crash recovery)."""
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "restart",
            ],
            check=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"], check=True)

    def start(self) -> None:
        self._run(
            ["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "start"],
            check=True,
        )

    async def copy_database(self, source_url: str, name: str) -> str:
        """Copy the database at ``source_url`` (any server) here as ``name``; its URL."""
        admin = await asyncpg.connect(self.url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')  # our own constant name
        finally:
            await admin.close()
        target = self.url(name)
        dump = self.base_dir / f"{name}.dump"
        bindir = find_postgres_bindir()
        for command in (
            [str(bindir / "pg_dump"), "-Fc", "--no-owner", "-f", str(dump), "-d", source_url],
            [str(bindir / "pg_restore"), "--no-owner", "--exit-on-error", "-d", target, str(dump)],
        ):
            await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
        dump.unlink()
        return target


async def terminate_listeners(url: str) -> int:
    """``pg_terminate_backend`` every LISTEN backend of the database at ``url``; how many."""
    connection = await asyncpg.connect(url)
    try:
        pids = [r["pid"] for r in await connection.fetch(LISTEN_BACKENDS)]
        for pid in pids:
            await connection.execute("SELECT pg_terminate_backend($1)", pid)
        return len(pids)
    finally:
        await connection.close()
