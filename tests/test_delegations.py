"""Delegation lists (赋权事项清单): versions with effective dates, delegation_at for old and
new events, shrinking lists, refused files, time zones, the API and the CLI.

Every test uses enforcement codes of its own (never the demo's LI-* townships, which the
events tests route through). Service tests run in a transaction that is rolled back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from shapely.geometry import MultiPolygon, box, mapping
from typer.testing import CliRunner

from gridsvc.delegations import service
from gridsvc.delegations.service import DelegationError, create_list, delegation_at
from gridsvc.grids.importer import prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.matters.service import import_files
from tests.checks import present

SH = ZoneInfo("Asia/Shanghai")
VADUZ = ZoneInfo("Europe/Vaduz")


@pytest.fixture(scope="session")
async def standard(database_url: str, shared_geodata: Path) -> None:
    """The real Yuncheng matters (an idempotent upsert, committed)."""
    from gridsvc.database.pool import connect

    connection = await connect(database_url)
    try:
        await import_files(connection, [shared_geodata / "categories" / "yuncheng_case_standard.xlsx"])
    finally:
        await connection.close()


@pytest.fixture
def rollback(rollback: asyncpg.Connection, standard: None) -> asyncpg.Connection:
    """conftest's rolled-back connection, with the matter standard loaded first."""
    return rollback


def new_code(prefix: str = "DLG") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


async def township(connection: asyncpg.Connection, timezone: str) -> str:
    """A township jurisdiction whose code is also its enforcement code."""
    code = new_code("TWN")
    await jurisdictions.upsert(
        connection, code=code, name=code, level="township", boundary=None, timezone=timezone, source="tests"
    )
    return code


