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

from gridsvc.database.embedded import ROLE_NAME, EmbeddedCluster, find_postgres_bindir
from tests.events_support import free_port
from tests.waiting import wait_until

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
        dump = self.base_dir / f"{name}.dump"
        await dump_database(source_url, dump)
        try:
            return await self.restore_database(dump, name)
        finally:
            dump.unlink()

    async def restore_database(self, dump: Path, name: str) -> str:
        """A new database ``name`` here from a ``pg_dump -Fc`` file; its URL."""
        admin = await asyncpg.connect(self.url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')  # our own constant name
        finally:
            await admin.close()
        target = self.url(name)
        command = [
            str(find_postgres_bindir() / "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "-d",
            target,
            str(dump),
        ]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
        return target

    def clone(self) -> ThrowawayCluster:
        """A started copy of this stopped cluster (its data folder copied, owner kept) on a free
        port: much faster than initdb and a restore when several tests need the same data."""
        other = ThrowawayCluster.create()
        try:
            other.port_file.write_text(f"{other.port}\n")
            shutil.copyfile(self.password_file, other.password_file)
            other.password_file.chmod(0o600)
            other._give_to_user(other.base_dir)
            other._give_to_user(other.password_file)
            subprocess.run(["cp", "-a", str(self.data_dir), str(other.data_dir)], check=True)
            other._set_port()
            other.start()
        except BaseException:
            other.destroy()
            raise
        return other

    def _set_port(self) -> None:
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# a copy of another throwaway cluster\nport = {self.port}\n")

    # -- streaming replication (the failover drill, read routing) --------------------

    def make_standby(self) -> ThrowawayCluster:
        """A streaming hot standby of this (running) cluster: ``pg_basebackup -R`` into a
        data folder of its own on a free port, started; returns once the primary streams to it.
        The caller destroys it. Same role and password (the base backup copies the roles)."""
        standby = ThrowawayCluster.create()
        try:
            standby.base_dir.mkdir(parents=True, exist_ok=True)
            standby.port_file.write_text(f"{standby.port}\n")
            shutil.copyfile(self.password_file, standby.password_file)
            standby.password_file.chmod(0o600)
            standby._give_to_user(standby.base_dir)
            standby._give_to_user(standby.password_file)
            password = self.password_file.read_text().strip()
            # -R writes primary_conninfo (with the password) and standby.signal
            standby._run(
                [
                    "pg_basebackup",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    ROLE_NAME,
                    "-D",
                    str(standby.data_dir),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",  # a throwaway: no need to wait for the disk
                ],
                check=True,
                env={"PGPASSWORD": password},
            )
            # later lines win: the standby's own port
            standby._set_port()
            standby.start()
            wait_until(lambda: self.streaming_to() >= 1, 30, interval=0.1, message="standby not streaming")
        except BaseException:
            standby.destroy()
            raise
        return standby

    def set_synchronous(self, synchronous: bool) -> None:
        """``synchronous_standby_names = '*'`` (a commit returns once a standby has flushed its
        WAL; ``synchronous_commit`` stays ``on``) or ``''`` (asynchronous), reloaded; with it on,
        returns once the standby is the synchronous one."""
        names = "'*'" if synchronous else "''"
        self._psql("postgres", f"ALTER SYSTEM SET synchronous_standby_names = {names}")
        self._psql("postgres", "ALTER SYSTEM SET synchronous_commit = 'on'")
        self._psql("postgres", "SELECT pg_reload_conf()")
        expected = "sync" if synchronous else "async"
        wait_until(
            lambda: expected in self._psql("postgres", "SELECT sync_state FROM pg_stat_replication"),
            30,
            interval=0.1,
            message=f"the standby did not become {expected}",
        )

    def streaming_to(self) -> int:
        """How many standbys this server streams WAL to."""
        out = self._psql("postgres", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        return int(out.strip() or 0)

    def promote(self) -> None:
        """``pg_ctl promote -w``: the standby ends recovery and accepts writes."""
        self._run(["pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "promote"], check=True)


async def dump_database(source_url: str, dump: Path) -> None:
    """``pg_dump -Fc`` of the database at ``source_url`` into ``dump``."""
    command = [
        str(find_postgres_bindir() / "pg_dump"),
        "-Fc",
        "--no-owner",
        "-f",
        str(dump),
        "-d",
        source_url,
    ]
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)


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
