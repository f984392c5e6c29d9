"""The county's holiday calendar: public holidays and make-up working days (调休).

Rows of ``calendar_days`` apply to one jurisdiction, or to all (``jurisdiction_code`` '*').
A day without a row is a working day from Monday to Friday and a day off on Saturday and
Sunday; a row overrides that (``working`` false: a holiday; true: a make-up working day). A
row for the jurisdiction itself wins over the '*' row of the same day.

What the events core calls: :func:`load_calendar`, then
:func:`gridsvc.calendar.worktime.deadline`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, time
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg

from gridsvc.calendar import queries
from gridsvc.calendar.worktime import DEFAULT_WINDOWS, WorkCalendar
from gridsvc.settings import PROJECT_ROOT

ALL = "*"
CN_2026_FILE = PROJECT_ROOT / "geodata" / "calendar_cn_2026.csv"
TRUE_WORDS = {"true", "t", "1", "yes", "y", "working", "work", "上班", "班"}
FALSE_WORDS = {"false", "f", "0", "no", "n", "holiday", "off", "休息", "休", "放假"}

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class CalendarError(ValueError):
    """A calendar row or file that cannot be used; the message names row and problem."""


async def load_calendar(
    connection: Connection,
    *,
    jurisdiction_code: str,
    timezone: str,
    windows: tuple[tuple[time, time], ...] = DEFAULT_WINDOWS,
) -> WorkCalendar:
    """The working calendar of a jurisdiction: the '*' rows, overridden by its own rows."""
    status: dict[date, tuple[bool, str | None]] = {}
    for row in await connection.fetch(queries.DAYS_FOR, jurisdiction_code):
        status[row["day"]] = (row["working"], row["name"])  # '*' first, own row after
    return WorkCalendar(
        timezone,
        holidays=[d for d, (working, _) in status.items() if not working],
        workdays=[d for d, (working, _) in status.items() if working],
        windows=windows,
        names={d: name for d, (_, name) in status.items() if name},
    )


async def list_days(
    connection: Connection, *, jurisdiction: str | None = None, year: int | None = None
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.LIST, jurisdiction, year)]


async def _check_jurisdiction(connection: Connection, code: str) -> None:
    if code != ALL and not await connection.fetchval(queries.JURISDICTION_EXISTS, code):
        raise CalendarError(f"unknown jurisdiction {code!r} (use '*' for every jurisdiction)")


async def set_day(
    connection: Connection, *, jurisdiction_code: str, day: date, working: bool, name: str | None = None
) -> dict[str, Any]:
    """Mark one day a holiday (``working=False``) or a working day, for one or all ('*')."""
    await _check_jurisdiction(connection, jurisdiction_code)
    row = await connection.fetchrow(
        queries.UPSERT, jurisdiction_code, day, working, (name or "").strip() or None
    )
    return dict(row)


async def delete_day(connection: Connection, *, jurisdiction_code: str, day: date) -> dict[str, Any] | None:
    """Remove a row (the day falls back to the '*' row or the weekday rule); None if absent."""
    row = await connection.fetchrow(queries.DELETE, jurisdiction_code, day)
    return dict(row) if row is not None else None


def parse_working(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"working must be true or false, not {text!r}")


def read_days(path: Path) -> list[tuple[str, date, bool, str | None]]:
    """Rows (jurisdiction_code, day, working, name) of a CSV ``day,working,name[,jurisdiction_code]``.

    Lines starting with ``#`` before the header are comments. Row numbers in errors are
    the file's line numbers.
    """
    if not path.exists():
        raise CalendarError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarError(f"{path}: not UTF-8 text") from None
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and (not lines[skipped].strip() or lines[skipped].lstrip().startswith("#")):
        skipped += 1
    if skipped == len(lines):
        raise CalendarError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO("".join(lines[skipped:]), newline=""))
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in ("day", "working") if c not in header]
    if missing:
        raise CalendarError(
            f"{path} line {skipped + 1}: missing column(s) {', '.join(missing)} "
            f"(expected day,working,name[,jurisdiction_code])"
        )
    column: dict[str, int] = {
        name: header.index(name) for name in ("day", "working", "name", "jurisdiction_code") if name in header
    }
    rows: list[tuple[str, date, bool, str | None]] = []
    first: dict[tuple[str, date], int] = {}
    for number, record in enumerate(reader, start=skipped + 2):
        if not any(cell.strip() for cell in record):
            continue

        def cell(name: str, record: list[str] = record) -> str:
            index = column.get(name)
            return record[index].strip() if index is not None and index < len(record) else ""

        try:
            day = date.fromisoformat(cell("day"))
            working = parse_working(cell("working"))
        except ValueError as error:
            raise CalendarError(f"{path} line {number}: {error}") from None
        code = cell("jurisdiction_code") or ALL
        key = (code, day)
        if key in first:
            raise CalendarError(f"{path} line {number}: {day} ({code}) is already on line {first[key]}")
        first[key] = number
        rows.append((code, day, working, cell("name") or None))
    return rows


async def import_file(connection: asyncpg.Connection, path: Path) -> dict[str, Any]:
    """Upsert every row of a calendar CSV, all or nothing."""
    rows = read_days(path)
    codes = sorted({r[0] for r in rows} - {ALL})
    known = {r["code"] for r in await connection.fetch(queries.KNOWN_JURISDICTIONS, codes)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise CalendarError(f"{path}: unknown jurisdiction(s) {', '.join(unknown)}")
    async with connection.transaction():
        await connection.executemany(queries.UPSERT, rows)
    return {
        "rows": len(rows),
        "holidays": sum(1 for r in rows if not r[2]),
        "working_days": sum(1 for r in rows if r[2]),
        "jurisdictions": sorted({r[0] for r in rows}),
    }