def write_codes(path: Path, codes: list[str], *, extra: str | None = None) -> Path:
    header = "matter_code" + (",name" if extra else "")
    lines = [header] + [f"{c},{extra}" if extra else c for c in codes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_withdrawn_matter_old_and_new_events(rollback: asyncpg.Connection) -> None:
    db = rollback
    code = await township(db, "Asia/Shanghai")
    v1 = await create_list(
        db,
        enforcement_code=code,
        effective_from=date(2026, 1, 1),
        matter_codes=["EV-01-01", "EV-01-02", "EV-02-01"],
        name="2026 清单",
    )
    assert (v1["version"], v1["items"], v1["effective_to"], v1["previous"]) == (1, 3, None, None)
    assert v1["effective_from"] == datetime(2026, 1, 1, tzinfo=SH)
    assert v1["added"] == ["EV-01-01", "EV-01-02", "EV-02-01"] and v1["warnings"] == []

    v2 = await create_list(
        db, enforcement_code=code, effective_from=date(2026, 7, 1), matter_codes=["EV-01-02"]
    )
    july = datetime(2026, 7, 1, tzinfo=SH)
    assert (v2["version"], v2["items"], v2["effective_from"]) == (2, 1, july)
    assert v2["removed"] == ["EV-01-01", "EV-02-01"] and v2["added"] == []
    assert v2["previous"] == {"id": v1["id"], "version": 1, "effective_to": july}
    assert v2["name"] == f"{code} 赋权事项清单 v2"

    # an event of June was routed under v1, where EV-01-01 was delegated
    june = await delegation_at(
        db, enforcement_code=code, matter_code="EV-01-01", at=datetime(2026, 6, 15, 9, 0, tzinfo=SH)
    )
    assert june == {
        "list_id": v1["id"],
        "version": 1,
        "name": "2026 清单",
        "effective_from": datetime(2026, 1, 1, tzinfo=SH),
        "effective_to": july,
        "delegated": True,
    }
    # ... and after 1 July it is withdrawn: v2 in force, not delegated
    august = await delegation_at(
        db, enforcement_code=code, matter_code="EV-01-01", at=datetime(2026, 8, 1, tzinfo=UTC)
    )
    assert august is not None
    assert (august["list_id"], august["version"], august["delegated"]) == (v2["id"], 2, False)
    assert august["effective_to"] is None
    # the boundary is exact, in the township's zone
    last_moment = present(
        await delegation_at(
            db, enforcement_code=code, matter_code="EV-01-01", at=july - timedelta(microseconds=1)
        )
    )
    first_moment = present(await delegation_at(db, enforcement_code=code, matter_code="EV-01-01", at=july))
    assert (last_moment["version"], last_moment["delegated"]) == (1, True)
    assert (first_moment["version"], first_moment["delegated"]) == (2, False)
    # kept in both versions
    for moment in (datetime(2026, 3, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH)):
        kept = present(await delegation_at(db, enforcement_code=code, matter_code="EV-01-02", at=moment))
        assert kept["delegated"] is True
    # before the first list, or for another township: no list in force
    assert (
        await delegation_at(
            db, enforcement_code=code, matter_code="EV-01-01", at=datetime(2025, 12, 31, 23, 59, tzinfo=SH)
        )
        is None
    )
    assert (
        await delegation_at(
            db, enforcement_code=new_code(), matter_code="EV-01-01", at=datetime(2026, 6, 1, tzinfo=SH)
        )
        is None
    )
    with pytest.raises(ValueError, match="aware"):
        await delegation_at(db, enforcement_code=code, matter_code="EV-01-01", at=datetime(2026, 6, 1))


async def test_shrinking_lists_like_xinluo(rollback: asyncpg.Connection) -> None:
    """180 delegated, 94 taken back: 86 kept; then everything back (an empty list)."""
    db = rollback
    code = new_code()
    matters = [
        r["code"]
        for r in await db.fetch(
            "SELECT code FROM matters WHERE code ~ '^(EV|PT)-0[0-9]-[0-9]{2}$' ORDER BY code LIMIT 180"
        )
    ]
    assert len(matters) == 180
    v1 = await create_list(db, enforcement_code=code, effective_from=date(2025, 1, 1), matter_codes=matters)
    assert v1["items"] == 180
    assert v1["warnings"] == [
        f"{code} is neither a jurisdiction nor an enforcement grid; effective dates read in Asia/Shanghai"
    ]
    kept = matters[::2][:86]
    v2 = await create_list(db, enforcement_code=code, effective_from=date(2025, 9, 1), matter_codes=kept)
    assert (v2["items"], len(v2["removed"]), v2["added"]) == (86, 94, [])
    v3 = await create_list(db, enforcement_code=code, effective_from=date(2026, 3, 1), matter_codes=[])
    assert (v3["items"], len(v3["removed"])) == (0, 86)

    versions = await service.list_versions(db, enforcement_code=code)
    assert [(v["version"], v["items"]) for v in versions] == [(1, 180), (2, 86), (3, 0)]
    # the versions tile time: each ends where the next begins
    for earlier, later in zip(versions, versions[1:], strict=False):
        assert earlier["effective_to"] == later["effective_from"]
    assert versions[-1]["effective_to"] is None
    full = await service.get_list(db, list_id=v2["id"])
    assert [m["matter_code"] for m in present(full)["matters"]] == sorted(kept)
    assert {"kind", "name", "owner_department"} <= set(present(full)["matters"][0])
    at = datetime(2026, 4, 1, tzinfo=SH)
    assert (
        present(await delegation_at(db, enforcement_code=code, matter_code=kept[0], at=at))["delegated"]
        is False
    )


async def test_effective_dates_in_the_townships_time_zone(rollback: asyncpg.Connection) -> None:
    db = rollback
    code = await township(db, "Europe/Vaduz")
    v1 = await create_list(
        db, enforcement_code=code, effective_from=date(2026, 1, 1), matter_codes=["EV-01-01"]
    )
    assert v1["timezone"] == "Europe/Vaduz"
    assert v1["effective_from"] == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)  # CET midnight
    v2 = await create_list(db, enforcement_code=code, effective_from=date(2026, 7, 1), matter_codes=[])
    assert v2["effective_from"] == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # CEST midnight
    # naive datetimes are local too; aware ones are taken as they are
    v3 = await create_list(
        db, enforcement_code=code, effective_from=datetime(2026, 8, 1, 12, 0), matter_codes=["EV-01-01"]
    )
    assert v3["effective_from"] == datetime(2026, 8, 1, 10, 0, tzinfo=UTC)
    v4 = await create_list(
        db, enforcement_code=code, effective_from=datetime(2026, 9, 1, 12, 0, tzinfo=SH), matter_codes=[]
    )
    assert v4["effective_from"] == datetime(2026, 9, 1, 4, 0, tzinfo=UTC)
    # 23:30 in Vaduz on 30 June is still June there (v1), though 1 July in Shanghai
    late = datetime(2026, 6, 30, 23, 30, tzinfo=VADUZ)
    assert (
        present(await delegation_at(db, enforcement_code=code, matter_code="EV-01-01", at=late))["version"]
        == 1
    )


