"""The ``gridsvc`` console script over the test database (GRIDSVC_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from gridsvc.cli import app
from gridsvc.database.pool import connect
from gridsvc.settings import get_settings

CLI_CODE = "TEST-CLI"
CLI_LAYER = "specialist:clitest"
CLI_BOX = (116.900, 25.100, 116.940, 25.130)  # Fujian, WGS84


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def write_geojson(path: Path, features: list[tuple[str, Any]], **extra: Any) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": code, "name": f"grid {code}", **extra},
                        "geometry": geometry if isinstance(geometry, dict) else mapping(geometry),
                    }
                    for code, geometry in features
                ],
            }
        )
    )
    return path


def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        connection = await connect(database_url)
        try:
            return [dict(r) for r in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def cli_jurisdiction(database_url: str, tmp_path_factory) -> Path:
    """TEST-CLI created through ``gridsvc jurisdictions import`` itself."""
    path = Path(tmp_path_factory.mktemp("cli")) / "county.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"adcode": CLI_CODE, "name": "CLI 测试县", "level": "区县"},
                        "geometry": mapping(box(*CLI_BOX).buffer(0.002)),
                    }
                ],
            }
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDSVC_DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["jurisdictions", "import", str(path), "--crs", "wgs84"])
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, (result.output, result.stderr)
    assert "1 jurisdictions" in result.stdout and "county" in result.stdout
    return path.parent


def test_db_status(cli: CliRunner) -> None:
    result = cli.invoke(app, ["db", "status"])
    assert result.exit_code == 0, result.output
    assert "database: GRIDSVC_DATABASE_URL" in result.stdout
    assert "migrations: up to date" in result.stdout


LEVELS = {"province", "city", "county", "township"}
# A log record of another test's app still shutting down (console or JSON format) can land in
# the stdout CliRunner captures during a full run; it is not the command's output.
_LOG_RECORD = re.compile(r'^(\d\d:\d\d:\d\d |\{")')


def _output_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip() and not _LOG_RECORD.match(line)]


def _is_row(line: str) -> bool:
    words = line.split()
    return len(words) > 1 and words[1] in LEVELS


def test_jurisdictions_list(cli: CliRunner, demo, cli_jurisdiction: Path, database_url: str) -> None:
    result = cli.invoke(app, ["jurisdictions", "list"])
    assert result.exit_code == 0, result.output
    # Only the listing's rows (code, then level): in a full run a log line of another test's
    # app, still shutting down, can land in the captured stdout.
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if _is_row(line)}
    assert len(lines) == query(database_url, "SELECT count(*) AS n FROM jurisdictions")[0]["n"]
    assert "county" in lines["LI"] and "layers=5" in lines["LI"] and "km²" in lines["LI"]
    assert "parent=350800" in lines["350802"]
    assert "parent=LI" in lines["LI-VADUZ"] and "township" in lines["LI-VADUZ"]
    assert CLI_CODE in lines
    townships = cli.invoke(app, ["jurisdictions", "list", "--level", "township"])
    assert townships.exit_code == 0
    rows = [line for line in townships.stdout.splitlines() if _is_row(line)]
    assert rows and all(line.split()[1] == "township" for line in rows)
    assert sum("parent=LI" in line for line in rows) == 11


def test_grids_import_prints_the_report(
    cli: CliRunner, cli_jurisdiction: Path, database_url: str, tmp_path: Path
) -> None:
    x0, y0, x1, y1 = CLI_BOX
    xm = (x0 + x1) / 2
    bow = {
        "type": "Polygon",
        "coordinates": [
            [[x0, y1 + 0.01], [xm, y1 + 0.02], [xm, y1 + 0.01], [x0, y1 + 0.02], [x0, y1 + 0.01]]
        ],
    }
    path = write_geojson(
        tmp_path / "good.geojson",
        [("W", box(x0, y0, xm + 0.002, y1)), ("E", box(xm, y0, x1, y1)), ("BOW", bow)],
        department="测试",
        station_name="站",
    )
    report_path = tmp_path / "report.json"
    result = cli.invoke(
        app,
        [
            "grids",
            "import",
            str(path),
            "--layer",
            CLI_LAYER,
            "--jurisdiction",
            CLI_CODE,
            "--report-json",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    assert f"{CLI_LAYER}: version 1, 3 grids (source CRS wgs84)" in out
    assert "H3 r10:" in out and "cells" in out and "on grid borders" in out
    assert "repaired BOW: Self-intersection" in out
    assert "overlap W / E:" in out and "m²" in out
    assert "gaps against the jurisdiction boundary" in out
    report = json.loads(report_path.read_text())
    assert report["features"] == 3 and report["overlaps"][0]["codes"] == ["W", "E"]
    rows = query(
        database_url,
        """SELECT g.code FROM current_grids g JOIN jurisdictions j
                    ON j.id = g.jurisdiction_id WHERE j.code = $1 AND g.layer = $2
                    ORDER BY g.code""",
        CLI_CODE,
        CLI_LAYER,
    )
    assert [r["code"] for r in rows] == ["BOW", "E", "W"]
    # Again, with another code column and Chinese coordinates: version 2.
    again = write_geojson(tmp_path / "again.geojson", [("ONE", box(*CLI_BOX))])
    text = json.loads(again.read_text())
    for f in text["features"]:
        f["properties"]["bianhao"] = f["properties"].pop("code")
    again.write_text(json.dumps(text))
    result = cli.invoke(
        app,
        [
            "grids",
            "import",
            str(again),
            "--layer",
            CLI_LAYER,
            "--jurisdiction",
            CLI_CODE,
            "--code-field",
            "bianhao",
            "--crs",
            "gcj02",
        ],
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert f"{CLI_LAYER}: version 2, 1 grids (source CRS gcj02)" in result.stdout


@pytest.mark.parametrize(
    ("case", "args", "names_file", "expected"),
    [
        ("linestring", [], True, ["feature 2 (code L2)", "LineString"]),
        ("duplicates", [], True, ["duplicate grid codes", "D1 (features 1 and 2)"]),
        ("good", ["--crs", "EPSG:3857"], True, ["contradicts"]),
        ("good", ["--crs", "no-such-crs"], True, ["unknown CRS 'no-such-crs'"]),
        ("good", ["--code-field", "nummer"], True, ["no attribute 'nummer'"]),
        ("missing", [], True, ["file not found"]),
        ("good", ["--layer", "roads"], False, ["layer 'roads' is not one of"]),
        ("good", ["--jurisdiction", "TEST-NOWHERE"], False, ["unknown jurisdiction 'TEST-NOWHERE'"]),
    ],
)
def test_grids_import_of_a_bad_file_exits_2(
    cli: CliRunner,
    cli_jurisdiction: Path,
    database_url: str,
    tmp_path: Path,
    case: str,
    args: list[str],
    names_file: bool,
    expected: list[str],
) -> None:
    x0, y0, x1, y1 = CLI_BOX
    files = {
        "linestring": [
            ("L1", box(x0, y0, x1, y1)),
            ("L2", {"type": "LineString", "coordinates": [[x0, y0], [x1, y1]]}),
        ],
        "duplicates": [("D1", box(x0, y0, x1, y1)), ("D1", box(x0, y0, x1, y1))],
        "good": [("G1", box(x0, y0, x1, y1))],
    }
    path = tmp_path / f"{case}.geojson"
    if case in files:
        write_geojson(path, files[case])
    command = ["grids", "import", str(path)]
    for option, value in (("--layer", CLI_LAYER), ("--jurisdiction", CLI_CODE)):
        if option not in args:
            command += [option, value]
    before = query(database_url, "SELECT count(*) AS n FROM layer_versions")[0]["n"]
    result = cli.invoke(app, command + args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("error: "), result.stderr
    if names_file:
        assert result.stderr.startswith(f"error: {path}: "), result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr and not _output_lines(result.stdout)
    assert query(database_url, "SELECT count(*) AS n FROM layer_versions")[0]["n"] == before


def test_unreachable_database_is_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Nothing listens on port 1: the operator gets one line on stderr and exit code 2."""
    host_part = database_url.rsplit("@", 1)[0]
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", f"{host_part}@127.0.0.1:1/gridsvc")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "status"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, (result.exit_code, repr(result.exception))
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_error_format_names_file_and_feature(cli: CliRunner, cli_jurisdiction: Path, tmp_path: Path) -> None:
    x0, y0, x1, y1 = CLI_BOX
    path = write_geojson(
        tmp_path / "third.geojson",
        [
            ("A", box(x0, y0, x1, y1)),
            ("B", box(x0, y0, x1, y1)),
            ("C", {"type": "Point", "coordinates": [x0, y0]}),
        ],
    )
    result = cli.invoke(app, ["grids", "import", str(path), "--layer", CLI_LAYER, "--jurisdiction", CLI_CODE])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: feature 3 (code C): geometry is a Point")
