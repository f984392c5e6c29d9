"""Apply the numbered plain-SQL files in ``migrations/``, each in its own transaction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gridsvc.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
_FILE_PATTERN = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every gridsvc process.
_ADVISORY_LOCK_KEY = 0x67726964737663

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    filename   text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, was edited after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNN_description.sql")
        migrations.append(Migration(version=match.group(1), path=path))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"{directory}: two migration files share a number")
    return migrations


async def upgrade(connection: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the file names applied (empty if up to date)."""
    applied_now: list[str] = []
    await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await connection.execute(_BOOKKEEPING)
        rows = await connection.fetch("SELECT version, filename, checksum FROM schema_migrations")
        applied = {row["version"]: row for row in rows}
        for migration in discover(directory):
            previous = applied.get(migration.version)
            if previous is not None:
                if previous["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            try:
                async with connection.transaction():
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, filename, checksum) VALUES ($1, $2, $3)",
                        migration.version,
                        migration.path.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as error:
                raise MigrationError(f"{migration.path.name} failed: {error}") from error
            applied_now.append(migration.path.name)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    return applied_now


async def pending(connection: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[str] = set()
    if exists:
        done = {r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")}
    return [m.path.name for m in discover(directory) if m.version not in done]
