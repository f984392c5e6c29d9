"""The matter catalogue (事项清单) and the county departments (主管部门).

What the events core calls: :func:`get_matter` and :func:`ensure_departments`.
"""

from __future__ import annotations

import asyncio
import csv
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg

from gridsvc.matters import queries
from gridsvc.matters.importer import Catalogue, MatterImportError, read_catalogue
from gridsvc.settings import PROJECT_ROOT

DEPARTMENTS_FILE = PROJECT_ROOT / "geodata" / "departments.csv"
HANDLING_LEVELS = ("township", "grid")

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class MatterError(ValueError):
    """A request about matters that cannot be carried out (unknown code, bad value)."""


class MatterNotFound(MatterError):
    """No matter has that code."""


# -- departments ---------------------------------------------------------------------


def read_departments(path: Path) -> list[tuple[str, str, str]]:
    """(code, name, name_zh) rows of a departments CSV; raises ValueError naming the row."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("code", "name", "name_zh") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        for number, record in enumerate(reader, start=2):
            code, name, name_zh = ((record.get(c) or "").strip() for c in ("code", "name", "name_zh"))
            if not code or not name or not name_zh:
                raise ValueError(f"{path} row {number}: code, name and name_zh are required")
            rows.append((code, name, name_zh))
    return rows


async def ensure_departments(connection: asyncpg.Connection, *, path: Path) -> int:
    """Upsert the county departments from a CSV (code, name, name_zh); returns how many."""
    rows = read_departments(path)
    async with connection.transaction():
        await connection.executemany(queries.UPSERT_DEPARTMENT, rows)
    return len(rows)


async def list_departments(connection: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.DEPARTMENTS)]


# -- reading matters -----------------------------------------------------------------


def _condition(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    row.pop("matter_code", None)
    amount = row["limit_amount"]
    row["limit_amount"] = float(amount) if isinstance(amount, Decimal) else amount
    return row


async def _with_conditions(connection: Connection, matters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_code = {m["code"]: m for m in matters}
    for matter in matters:
        matter["conditions"] = []
    if by_code:
        for record in await connection.fetch(queries.CONDITIONS, list(by_code)):
            by_code[record["matter_code"]]["conditions"].append(_condition(record))
    return matters


async def get_matter(connection: Connection, *, code: str) -> dict[str, Any] | None:
    """The matter row plus ``conditions`` (position, filing_condition, closing_condition,
    time_limit_text, limit_amount (float hours/days or None), limit_unit), or None."""
    record = await connection.fetchrow(queries.MATTER, code)
    if record is None:
        return None
    return (await _with_conditions(connection, [dict(record)]))[0]


_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
_CACHE_SECONDS = 10.0


async def cached_matter(connection: Connection, *, code: str) -> dict[str, Any] | None:
    """The matter with its conditions, kept 10 s: intake reads it for every work order. A
    change made through this process (:func:`update_matter`) applies at once; one made by
    another process (the CLI, another worker) may take that long."""
    hit = _cache.get(code)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    matter = await get_matter(connection, code=code)
    _cache[code] = (time.monotonic(), matter)
    return matter


async def list_matters(
    connection: Connection, *, kind: str | None = None, q: str | None = None
) -> list[dict[str, Any]]:
    """Matters (with conditions) of one kind and/or matching ``q`` in code, names, conditions."""
    matters = [dict(r) for r in await connection.fetch(queries.MATTERS, kind, q or None)]
    return await _with_conditions(connection, matters)


async def counts(connection: Connection) -> dict[str, dict[str, int]]:
    return {
        r["kind"]: {"matters": r["matters"], "conditions": r["conditions"]}
        for r in await connection.fetch(queries.COUNTS)
    }


# -- writing matters -----------------------------------------------------------------


async def import_catalogue(
    connection: asyncpg.Connection, catalogue: Catalogue, *, departments_path: Path = DEPARTMENTS_FILE
) -> dict[str, Any]:
    """Upsert the matters of ``catalogue`` and replace their conditions, in one transaction.

    The departments CSV is upserted first (owner departments reference it). Matters in the
    database but not in the catalogue are left alone (events may reference them).
    Returns the import report.
    """
    departments = read_departments(departments_path)
    known = {code for code, _, _ in departments}
    for matter in catalogue.matters:
        if matter.owner_department is not None and matter.owner_department not in known:
            raise MatterImportError(
                f"{matter.source} row {matter.first_row}: department "
                f"{matter.owner_department!r} is not in {departments_path}"
            )
    created = updated = 0
    async with connection.transaction():
        await connection.executemany(queries.UPSERT_DEPARTMENT, departments)
        await connection.execute(queries.DELETE_CONDITIONS, [m.code for m in catalogue.matters])
        for matter in catalogue.matters:
            try:
                inserted = await connection.fetchval(
                    queries.UPSERT_MATTER,
                    matter.code,
                    matter.kind,
                    matter.major_code,
                    matter.major_name,
                    matter.minor_code,
                    matter.name,
                    matter.handling_unit,
                    matter.supervising_department,
                    matter.owner_department,
                    matter.source,
                )
                await connection.executemany(
                    queries.INSERT_CONDITION,
                    [
                        (
                            matter.code,
                            c.position,
                            c.filing_condition,
                            c.closing_condition,
                            c.time_limit_text,
                            None if c.limit_amount is None else Decimal(repr(c.limit_amount)),
                            c.limit_unit,
                        )
                        for c in matter.conditions
                    ],
                )
            except asyncpg.PostgresError as error:
                raise MatterImportError(
                    f"{matter.source} rows {matter.first_row}–{matter.last_row} ({matter.code}): "
                    f"the database refused it ({error}); nothing imported"
                ) from None
            if inserted:
                created += 1
            else:
                updated += 1
    by_kind: dict[str, dict[str, int]] = {}
    for matter in catalogue.matters:
        entry = by_kind.setdefault(matter.kind, {"matters": 0, "conditions": 0, "classes": 0})
        entry["matters"] += 1
        entry["conditions"] += len(matter.conditions)
    for kind, entry in by_kind.items():
        entry["classes"] = len({m.major_code for m in catalogue.matters if m.kind == kind})
    return {
        "by_kind": by_kind,
        "matters": len(catalogue.matters),
        "conditions": sum(len(m.conditions) for m in catalogue.matters),
        "created": created,
        "updated": updated,
        "sources": catalogue.sources,
        "unparsed": catalogue.unparsed,
        "unmatched_departments": catalogue.unmatched_departments,
    }


async def import_files(
    connection: asyncpg.Connection,
    paths: list[Path],
    *,
    kind: str | None = None,
    sheet: str | None = None,
    departments_path: Path = DEPARTMENTS_FILE,
) -> dict[str, Any]:
    """Read every file first (any error: nothing written), then import them together."""
    catalogue = Catalogue()
    for path in paths:
        part = await asyncio.to_thread(read_catalogue, path, kind=kind, sheet=sheet)
        catalogue.extend(part)
    return await import_catalogue(connection, catalogue, departments_path=departments_path)


_UNSET: Any = object()


async def update_matter(
    connection: Connection,
    *,
    code: str,
    auto_dispatch: bool | None = None,
    handling_level: str | None = None,
    owner_department: str | None = _UNSET,
    auto_merge: bool | None = None,
    related_matters: list[str] | None = None,
) -> dict[str, Any]:
    """Set a matter's dispatch and 并单 options. ``owner_department=None`` clears the owner;
    leaving it out keeps it. A department set here survives later re-imports of the standard.
    ``related_matters`` replaces the set (the matter itself is left out: it always counts)."""
    if handling_level is not None and handling_level not in HANDLING_LEVELS:
        raise MatterError(f"handling_level {handling_level!r} is not one of {', '.join(HANDLING_LEVELS)}")
    set_owner = owner_department is not _UNSET
    if (
        set_owner
        and owner_department is not None
        and not await connection.fetchval(queries.DEPARTMENT_EXISTS, owner_department)
    ):
        raise MatterError(f"unknown department {owner_department!r} (see GET /departments)")
    if related_matters is not None:
        related_matters = sorted({c for c in related_matters if c != code})
        missing = [r["c"] for r in await connection.fetch(queries.MISSING_MATTERS, related_matters)]
        if missing:
            raise MatterError(f"related_matters: unknown matter(s) {', '.join(missing)} (see GET /matters)")
    changed = await connection.fetchval(
        queries.UPDATE_MATTER,
        code,
        auto_dispatch,
        handling_level,
        set_owner,
        owner_department if set_owner else None,
        auto_merge,
        related_matters,
    )
    if changed is None:
        raise MatterNotFound(f"matter {code!r} does not exist")
    _cache.pop(code, None)
    matter = await get_matter(connection, code=code)
    assert matter is not None
    return matter
