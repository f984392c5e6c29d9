"""The private PostGIS cluster gridsvc runs for itself when no database URL is configured.

The cluster lives under a project-local folder (``.gridsvc/`` by default), listens on
127.0.0.1 only, and authenticates with a generated password (scram-sha-256) kept in a
0600 file beside it. PostgreSQL refuses to run as root, so when gridsvc runs as root
the cluster is owned and run by an unprivileged OS user (``gridsvc`` by default),
created on first use.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gridsvc.settings import Settings

DATABASE_NAME = "gridsvc"  # also spelled out in _ensure_database
ROLE_NAME = "gridsvc"


class EmbeddedClusterError(RuntimeError):
    """The private cluster could not be created or started; the message says why."""


def find_postgres_bindir() -> Path:
    """Return the ``bin`` folder of the newest PostgreSQL install that has PostGIS."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        version = bindir.parent.name
        if (Path("/usr/share/postgresql") / version / "extension" / "postgis.control").exists():
            return bindir
    if candidates:
        raise EmbeddedClusterError(
            f"PostgreSQL found in {candidates[0]} but PostGIS is missing: "
            "apt-get install postgresql-15-postgis-3"
        )
    raise EmbeddedClusterError(
        "no PostgreSQL server found: apt-get install postgresql-15 postgresql-15-postgis-3, "
        "or set GRIDSVC_DATABASE_URL"
    )


@dataclass(frozen=True)
class EmbeddedCluster:
    """Paths and commands of one private cluster."""

    base_dir: Path
    configured_port: int | None
    os_user: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedCluster:
        base = settings.embedded_dir.resolve()
        if os.geteuid() == 0 and not _reachable_by(settings.embedded_os_user, base):
            # A project under /root is not traversable by the unprivileged user; keep the
            # cluster in a per-project folder it can reach instead.
            digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
            base = Path("/var/lib/gridsvc") / digest
        return cls(base_dir=base, configured_port=settings.embedded_port, os_user=settings.embedded_os_user)

    @property
    def port(self) -> int:
        """The configured port, else the one chosen when the cluster was created."""
        if self.configured_port is not None:
            return self.configured_port
        if self.port_file.exists():
            return int(self.port_file.read_text().strip())
        return _free_port()

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.base_dir / "port"

    @property
    def password_file(self) -> Path:
        return self.base_dir / "password"

    @property
    def runs_as_other_user(self) -> bool:
        return os.geteuid() == 0

    def url(self, database: str = DATABASE_NAME) -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{ROLE_NAME}:{password}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -----------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def up(self) -> None:
        """Create the cluster if needed, start it, and make sure the database has PostGIS."""
        with self._lock():
            if not self.is_initialised():
                self._initdb()
            if not self.is_running():
                self._run(
                    ["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "start"],
                    check=True,
                )
            self._ensure_database()

    def down(self, *, mode: str = "fast") -> None:
        """Stop the cluster; ``mode="immediate"`` is a crash as clients see it (fault tests)."""
        with self._lock():
            if self.is_running():
                self._run(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"], check=True)

    def status(self) -> str:
        if not self.is_initialised():
            return f"not created (would live in {self.base_dir})"
        state = "running" if self.is_running() else "stopped"
        return f"{state}: {self.data_dir}, 127.0.0.1:{self.port}, log {self.log_file}"

    # -- internals -----------------------------------------------------------------

    def _initdb(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.runs_as_other_user:
            _ensure_os_user(self.os_user)
        # Several checkouts on one machine each get their own cluster, so each needs a port.
        self.port_file.write_text(f"{self.port}\n")
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)
        self._give_to_user(self.base_dir)
        self._give_to_user(self.password_file)
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                ROLE_NAME,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth=scram-sha-256",
                f"--pwfile={self.password_file}",
            ],
            check=True,
        )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                "\n# gridsvc private cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                # No unix socket: a deep project path would exceed the 107-byte limit.
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
            )

    def _ensure_database(self) -> None:
        exists = self._psql("postgres", "SELECT 1 FROM pg_database WHERE datname = 'gridsvc'")
        if exists.strip() != "1":
            self._psql("postgres", "CREATE DATABASE gridsvc")
        self._psql(DATABASE_NAME, "CREATE EXTENSION IF NOT EXISTS postgis")

    def _psql(self, database: str, sql: str) -> str:
        env = {"PGPASSWORD": self.password_file.read_text().strip()}
        result = self._run(
            [
                "psql",
                "-X",
                "-q",
                "-t",
                "-A",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                ROLE_NAME,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            env=env,
        )
        return result.stdout

    def _run(
        self, argv: list[str], *, check: bool, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        bindir = find_postgres_bindir()
        command = [str(bindir / argv[0]), *argv[1:]]
        full_env = {**os.environ, **(env or {})}
        if self.runs_as_other_user:
            command = ["runuser", "-u", self.os_user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, env=full_env, cwd="/", check=False)
        if check and result.returncode != 0:
            raise EmbeddedClusterError(
                f"{argv[0]} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}  [log: {self.log_file}]"
            )
        return result

    def _give_to_user(self, path: Path) -> None:
        if self.runs_as_other_user:
            shutil.chown(path, user=self.os_user, group=self.os_user)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / "cluster.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port(first: int = 55432, last: int = 55632) -> int:
    for port in range(first, last):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise EmbeddedClusterError(f"no free port between {first} and {last}; set GRIDSVC_EMBEDDED_PORT")


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can traverse every parent of ``path`` (so it can own a folder there)."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        _ensure_os_user(user)
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(probe)], capture_output=True, check=False
    )
    return result.returncode == 0


def resolve_database_url(settings: Settings, *, start: bool = True) -> str:
    """The database URL to use: the configured one, else the private cluster's (started)."""
    if settings.database_url:
        return settings.database_url
    cluster = EmbeddedCluster.from_settings(settings)
    if start:
        cluster.up()
    return cluster.url()