async def test_timezone_from_the_county_of_an_enforcement_grid(
    rollback: asyncpg.Connection, tmp_path: Path
) -> None:
    """No jurisdiction has the enforcement code: the county whose enforcement layer has a
    grid with that code gives the time zone."""
    db = rollback
    county = new_code("CTY")
    square = box(119.000, 26.000, 119.010, 26.010)  # in Fujian, far from the demo
    await jurisdictions.upsert(
        db,
        code=county,
        name=county,
        level="county",
        boundary=MultiPolygon([square]),
        timezone="Asia/Urumqi",
        source="tests",
    )
    grid_code = f"{county}-E1"
    path = tmp_path / "enforcement.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": grid_code, "name": "squad 1"},
                        "geometry": mapping(square),
                    }
                ],
            }
        )
    )
    await import_layer(db, prepare_layer(path, layer="enforcement"), jurisdiction_code=county, resolution=10)
    assert await service.township_timezone(db, grid_code) == ("Asia/Urumqi", True)
    assert await service.township_timezone(db, new_code()) == ("Asia/Shanghai", False)
    created = await create_list(
        db, enforcement_code=grid_code, effective_from=date(2026, 1, 1), matter_codes=["EV-01-01"]
    )
    assert created["effective_from"] == datetime(2025, 12, 31, 18, 0, tzinfo=UTC)  # UTC+6
    assert created["warnings"] == []


async def test_demo_township_time_zone(db: asyncpg.Connection, demo) -> None:
    assert await service.township_timezone(db, "LI-VADUZ") == ("Europe/Vaduz", True)


async def test_refusals_change_nothing(rollback: asyncpg.Connection, tmp_path: Path) -> None:
    db = rollback
    code = new_code()
    await create_list(
        db, enforcement_code=code, effective_from=date(2026, 1, 1), matter_codes=["EV-01-01", "EV-01-02"]
    )

    async def state() -> list[tuple]:
        return [
            tuple(r)
            for r in await db.fetch(
                """SELECT l.version, l.effective_from, l.effective_to, array_agg(i.matter_code ORDER BY 1)
               FROM delegation_lists l LEFT JOIN delegation_items i ON i.list_id = l.id
               WHERE l.enforcement_code = $1 GROUP BY 1, 2, 3 ORDER BY 1""",
                code,
            )
        ]

    before = await state()
    unknown = write_codes(tmp_path / "unknown.csv", ["EV-01-01", "EV-99-99", "EV-01-02", "NOPE"])
    with pytest.raises(DelegationError) as refused:
        await service.import_file(db, unknown, enforcement_code=code, effective_from=date(2026, 7, 1))
    message = str(refused.value)
    assert "unknown.csv: 2 unknown matter code(s), nothing imported" in message
    assert "row 3: EV-99-99" in message and "row 5: NOPE" in message
    assert not refused.value.conflict

    for effective in (date(2025, 6, 1), date(2026, 1, 1)):  # before, or equal to, the current
        with pytest.raises(
            DelegationError,
            match=r"not after version 1 .* a new version must "
            "start later",
        ) as early:
            await create_list(db, enforcement_code=code, effective_from=effective, matter_codes=["EV-01-01"])
        assert early.value.conflict

    cases = {
        "no_column.csv": ("code\nEV-01-01\n", r"no_column\.csv row 1: no column matter_code"),
        "empty.csv": ("", r"empty\.csv: the file is empty"),
        "blank.csv": ("matter_code,name\nEV-01-01,a\n,b\n", r"blank\.csv row 3: empty matter_code"),
    }
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(DelegationError, match=pattern):
            await service.import_file(
                db, tmp_path / name, enforcement_code=code, effective_from=date(2026, 7, 1)
            )
    with pytest.raises(DelegationError, match="file not found"):
        await service.import_file(
            db, tmp_path / "missing.csv", enforcement_code=code, effective_from=date(2026, 7, 1)
        )
    assert await state() == before


async def test_import_file_with_duplicates_and_other_columns(
    rollback: asyncpg.Connection, tmp_path: Path
) -> None:
    db = rollback
    code = new_code()
    path = write_codes(tmp_path / "list.csv", ["EV-01-01", " EV-01-02 ", "EV-01-01"], extra="某事项")
    result = await service.import_file(
        db, path, enforcement_code=code, effective_from=date(2026, 1, 1), name="镇赋权清单"
    )
    assert (result["items"], result["name"], result["source"]) == (2, "镇赋权清单", str(path))
    assert result["duplicates"] == [{"matter_code": "EV-01-01", "row": 4, "first_row": 2}]


def test_parse_effective() -> None:
    assert service.parse_effective("2026-07-01") == date(2026, 7, 1)
    assert service.parse_effective("2026-07-01T08:00:00+08:00") == datetime(2026, 7, 1, tzinfo=UTC)
    with pytest.raises(DelegationError, match="not YYYY-MM-DD"):
        service.parse_effective("1 July 2026")


# -- API and CLI -------------------------------------------------------------------------------


