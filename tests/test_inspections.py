"""一店一档, 综合查一次, the negative list and 首违不罚 (issue 10 items 4-5) on the demo
county, against real PostGIS and the real app and CLI.

Every test makes its own targets (fresh credit codes) and uses its own dates, so the tests
pass alone and in any order.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from gridsvc.app import create_app
from gridsvc.cli import app as cli_app
from gridsvc.clock import FrozenClock
from gridsvc.inspections.models import CREDIT_CHARSET, credit_check_char
from gridsvc.settings import Settings, get_settings
from tests.auth_support import bearer

pytestmark = pytest.mark.usefixtures("demo")

VADUZ = {"lng": 9.5209, "lat": 47.1410}
SCHAAN = {"lng": 9.5096, "lat": 47.1660}


def credit_code() -> str:
    """A fresh valid unified social credit code (GB 32100-2015 check character)."""
    body = "91350100" + "".join(secrets.choice(CREDIT_CHARSET) for _ in range(9))
    return body + credit_check_char(body)


def broken(code: str) -> str:
    """The same code with a wrong check character."""
    wrong = CREDIT_CHARSET[(CREDIT_CHARSET.index(code[-1]) + 1) % len(CREDIT_CHARSET)]
    return code[:-1] + wrong


@pytest.fixture(scope="module")
def api(settings: Settings, demo: Any) -> Iterator[TestClient]:
    assert settings.database_url is not None
    with TestClient(
        create_app(settings, clock=FrozenClock(datetime(2031, 3, 2, 7, 0, tzinfo=UTC)))
    ) as client:
        client.headers.update(bearer(settings.database_url, "admin"))
        yield client


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def new_target(api: TestClient, kind: str = "shop", point: dict[str, float] = VADUZ) -> dict[str, Any]:
    response = api.post(
        "/inspection-targets",
        json={
            "name": f"测试商铺{secrets.token_hex(3)}",
            "credit_code": credit_code(),
            "type": kind,
            "point": point,
        },
    )
    assert response.status_code == 201, response.text
    target: dict[str, Any] = response.json()
    return target


def plan(api: TestClient, target_id: int, department: str, matters: list[str], day: date) -> dict[str, Any]:
    response = api.post(
        "/inspections",
        json={
            "target_id": target_id,
            "department": department,
            "matter_codes": matters,
            "planned_on": str(day),
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["name", "credit_code", "address", "type", "lng", "lat"], *rows])
    return path


def targets_by_code(api: TestClient) -> dict[str, dict[str, Any]]:
    rows = api.get("/inspection-targets", params={"limit": 1000}).json()
    return {t["credit_code"]: t for t in rows}


# -- 一店一档 -----------------------------------------------------------------------------------


def test_import_then_a_bad_credit_code_names_row_and_column_and_imports_nothing(
    api: TestClient, cli: CliRunner, tmp_path: Path
) -> None:
    first, second, third = credit_code(), credit_code(), credit_code()
    good = write_csv(
        tmp_path / "targets.csv",
        [
            ["老王小吃", first, "Städtle 1", "shop", str(VADUZ["lng"]), str(VADUZ["lat"])],
            ["某某公司", second, "Landstrasse 5", "company", str(SCHAAN["lng"]), str(SCHAAN["lat"])],
        ],
    )
    result = cli.invoke(cli_app, ["inspections", "targets", "import", str(good)])
    assert result.exit_code == 0, result.output
    stored = targets_by_code(api)
    assert stored[first]["name"] == "老王小吃" and stored[first]["grid_code"]  # grid from the point
    assert stored[second]["type"] == "company"

    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["老王小吃(改名)", first, "", "shop", str(VADUZ["lng"]), str(VADUZ["lat"])],
            ["新店", third, "", "shop", str(VADUZ["lng"]), str(VADUZ["lat"])],
            ["坏码店", broken(credit_code()), "", "shop", str(VADUZ["lng"]), str(VADUZ["lat"])],
        ],
    )
    result = cli.invoke(cli_app, ["inspections", "targets", "import", str(bad)])
    assert result.exit_code == 2
    assert "bad.csv" in result.output and "row 4" in result.output and "column credit_code" in result.output
    assert "check character" in result.output
    after = targets_by_code(api)
    assert after[first]["name"] == "老王小吃" and third not in after  # nothing of the bad file

    # Excel with the register's Chinese headers
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["名称", "统一社会信用代码", "地址", "类型", "经度", "纬度"])
    sheet.append(["三小场所甲", third, "", "三小场所", VADUZ["lng"], VADUZ["lat"]])
    book.save(tmp_path / "targets.xlsx")
    result = cli.invoke(cli_app, ["inspections", "targets", "import", str(tmp_path / "targets.xlsx")])
    assert result.exit_code == 0, result.output
    assert targets_by_code(api)[third]["type"] == "small_venue"


def test_targets_api_validates_and_edits(api: TestClient) -> None:
    bad = api.post(
        "/inspection-targets",
        json={"name": "x", "credit_code": broken(credit_code()), "type": "shop", "point": VADUZ},
    )
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "credit_code"
    short = api.post(
        "/inspection-targets", json={"name": "x", "credit_code": "123", "type": "shop", "point": VADUZ}
    )
    assert short.status_code == 422 and "18" in short.json()["fields"][0]["reason"]
    target = new_target(api)
    edited = api.patch(f"/inspection-targets/{target['id']}", json={"name": "改名", "point": SCHAAN})
    assert edited.status_code == 200 and edited.json()["name"] == "改名"
    assert edited.json()["point"] == SCHAAN
    wrong = api.patch(f"/inspection-targets/{target['id']}", json={"type": "bank"})
    assert wrong.status_code == 422 and wrong.json()["fields"][0]["field"].endswith("type")
    assert api.patch("/inspection-targets/999999999", json={"name": "y"}).status_code == 404


def test_matters_per_department_and_type(api: TestClient, cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["inspections", "matters", "set", "market", "shop", "SC-食品", "SC-价格"])
    assert result.exit_code == 0, result.output
    listed = api.get("/inspection-matters").json()
    assert {"department": "market", "target_type": "shop", "matter_codes": ["SC-价格", "SC-食品"]} in listed
    bad = api.put("/inspection-matters/nosuch/shop", json={"matter_codes": ["A"]})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "department"


# -- 综合查一次 ---------------------------------------------------------------------------------


def joint_of(api: TestClient, target_id: int, start: date, end: date) -> list[dict[str, Any]]:
    visits = api.get("/inspections/joint", params={"from": str(start), "to": str(end)}).json()
    return [v for v in visits if v["target_id"] == target_id]


def test_two_departments_in_one_week_make_one_joint_visit(api: TestClient) -> None:
    shop = new_target(api)
    monday = date(2031, 3, 3)
    a = plan(api, shop["id"], "housing", ["ZJ-燃气"], monday + timedelta(days=2))
    b = plan(api, shop["id"], "market", ["SC-食品", "SC-价格"], monday)
    assert a["joint_visit_id"] == b["joint_visit_id"]
    [visit] = joint_of(api, shop["id"], monday - timedelta(days=7), monday + timedelta(days=14))
    assert visit["departments"] == ["housing", "market"]
    assert visit["lead_department"] == "market"  # the most matters
    assert set(visit["matter_codes"]) == {"ZJ-燃气", "SC-食品", "SC-价格"}
    assert visit["day"] == str(monday)  # the window's first day, a working day
    saved = api.get("/inspections/savings", params={"from": "2031-03-01", "to": "2031-03-09"}).json()
    assert (saved["planned_separately"], saved["joint_visits"], saved["saved"]) == (2, 1, 1)
    assert saved["share"] == 0.5

    # equal matters: the lead is the department first by code; a Saturday goes to Monday
    other = new_target(api, "company")
    saturday = date(2031, 3, 15)
    assert saturday.weekday() == 5
    plan(api, other["id"], "market", ["SC-价格"], saturday)
    plan(api, other["id"], "ecology", ["ST-排污"], saturday + timedelta(days=1))
    [visit] = joint_of(api, other["id"], saturday, saturday + timedelta(days=7))
    assert visit["lead_department"] == "ecology" and visit["day"] == str(saturday + timedelta(days=2))


def test_inspections_two_weeks_apart_stay_separate(api: TestClient) -> None:
    shop = new_target(api)
    monday = date(2031, 5, 5)
    a = plan(api, shop["id"], "market", ["SC-食品"], monday)
    b = plan(api, shop["id"], "housing", ["ZJ-燃气"], monday + timedelta(days=14))
    assert a["joint_visit_id"] != b["joint_visit_id"]
    visits = joint_of(api, shop["id"], monday, monday + timedelta(days=20))
    assert [v["departments"] for v in visits] == [["market"], ["housing"]]
    # a chain a week apart each: the third is within 7 days of the second but not of the first
    chain = new_target(api)
    first = plan(api, chain["id"], "market", ["SC-食品"], date(2031, 6, 2))
    second = plan(api, chain["id"], "housing", ["ZJ-燃气"], date(2031, 6, 8))
    third = plan(api, chain["id"], "ecology", ["ST-排污"], date(2031, 6, 14))
    assert first["joint_visit_id"] == second["joint_visit_id"] != third["joint_visit_id"]
    saved = api.get(
        "/inspections/savings", params={"from": str(monday), "to": str(monday + timedelta(days=20))}
    )
    assert saved.json()["saved"] == 0 and saved.json()["joint_visits"] == 2


# -- negative list, 首违不罚 ---------------------------------------------------------------------


def violate(
    api: TestClient, target_id: int, day: date, *, minor: bool = False, matter: str = "SC-价格"
) -> Any:
    inspection = plan(api, target_id, "market", [matter], day)
    response = api.post(
        f"/inspections/{inspection['id']}/result",
        json={"violation": True, "minor": minor, "matter_code": matter, "note": "现场检查发现"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def listed(api: TestClient, target_id: int) -> dict[str, Any] | None:
    rows = api.get("/negative-list").json()
    return next((r for r in rows if r["target_id"] == target_id), None)


def test_third_violation_warns_and_fifth_recommends_a_penalty(api: TestClient) -> None:
    shop = new_target(api)
    day = date(2032, 1, 5)
    for n in range(1, 6):
        assert violate(api, shop["id"], day + timedelta(days=14 * n))["counted_violations"] == n
        entry = listed(api, shop["id"])
        if n < 3:
            assert entry is None
        elif n < 5:
            assert entry is not None and entry["status"] == "warning" and entry["violations"] == n
        else:
            assert entry is not None and entry["status"] == "penalty_recommended"
            assert entry["listed_at"] and entry["penalty_at"]
    exported = api.get("/negative-list", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["对象编号", "名称", "统一社会信用代码"]
    assert any(r[2] == shop["credit_code"] and r[6] == "建议处罚" for r in rows[1:])
    xlsx = api.get("/negative-list", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet["G1"].value == "处置"


def test_first_minor_lenient_violation_is_education_and_not_counted(api: TestClient, cli: CliRunner) -> None:
    matter = f"SC-标价{secrets.token_hex(2)}"
    result = cli.invoke(cli_app, ["inspections", "lenient", "add", matter])
    assert result.exit_code == 0, result.output
    assert matter in {m["matter_code"] for m in api.get("/lenient-matters").json()}
    shop = new_target(api)
    first = violate(api, shop["id"], date(2033, 2, 7), minor=True, matter=matter)
    assert first == first | {"lenient": True, "counted_violations": 0}
    again = violate(api, shop["id"], date(2033, 3, 7), minor=True, matter=matter)
    assert again["lenient"] is False and again["counted_violations"] == 1  # only the first is let off
    cases = [c for c in api.get("/lenient-cases").json() if c["target_id"] == shop["id"]]
    assert len(cases) == 1 and cases[0]["matter_code"] == matter
    exported = api.get("/lenient-cases", params={"format": "csv"}).content.decode("utf-8-sig")
    assert exported.splitlines()[0].startswith("记录编号,对象编号,名称") and shop["credit_code"] in exported


def test_a_closed_event_naming_the_target_counts(api: TestClient) -> None:
    shop = new_target(api)
    for n in range(2):
        violate(api, shop["id"], date(2034, 1, 2) + timedelta(days=14 * n))
    matter = api.get("/matters", params={"q": "垃圾"}).json()[0]["code"]
    created = api.post(
        "/events",
        json={"title": "无照经营", "location": VADUZ, "description": "巡查发现", "matter_code": matter},
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    linked = api.put(
        f"/events/{event_id}/inspection-target", json={"target_id": shop["id"], "violation_found": True}
    )
    assert linked.status_code == 200, linked.text
    assert listed(api, shop["id"]) is None  # not closed yet: no finding yet
    state = api.get(f"/events/{event_id}").json()["state"]
    path = ["dispatch", "sign_for", "arrive", "handle", "verify", "close"]
    start = {"routed": 0, "dispatched": 1}[state]
    for action in path[start:]:
        response = api.post(
            f"/events/{event_id}/actions/{action}", json={"note": "已处置"} if action == "handle" else {}
        )
        assert response.status_code == 200, (action, response.text)
    entry = listed(api, shop["id"])
    assert entry is not None and entry["violations"] == 3 and entry["status"] == "warning"


# -- scope ----------------------------------------------------------------------------------


def test_a_department_sees_and_records_its_own_inspections(api: TestClient, settings: Settings) -> None:
    assert settings.database_url is not None
    shop = new_target(api)
    day = date(2035, 6, 4)
    mine = plan(api, shop["id"], "market", ["SC-食品"], day)
    theirs = plan(api, shop["id"], "housing", ["ZJ-燃气"], day)
    market = bearer(settings.database_url, "department", department_code="market")
    seen = api.get("/inspections", params={"from": str(day), "to": str(day)}, headers=market).json()
    assert {i["id"] for i in seen} == {mine["id"]}
    alone = new_target(api)
    plan(api, alone["id"], "housing", ["ZJ-燃气"], day)  # a visit without market
    joint = api.get("/inspections/joint", params={"from": str(day), "to": str(day)}, headers=market).json()
    assert {v["target_id"] for v in joint} == {shop["id"]}  # only visits market takes part in
    other = api.post(f"/inspections/{theirs['id']}/result", json={"violation": False}, headers=market)
    assert other.status_code == 404
    own = api.post(f"/inspections/{mine['id']}/result", json={"violation": False}, headers=market)
    assert own.status_code == 200
    foreign = api.post(
        "/inspections",
        json={
            "target_id": shop["id"],
            "department": "housing",
            "matter_codes": ["X"],
            "planned_on": str(day),
        },
        headers=market,
    )
    assert foreign.status_code == 422 and foreign.json()["fields"][0]["field"] == "department"


def test_a_days_joint_visits_are_ordered_by_nearest_neighbour_over_roads(api: TestClient) -> None:
    day = date(2036, 9, 2)  # a Tuesday no other test uses
    vaduz = new_target(api, point=VADUZ)
    eschen = new_target(api, point={"lng": 9.5225, "lat": 47.2110})  # 8 km north
    schaan = new_target(api, point=SCHAAN)  # between the two
    for target in (vaduz, eschen, schaan):
        plan(api, target["id"], "market", ["SC-食品"], day)
    visits = api.get("/inspections/joint", params={"from": str(day), "to": str(day)}).json()
    order = {v["target_id"]: v["seq"] for v in visits}
    # from the day's first visit (Vaduz) the nearest by road is Schaan, then Eschen
    assert (order[vaduz["id"]], order[schaan["id"]], order[eschen["id"]]) == (1, 2, 3)
    assert [v["seq"] for v in visits] == [1, 2, 3]  # listed in route order
