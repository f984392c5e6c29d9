"""Working time and the holiday calendar.

Deadline arithmetic runs over calendars the tests build themselves (never over the shipped
geodata/calendar_cn_2026.csv, whose correctness the tests must not depend on). Database
tests use their own jurisdictions, and '*' rows only inside transactions rolled back, so
that other tests' deadlines are not disturbed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from typer.testing import CliRunner

from gridsvc.calendar import service
from gridsvc.calendar.worktime import (
    WorkCalendar,
    WorkCalendarError,
    deadline,
    is_overdue,
    is_working_instant,
    localize,
    next_working_instant,
    remaining,
    working_time_between,
)
from gridsvc.jurisdictions import service as jurisdictions
from tests.checks import present

SH = ZoneInfo("Asia/Shanghai")
VADUZ = ZoneInfo("Europe/Vaduz")

# A calendar like China's around Labour Day 2026, written here (not read from geodata):
# Fri 1 May – Tue 5 May off, Saturday 9 May a make-up working day (调休).
LABOUR_DAY = [date(2026, 5, d) for d in range(1, 6)]
MAKE_UP = [date(2026, 5, 9)]


@pytest.fixture
def cn() -> WorkCalendar:
    return WorkCalendar("Asia/Shanghai", holidays=LABOUR_DAY, workdays=MAKE_UP)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def vz(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VADUZ, fold=fold)


def elapsed(a: datetime, b: datetime) -> timedelta:
    """Real time between two instants (Python subtracts same-zone datetimes on the wall clock)."""
    return b.astimezone(UTC) - a.astimezone(UTC)


# -- working days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (sh(2026, 3, 6, 10, 0), 1, sh(2026, 3, 9, 10, 0)),  # Friday -> Monday, over a weekend
        (sh(2026, 3, 6, 10, 0), 3, sh(2026, 3, 11, 10, 0)),
        (sh(2026, 3, 9, 10, 0), 5, sh(2026, 3, 16, 10, 0)),  # a whole week
        (sh(2026, 4, 30, 10, 0), 1, sh(2026, 5, 6, 10, 0)),  # over Labour Day
        (sh(2026, 5, 8, 10, 0), 1, sh(2026, 5, 9, 10, 0)),  # onto the make-up Saturday
        (sh(2026, 5, 9, 10, 0), 1, sh(2026, 5, 11, 10, 0)),  # from the make-up Saturday
        (sh(2026, 4, 27, 10, 0), 15, sh(2026, 5, 20, 10, 0)),  # "15天" for illegal construction
        (sh(2026, 3, 6, 18, 0), 1, sh(2026, 3, 10, 8, 30)),  # after hours: from Monday 08:30
        (sh(2026, 3, 9, 7, 0), 1, sh(2026, 3, 10, 8, 30)),  # before hours
        (sh(2026, 3, 9, 12, 30), 1, sh(2026, 3, 10, 14, 0)),  # lunch break: from 14:00
        (sh(2026, 3, 9, 12, 0), 1, sh(2026, 3, 10, 14, 0)),  # 12:00 is outside (half-open)
        (sh(2026, 3, 8, 11, 0), 1, sh(2026, 3, 10, 8, 30)),  # Sunday
        (sh(2026, 5, 2, 11, 0), 1, sh(2026, 5, 7, 8, 30)),  # a holiday
        (sh(2026, 3, 9, 8, 30), 0.5, sh(2026, 3, 9, 12, 0)),  # half a day = 3.5 working hours
        (sh(2026, 3, 9, 10, 0), 1.5, sh(2026, 3, 10, 15, 30)),
    ],
)
def test_working_days(cn: WorkCalendar, start: datetime, amount: float, due: datetime) -> None:
    result = deadline(start, amount, "working_days", cn)
    assert result == due
    assert result.tzinfo == SH and result.utcoffset() == timedelta(hours=8)


# -- working hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (sh(2026, 3, 9, 9, 0), 2, sh(2026, 3, 9, 11, 0)),
        (sh(2026, 3, 9, 11, 0), 2, sh(2026, 3, 9, 15, 0)),  # spans lunch
        (sh(2026, 3, 9, 9, 30), 6, sh(2026, 3, 9, 17, 30)),  # used up at the window's end
        (sh(2026, 3, 9, 16, 30), 2, sh(2026, 3, 10, 9, 30)),  # overnight
        (sh(2026, 3, 6, 17, 0), 1, sh(2026, 3, 9, 9, 0)),  # over a weekend
        (sh(2026, 4, 30, 17, 0), 1, sh(2026, 5, 6, 9, 0)),  # over Labour Day
        (sh(2026, 5, 8, 17, 0), 1, sh(2026, 5, 9, 9, 0)),  # onto the make-up Saturday
        (sh(2026, 3, 7, 10, 0), 7, sh(2026, 3, 9, 17, 30)),  # from a Saturday: Monday's 7 h
        (sh(2026, 3, 9, 20, 0), 0.25, sh(2026, 3, 10, 8, 45)),
        (sh(2026, 3, 9, 9, 0), 14, sh(2026, 3, 11, 9, 0)),
    ],
)
def test_working_hours(cn: WorkCalendar, start: datetime, amount: float, due: datetime) -> None:
    assert deadline(start, amount, "working_hours", cn) == due


def test_clock_hours_and_calendar_days_ignore_the_calendar(cn: WorkCalendar) -> None:
    # 紧急: the clock runs around the clock, through the night and the holiday
    assert deadline(sh(2026, 4, 30, 23, 0), 2, "clock_hours", cn) == sh(2026, 5, 1, 1, 0)
    assert deadline(sh(2026, 5, 2, 12, 0), 0.5, "clock_hours", cn) == sh(2026, 5, 2, 12, 30)
    assert deadline(sh(2026, 4, 30, 10, 0), 2, "calendar_days", cn) == sh(2026, 5, 2, 10, 0)
    assert deadline(sh(2026, 4, 30, 10, 0), 1.5, "calendar_days", cn) == sh(2026, 5, 1, 22, 0)


def test_time_zones(cn: WorkCalendar) -> None:
    """The same instant is Friday 10:00 in Shanghai but Friday 03:00 in Vaduz."""
    start = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
    vaduz = WorkCalendar("Europe/Vaduz")
    assert deadline(start, 1, "working_days", cn) == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
    in_vaduz = deadline(start, 1, "working_days", vaduz)
    assert in_vaduz == vz(2026, 3, 9, 8, 30) == datetime(2026, 3, 9, 7, 30, tzinfo=UTC)
    assert in_vaduz.tzinfo == VADUZ
    # the result is in the calendar's zone whatever zone the start came in
    assert deadline(start.astimezone(VADUZ), 2, "clock_hours", cn).tzinfo == SH
    assert deadline(start, 2, "working_hours", vaduz) == vz(2026, 3, 6, 10, 30)


def test_daylight_saving_time_in_vaduz() -> None:
    """DST starts Sunday 29 March 2026 (02:00 -> 03:00) and ends 25 October (03:00 -> 02:00)."""
    vaduz = WorkCalendar("Europe/Vaduz")
    saturday_noon = vz(2026, 3, 28, 12, 0)
    # 24 clock hours are 24 real hours: the wall clock reads 13:00 after the change
    assert deadline(saturday_noon, 24, "clock_hours", vaduz) == vz(2026, 3, 29, 13, 0)
    # one calendar day keeps the wall-clock time: 23 real hours that day
    after_one_day = deadline(saturday_noon, 1, "calendar_days", vaduz)
    assert after_one_day == vz(2026, 3, 29, 12, 0)
    assert elapsed(saturday_noon, after_one_day) == timedelta(hours=23)
    assert after_one_day.utcoffset() == timedelta(hours=2)
    # a wall-clock time that does not exist moves forward by the gap
    assert deadline(vz(2026, 3, 28, 2, 30), 1, "calendar_days", vaduz) == vz(2026, 3, 29, 3, 30)
    # working days: Friday 10:00 CET -> Monday 10:00 CEST (09:00 UTC -> 08:00 UTC)
    monday = deadline(vz(2026, 3, 27, 10, 0), 1, "working_days", vaduz)
    assert monday == vz(2026, 3, 30, 10, 0)
    assert monday.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert deadline(vz(2026, 3, 27, 17, 0), 1, "working_hours", vaduz) == vz(2026, 3, 30, 9, 0)
    # autumn: the day has 25 hours
    autumn = deadline(vz(2026, 10, 24, 12, 0), 1, "calendar_days", vaduz)
    assert autumn == vz(2026, 10, 25, 12, 0) and autumn.utcoffset() == timedelta(hours=1)
    assert elapsed(vz(2026, 10, 24, 12, 0), autumn) == timedelta(hours=25)
    assert deadline(vz(2026, 10, 25, 1, 0), 3, "clock_hours", vaduz) == vz(2026, 10, 25, 3, 0)
    # the repeated hour: 02:30 happens twice; localize takes the first
    assert localize(datetime(2026, 10, 25, 2, 30), VADUZ).utcoffset() == timedelta(hours=2)


def test_custom_windows_and_weekend() -> None:
    office = WorkCalendar("Europe/Vaduz", windows=[(time(9, 0), time(18, 0))])
    assert deadline(vz(2026, 3, 9, 17, 0), 2, "working_hours", office) == vz(2026, 3, 10, 10, 0)
    assert office.day_length == timedelta(hours=9)
    six_days = WorkCalendar("Asia/Shanghai", weekend=[6])  # only Sunday off
    assert deadline(sh(2026, 3, 6, 10, 0), 1, "working_days", six_days) == sh(2026, 3, 7, 10, 0)


def test_remaining_and_helpers(cn: WorkCalendar) -> None:
    due = deadline(sh(2026, 4, 30, 17, 0), 1, "working_hours", cn)
    assert due == sh(2026, 5, 6, 9, 0)
    now = sh(2026, 5, 3, 12, 0)
    assert remaining(now, due, calendar=cn, working=True) == timedelta(minutes=30)
    assert remaining(now, due) == timedelta(days=2, hours=21)
    assert remaining(sh(2026, 5, 6, 10, 0), due, calendar=cn, working=True) == timedelta(hours=-1)
    assert working_time_between(sh(2026, 3, 9, 0, 0), sh(2026, 3, 16, 0, 0), cn) == timedelta(hours=35)
    assert is_overdue(sh(2026, 5, 6, 9, 0), due) and not is_overdue(sh(2026, 5, 6, 8, 59), due)
    assert not is_overdue(now, None)
    assert is_working_instant(sh(2026, 5, 9, 9, 0), cn)  # make-up Saturday
    assert not is_working_instant(sh(2026, 5, 4, 9, 0), cn)  # holiday Monday
    assert next_working_instant(sh(2026, 5, 1, 9, 0), cn) == sh(2026, 5, 6, 8, 30)


def test_deadline_refuses_bad_input(cn: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        deadline(datetime(2026, 3, 9, 10, 0), 1, "working_days", cn)
    with pytest.raises(ValueError, match="unit 'weeks'"):
        deadline(sh(2026, 3, 9, 10, 0), 1, "weeks", cn)
    for amount in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="amount"):
            deadline(sh(2026, 3, 9, 10, 0), amount, "clock_hours", cn)
    assert deadline(sh(2026, 3, 8, 10, 0), 0, "working_days", cn) == sh(2026, 3, 8, 10, 0)
    with pytest.raises(WorkCalendarError, match="both holiday and working day"):
        WorkCalendar(holidays=[date(2026, 5, 9)], workdays=[date(2026, 5, 9)])
    with pytest.raises(WorkCalendarError, match="overlaps"):
        WorkCalendar(windows=[(time(8), time(12)), (time(11), time(17))])
    with pytest.raises(WorkCalendarError, match="start must be before"):
        WorkCalendar(windows=[(time(12), time(8))])
    never = WorkCalendar(weekend=range(7))
    with pytest.raises(WorkCalendarError, match="no working day"):
        deadline(sh(2026, 3, 9, 10, 0), 1, "working_days", never)


# -- the calendar in the database ------------------------------------------------------------


async def make_township(connection: asyncpg.Connection, timezone: str = "Asia/Shanghai") -> str:
    code = f"CAL-{uuid.uuid4().hex[:8]}"
    await jurisdictions.upsert(
        connection, code=code, name=code, level="township", boundary=None, timezone=timezone, source="tests"
    )
    return code


async def test_load_calendar_merges_all_and_own_rows(rollback: asyncpg.Connection) -> None:
    db = rollback
    code = await make_township(db)
    other = await make_township(db)
    # far from any date other tests use, and rolled back anyway
    await service.set_day(db, jurisdiction_code="*", day=date(2091, 5, 1), working=False, name="Labour Day")
    await service.set_day(
        db, jurisdiction_code="*", day=date(2091, 5, 5), working=True, name="调休"
    )  # a Saturday
    await service.set_day(
        db, jurisdiction_code=code, day=date(2091, 5, 1), working=True, name="local market day: open"
    )
    await service.set_day(
        db, jurisdiction_code=code, day=date(2091, 5, 3), working=False, name="local holiday"
    )
    assert date(2091, 5, 5).weekday() == 5

    own = await service.load_calendar(db, jurisdiction_code=code, timezone="Asia/Shanghai")
    assert own.is_working_day(date(2091, 5, 1))  # own row beats '*'
    assert not own.is_working_day(date(2091, 5, 3))
    assert own.is_working_day(date(2091, 5, 5))  # '*' make-up Saturday
    assert not own.is_working_day(date(2091, 5, 6))  # plain Sunday
    assert own.names[date(2091, 5, 3)] == "local holiday"

    theirs = await service.load_calendar(db, jurisdiction_code=other, timezone="Europe/Vaduz")
    assert not theirs.is_working_day(date(2091, 5, 1))
    assert theirs.is_working_day(date(2091, 5, 3))
    assert theirs.timezone == VADUZ
    # Wednesday 2 May 10:00 + 2 working days: over Thu 3 (local holiday for `code` only)
    start = datetime(2091, 5, 2, 10, 0, tzinfo=SH)
    assert deadline(start, 2, "working_days", own) == datetime(2091, 5, 5, 10, 0, tzinfo=SH)
    assert deadline(start.astimezone(VADUZ), 2, "working_days", theirs).date() == date(2091, 5, 4)

    listed = await service.list_days(db, jurisdiction=code, year=2091)
    assert [(r["jurisdiction_code"], r["day"]) for r in listed] == [
        ("*", date(2091, 5, 1)),
        (code, date(2091, 5, 1)),
        (code, date(2091, 5, 3)),
        ("*", date(2091, 5, 5)),
    ]
    assert await service.list_days(db, jurisdiction=code, year=2090) == []
    with pytest.raises(service.CalendarError, match="unknown jurisdiction 'NOPE-X'"):
        await service.set_day(db, jurisdiction_code="NOPE-X", day=date(2091, 1, 1), working=False)
    assert present(await service.delete_day(db, jurisdiction_code=code, day=date(2091, 5, 1)))["working"]
    assert await service.delete_day(db, jurisdiction_code=code, day=date(2091, 5, 1)) is None
    again = await service.load_calendar(db, jurisdiction_code=code, timezone="Asia/Shanghai")
    assert not again.is_working_day(date(2091, 5, 1))  # back to the '*' row


async def test_import_csv(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    db = rollback
    code = await make_township(db)
    good = tmp_path / "days.csv"
    good.write_text(
        "# a comment line\nday,working,name,jurisdiction_code\n"
        f"2092-01-01,false,New Year,{code}\n"
        f"2092-01-05,true,调休,{code}\n"
        f"2092-01-02,休,假,{code}\n\n",
        encoding="utf-8",
    )
    result = await service.import_file(db, good)
    assert result == {"rows": 3, "holidays": 2, "working_days": 1, "jurisdictions": [code]}
    calendar = await service.load_calendar(db, jurisdiction_code=code, timezone="Asia/Shanghai")
    assert {d for d in calendar.holidays if d.year == 2092} == {date(2092, 1, 1), date(2092, 1, 2)}
    assert date(2092, 1, 5) in calendar.workdays

    before = await db.fetchval("SELECT count(*) FROM calendar_days")
    cases = {
        "bad_date.csv": (
            f"day,working,name,jurisdiction_code\n2092-02-01,false,a,{code}\n2092-02-30,false,b,{code}\n",
            r"bad_date\.csv line 3: .*day",
        ),
        "bad_working.csv": (
            "day,working,name\n2092-02-01,maybe,a\n",
            r"bad_working\.csv line 2: working must be true or false",
        ),
        "no_column.csv": (
            "date,working\n2092-02-01,false\n",
            r"no_column\.csv line 1: missing column\(s\) day",
        ),
        "empty.csv": ("\n", r"empty\.csv: the file is empty"),
        "twice.csv": (
            "day,working\n2092-02-01,false\n2092-02-01,true\n",
            r"twice\.csv line 3: 2092-02-01 \(\*\) is already on line 2",
        ),
        "unknown.csv": (
            "day,working,name,jurisdiction_code\n2092-02-01,false,a,NOPE-Y\n",
            r"unknown jurisdiction\(s\) NOPE-Y",
        ),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(service.CalendarError, match=pattern):
            await service.import_file(db, path)
    assert await db.fetchval("SELECT count(*) FROM calendar_days") == before


def test_shipped_2026_file_is_well_formed() -> None:
    """Only its form: the dates themselves are checked by people against the notice."""
    rows = service.read_days(service.CN_2026_FILE)
    assert {code for code, *_ in rows} == {"*"}
    assert all(day.year == 2026 for _, day, _, _ in rows)
    assert {working for _, _, working, _ in rows} == {True, False}
    assert all(day.weekday() >= 5 for _, day, working, _ in rows if working)


async def test_api_calendar(client, db: asyncpg.Connection) -> None:
    code = await make_township(db)
    try:
        url = f"/calendar/{code}/2093-10-01"
        response = client.put(url, json={"working": False, "name": "National Day"})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "jurisdiction_code": code,
            "day": "2093-10-01",
            "working": False,
            "name": "National Day",
        }
        assert client.put(url, json={"working": False, "name": "国庆节"}).json()["name"] == "国庆节"
        listed = client.get("/calendar", params={"jurisdiction": code, "year": 2093}).json()
        assert [(r["jurisdiction_code"], r["day"]) for r in listed if r["jurisdiction_code"] == code] == [
            (code, "2093-10-01")
        ]
        calendar = await service.load_calendar(db, jurisdiction_code=code, timezone="Asia/Shanghai")
        assert not calendar.is_working_day(date(2093, 10, 1))

        assert client.put("/calendar/NOPE-Z/2093-10-01", json={"working": False}).status_code == 404
        assert client.put(url, json={"name": "no working flag"}).status_code == 422
        assert client.put(f"/calendar/{code}/2093-13-01", json={"working": False}).status_code == 422
        assert client.get("/calendar", params={"year": "soon"}).status_code == 422

        assert client.delete(url).status_code == 200
        assert client.delete(url).status_code == 404
    finally:
        await db.execute("DELETE FROM calendar_days WHERE jurisdiction_code = $1", code)
        await db.execute("DELETE FROM jurisdictions WHERE code = $1", code)


def test_cli_calendar(database_url: str, monkeypatch, tmp_path: Path) -> None:
    import asyncio

    from gridsvc.cli import app
    from gridsvc.database.pool import connect
    from gridsvc.settings import get_settings

    async def setup() -> str:
        connection = await connect(database_url)
        try:
            return await make_township(connection)
        finally:
            await connection.close()

    async def cleanup(code: str) -> None:
        connection = await connect(database_url)
        try:
            await connection.execute("DELETE FROM calendar_days WHERE jurisdiction_code = $1", code)
            await connection.execute("DELETE FROM jurisdictions WHERE code = $1", code)
        finally:
            await connection.close()

    code = asyncio.run(setup())
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        path = tmp_path / "days.csv"
        path.write_text(
            f"day,working,name,jurisdiction_code\n2094-01-01,false,元旦,{code}\n", encoding="utf-8"
        )
        runner = CliRunner()
        result = runner.invoke(app, ["calendar", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert "1 days: 1 holidays, 0 working days" in result.output
        result = runner.invoke(app, ["calendar", "list", "--jurisdiction", code, "--year", "2094"])
        assert result.exit_code == 0 and f"2094-01-01 Fri holiday  {code}" in result.output
        path.write_text("day,working\n2094-01-01,perhaps\n", encoding="utf-8")
        result = runner.invoke(app, ["calendar", "import", str(path)])
        assert result.exit_code == 2 and "line 2: working must be true or false" in result.output
    finally:
        get_settings.cache_clear()
        asyncio.run(cleanup(code))