async def test_api_round_trip(client, db: asyncpg.Connection, standard: None) -> None:
    code = new_code("API")
    try:
        created = client.post(
            "/delegations",
            json={
                "enforcement_code": code,
                "name": "v1",
                "effective_from": "2026-01-01",
                "matter_codes": ["EV-01-01", "PT-01-01"],
            },
        )
        assert created.status_code == 201, created.text
        first = created.json()
        assert (first["version"], first["items"], first["timezone"]) == (1, 2, "Asia/Shanghai")
        assert datetime.fromisoformat(first["effective_from"]) == datetime(2026, 1, 1, tzinfo=SH)

        second = client.post(
            "/delegations",
            json={
                "enforcement_code": code,
                "effective_from": "2026-07-01T00:00:00+08:00",
                "matter_codes": ["PT-01-01"],
            },
        )
        assert second.status_code == 201, second.text
        assert second.json()["removed"] == ["EV-01-01"]

        versions = client.get("/delegations", params={"enforcement_code": code}).json()
        assert [(v["version"], v["items"]) for v in versions] == [(1, 2), (2, 1)]
        assert datetime.fromisoformat(versions[0]["effective_to"]) == datetime(2026, 7, 1, tzinfo=SH)
        one = client.get(f"/delegations/{first['id']}").json()
        assert [m["matter_code"] for m in one["matters"]] == ["EV-01-01", "PT-01-01"]
        assert one["matters"][0]["name"] == "私搭乱建"

        unknown = client.post(
            "/delegations",
            json={
                "enforcement_code": code,
                "effective_from": "2026-09-01",
                "matter_codes": ["PT-01-01", "EV-99-99"],
            },
        )
        assert unknown.status_code == 422
        assert unknown.json()["fields"] == [
            {"field": "body.matter_codes.1", "reason": "unknown matter code EV-99-99"}
        ]
        early = client.post(
            "/delegations",
            json={"enforcement_code": code, "effective_from": "2026-03-01", "matter_codes": []},
        )
        assert early.status_code == 409 and early.json()["error"] == "conflict"
        for body in (
            {"enforcement_code": code, "effective_from": "soon", "matter_codes": []},
            {"enforcement_code": "", "effective_from": "2026-09-01", "matter_codes": []},
            {"enforcement_code": code, "matter_codes": []},
        ):
            assert client.post("/delegations", json=body).status_code == 422, body
        assert client.get("/delegations/999999999").status_code == 404
        assert len(client.get("/delegations", params={"enforcement_code": code}).json()) == 2
    finally:
        await db.execute("DELETE FROM delegation_lists WHERE enforcement_code = $1", code)


def test_cli_import(database_url: str, standard: None, monkeypatch, tmp_path: Path) -> None:
    from gridsvc.cli import app
    from gridsvc.database.pool import connect
    from gridsvc.settings import get_settings

    code = new_code("CLI")
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        path = write_codes(tmp_path / "v1.csv", ["EV-01-01", "EV-01-02"])
        result = runner.invoke(
            app,
            [
                "delegations",
                "import",
                str(path),
                "--enforcement-code",
                code,
                "--effective-from",
                "2026-01-01",
                "--name",
                "首版",
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"{code} version 1 (首版): 2 matters from 2026-01-01" in result.output
        path = write_codes(tmp_path / "v2.csv", ["EV-01-02"])
        result = runner.invoke(
            app,
            [
                "delegations",
                "import",
                str(path),
                "--enforcement-code",
                code,
                "--effective-from",
                "2026-07-01",
            ],
        )
        assert result.exit_code == 0 and "version 1 closed; +0 -1 matters" in result.output
        result = runner.invoke(app, ["delegations", "list", "--enforcement-code", code])
        assert result.exit_code == 0
        assert [line.split()[2] for line in result.output.splitlines()] == ["v1", "v2"]
        assert "2026-01-01T00:00:00+08:00 .. 2026-07-01T00:00:00+08:00  首版" in result.output
        bad = write_codes(tmp_path / "bad.csv", ["EV-01-02", "XX-1"])
        result = runner.invoke(
            app,
            ["delegations", "import", str(bad), "--enforcement-code", code, "--effective-from", "2026-09-01"],
        )
        assert result.exit_code == 2 and "row 3: XX-1" in result.output
        result = runner.invoke(
            app, ["delegations", "import", str(path), "--enforcement-code", code, "--effective-from", "July"]
        )
        assert result.exit_code == 2 and "not YYYY-MM-DD" in result.output
    finally:
        get_settings.cache_clear()

        async def cleanup() -> None:
            connection = await connect(database_url)
            try:
                await connection.execute("DELETE FROM delegation_lists WHERE enforcement_code = $1", code)
            finally:
                await connection.close()

        asyncio.run(cleanup())
