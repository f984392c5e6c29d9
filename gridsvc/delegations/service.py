"""Delegation lists (赋权事项清单): the matters delegated to a township, with effective dates.

A township is keyed by its enforcement grid code (e.g. ``LI-VADUZ``). Each new list is the
next version of that township's list: it starts at its ``effective_from`` and closes the
previous version at that same instant (``effective_to``), so the versions of a township tile
time without gaps or overlaps and an old event still finds the list it was routed under.
A list may be smaller than the one before (Xinluo took back 94 of 180 matters).

Effective dates given as a date (or a naive datetime) are read in the township's time zone:
the ``timezone`` of the jurisdiction whose code equals the enforcement code, else that of
the jurisdiction whose enforcement layer has a grid with that code (the county), else
Asia/Shanghai.

What the events core calls: :func:`delegation_at`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import asyncpg

from gridsvc.calendar.worktime import localize
from gridsvc.delegations import queries
from gridsvc.textfiles import read_text

DEFAULT_TIMEZONE = "Asia/Shanghai"
Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class DelegationError(ValueError):
    """The list cannot be created (unknown matter codes, effective date, bad file)."""

    def __init__(
        self, message: str, *, problems: list[dict[str, Any]] | None = None, conflict: bool = False
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.conflict = conflict


def parse_effective(value: str) -> date | datetime:
    """``"2026-07-01"`` -> a date; an ISO datetime (with or without offset) -> a datetime."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise DelegationError(f"effective date {value!r} is not YYYY-MM-DD or an ISO datetime") from None


async def township_timezone(connection: Connection, enforcement_code: str) -> tuple[str, bool]:
    """(time zone, whether the code is known as a jurisdiction or enforcement grid)."""
    zone = await connection.fetchval(queries.TIMEZONE_FOR, enforcement_code)
    return (zone, True) if zone else (DEFAULT_TIMEZONE, False)


def as_instant(value: date | datetime, timezone: str) -> datetime:
    """A date -> its local midnight; a naive datetime -> local; an aware one unchanged."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        return localize(value, ZoneInfo(timezone))
    return value


def read_matter_codes(path: Path) -> tuple[list[str], list[int]]:
    """The ``matter_code`` column of a CSV: (codes, their row numbers; header = row 1)."""
    if not path.exists():
        raise DelegationError(f"{path}: file not found")
    text = read_text(path)
    if text is None:
        raise DelegationError(f"{path}: neither UTF-8 nor GB18030 text")
    if not text.strip():
        raise DelegationError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    if "matter_code" not in header:
        raise DelegationError(
            f"{path} row 1: no column matter_code (the header has: "
            f"{', '.join(h for h in header if h) or 'nothing'})"
        )
    index = header.index("matter_code")
    codes, rows = [], []
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        code = record[index].strip() if index < len(record) else ""
        if not code:
            raise DelegationError(f"{path} row {number}: empty matter_code")
        codes.append(code)
        rows.append(number)
    return codes, rows


async def create_list(
    connection: asyncpg.Connection,
    *,
    enforcement_code: str,
    effective_from: date | datetime,
    matter_codes: Sequence[str],
    name: str | None = None,
    source: str | None = None,
    rows: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Create the next version of a township's list, closing the previous one.

    All or nothing. Refused (:class:`DelegationError`) when a matter code is unknown (each
    one named, with its row when ``rows`` gives them) or when ``effective_from`` is not
    after the latest version's ``effective_from``. Duplicated codes are kept once and
    reported. Returns the new list with ``added`` / ``removed`` against the previous one.
    """
    enforcement_code = enforcement_code.strip()
    if not enforcement_code:
        raise DelegationError("enforcement_code is required")
    where = source or "the list"
    codes: list[str] = []
    duplicates: list[dict[str, Any]] = []
    first_row: dict[str, int | None] = {}
    for position, raw in enumerate(matter_codes):
        code = raw.strip()
        row = rows[position] if rows is not None else None
        if code in first_row:
            duplicates.append({"matter_code": code, "row": row, "first_row": first_row[code]})
            continue
        first_row[code] = row
        codes.append(code)
    zone, known = await township_timezone(connection, enforcement_code)
    start = as_instant(effective_from, zone)
    warnings = (
        []
        if known
        else [
            f"{enforcement_code} is neither a jurisdiction nor an enforcement grid; effective "
            f"dates read in {DEFAULT_TIMEZONE}"
        ]
    )
    async with connection.transaction():
        unknown = [r["code"] for r in await connection.fetch(queries.UNKNOWN_MATTERS, codes)]
        if unknown:
            problems = [{"matter_code": c, "row": first_row[c], "index": codes.index(c)} for c in unknown]
            named = ", ".join(
                f"row {p['row']}: {p['matter_code']}" if p["row"] is not None else p["matter_code"]
                for p in problems[:20]
            )
            more = f" and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DelegationError(
                f"{where}: {len(unknown)} unknown matter code(s), nothing imported: {named}{more}",
                problems=problems,
            )
        await connection.execute(queries.LOCK_TOWNSHIP, enforcement_code)
        latest = await connection.fetchrow(queries.LATEST, enforcement_code)
        previous_codes: set[str] = set()
        if latest is not None:
            if start <= latest["effective_from"]:
                raise DelegationError(
                    f"{enforcement_code}: the new list would take effect at {start.isoformat()}, "
                    f"not after version {latest['version']} ({latest['name']}), in force from "
                    f"{latest['effective_from'].astimezone(start.tzinfo).isoformat()}; a new "
                    "version must start later than the latest one",
                    conflict=True,
                )
            previous_codes = {
                r["matter_code"] for r in await connection.fetch(queries.ITEM_CODES, latest["id"])
            }
            await connection.execute(queries.CLOSE_LIST, latest["id"], start)
        version = 1 if latest is None else latest["version"] + 1
        list_name = (name or "").strip() or f"{enforcement_code} 赋权事项清单 v{version}"
        list_id = await connection.fetchval(
            queries.INSERT_LIST, enforcement_code, version, list_name, start, source
        )
        await connection.execute(queries.INSERT_ITEMS, list_id, codes)
    result = await get_list(connection, list_id=list_id, with_items=False)
    assert result is not None
    result.update(
        {
            "timezone": zone,
            "added": sorted(set(codes) - previous_codes) if latest is not None else sorted(codes),
            "removed": sorted(previous_codes - set(codes)),
            "previous": None
            if latest is None
            else {"id": latest["id"], "version": latest["version"], "effective_to": start},
            "duplicates": duplicates,
            "warnings": warnings,
        }
    )
    return result


async def import_file(
    connection: asyncpg.Connection,
    path: Path,
    *,
    enforcement_code: str,
    effective_from: date | datetime,
    name: str | None = None,
) -> dict[str, Any]:
    """``gridsvc delegations import``: a CSV with a ``matter_code`` column."""
    codes, rows = read_matter_codes(path)
    return await create_list(
        connection,
        enforcement_code=enforcement_code,
        effective_from=effective_from,
        matter_codes=codes,
        name=name,
        source=str(path),
        rows=rows,
    )


async def delegation_at(
    connection: Connection, *, enforcement_code: str, matter_code: str, at: datetime
) -> dict[str, Any] | None:
    """The township's list in force at ``at`` (aware) and whether it delegates the matter.

    ``{"list_id", "version", "name", "effective_from", "effective_to", "delegated"}``, or
    None when the township has no list in force at that instant.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("delegation_at needs an aware datetime")
    row = await connection.fetchrow(queries.IN_FORCE, enforcement_code, matter_code, at)
    return dict(row) if row is not None else None


async def list_versions(
    connection: Connection, *, enforcement_code: str | None = None
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.VERSIONS, enforcement_code)]


async def get_list(connection: Connection, *, list_id: int, with_items: bool = True) -> dict[str, Any] | None:
    row = await connection.fetchrow(queries.LIST, list_id)
    if row is None:
        return None
    result = dict(row)
    if with_items:
        result["matters"] = [dict(r) for r in await connection.fetch(queries.ITEMS, list_id)]
    return result
