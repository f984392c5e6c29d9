"""No API answer shows a file-system path of the server (issue 13, item 8): files are named by
their file name only (``matters[].source``, ``roads.source_file``, layer versions, reports).

The demo imports real files from the project and the shared geodata folder (grids, roads,
matters, calendar), so their paths would show if any answer leaked one. Every GET route of the
OpenAPI document is called, path parameters taken from the list answers.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.delegations import service as delegations
from gridsvc.delegations.models import DelegationList, DelegationVersion
from gridsvc.filenames import file_name, without_folders
from gridsvc.settings import PROJECT_ROOT, Settings
from tests.events_support import VADUZ

# Streams never end and /login is a form; neither shows data.
SKIPPED = {"/live/stream", "/login"}
QUERY = {
    "lat": str(VADUZ["lat"]),
    "lng": str(VADUZ["lng"]),
    "bbox": "9.50,47.12,9.54,47.16",
    # the demo has two counties, each with its own network: routes that need one name LI
    "jurisdiction": "LI",
}
VADUZ_TILE = {"z": 15, "x": 17250, "y": 11506}  # a base-map tile (/tiles/{z}/{x}/{y}.mvt)
# path parameter -> (list route, how to take a value from its answer)
PARAMETERS: dict[str, tuple[str, Any]] = {
    "layer": ("/layers", lambda a: _first(a, "name")),
    "code": ("/jurisdictions", lambda a: _first(a, "code")),
    "squad_id": ("/squads", lambda a: _first(a, "id")),
    "list_id": ("/delegations", lambda a: _first(a, "id")),
    "event_id": ("/events", lambda a: _first(a, "id")),
    "whistle_id": ("/whistles", lambda a: _first(a, "id")),
}


def _first(answer: Any, key: str) -> Any:
    """The ``key`` of the first item of a list answer (bare list or an object holding one)."""
    items = answer
    if isinstance(answer, dict):
        items = next((v for v in answer.values() if isinstance(v, list) and v), [])
    return items[0][key] if items else None


def server_roots(settings: Settings) -> list[str]:
    roots = {
        PROJECT_ROOT,
        settings.shared_geodata,
        settings.road_cache_dir,
        Path(tempfile.gettempdir()),
        Path.home(),
    }
    found = set()
    for root in roots:
        found.add(str(root))
        found.add(str(root.resolve()))
    return sorted(found)


def leaks(text: str, roots: list[str]) -> list[str]:
    """Every server path in ``text``: a known server folder with something below it."""
    return sorted(
        {
            m.group(0)
            for root in roots
            for m in re.finditer(re.escape(root.rstrip("/")) + r"/[^\s\"'<>,]*", text)
        }
    )


@pytest.fixture(scope="module")
def event_id(client: TestClient) -> int:
    """One event, so that the event routes answer with data."""
    created = client.post("/events", json={"source": "patrol", "title": "路径检查", "location": VADUZ})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _bare(name: str | None) -> bool:
    return name is not None and name != "" and "/" not in name and "\\" not in name


def test_roads_matters_and_layers_name_files_only(client: TestClient, settings: Settings) -> None:
    """Other tests of the session may re-import these, so the names are checked for form: a
    file name (of a file the demo or a test imported), never a folder."""
    roads = client.get("/roads", params={"jurisdiction": "LI"}).json()
    assert _bare(roads["source_file"]) and roads["source_file"].endswith((".pbf", ".osm"))
    assert _bare(roads["report"]["source"]) and _bare(roads["report"]["speed_table"]["source"])
    shared = {p.name for p in (settings.shared_geodata / "categories").iterdir()}
    matters = client.get("/matters", params={"kind": "event"}).json()
    # "yuncheng_case_standard.xlsx sheet 事件" for a sheet of a workbook
    assert {m["source"].split(" sheet ")[0] for m in matters} <= shared
    one = client.get(f"/matters/{matters[0]['code']}").json()
    assert one["source"].split(" sheet ")[0] in shared
    versions = client.get("/layers/community/versions").json()
    layers = client.get("/layers").json()
    assert versions and all(_bare(v["source_file"]) for v in [*versions, *layers])
    assert "community.geojson" in {v["source_file"] for v in versions}


async def test_delegation_lists_name_files_only(
    demo: dict[str, Path], rollback: asyncpg.Connection, tmp_path: Path
) -> None:
    """A list imported from a file (``gridsvc delegations import``) names the file only, in
    the shapes GET /delegations and /delegations/{id} answer with (rolled back: the demo's
    lists stay as they are for other tests)."""
    path = tmp_path / "赋权清单.csv"
    path.write_text("matter_code\nEV-01-01\n", encoding="utf-8")
    created = await delegations.import_file(
        rollback, path, enforcement_code="LI-VADUZ", effective_from=datetime(2099, 1, 1, tzinfo=UTC)
    )
    versions = await delegations.list_versions(rollback, enforcement_code="LI-VADUZ")
    shown = [DelegationVersion.model_validate(v) for v in versions if v["id"] == created["id"]]
    assert [v.source for v in shown] == ["赋权清单.csv"]
    one = await delegations.get_list(rollback, list_id=created["id"])
    assert DelegationList.model_validate(one).source == "赋权清单.csv"


def test_no_get_answer_shows_a_server_path(client: TestClient, settings: Settings, event_id: int) -> None:
    roots = server_roots(settings)
    found: dict[str, list[str]] = {}
    called = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if "get" not in operations or path in SKIPPED:
            continue
        url = path
        for name in re.findall(r"{(\w+)}", path):
            value = _parameter(client, name, path)
            if value is None:
                break
            url = url.replace(f"{{{name}}}", str(value))
        else:
            params = {
                p["name"]: QUERY[p["name"]]
                for p in operations["get"].get("parameters", [])
                if p["in"] == "query" and p["name"] in QUERY
            }
            response = client.get(url, params=params)
            called.append((url, response.status_code))
            if bad := leaks(response.text, roots):
                found[url] = bad
    assert not found, f"server paths in API answers: {found}"
    answered = {url for url, status in called if status == 200}
    for must in (
        "/roads",
        "/matters",
        "/layers",
        "/layers/community/versions",
        f"/events/{event_id}",
        "/delegations",
        "/calendar",
        "/jurisdictions/LI",
    ):
        assert must in answered, (must, called)


def _parameter(client: TestClient, name: str, path: str) -> Any:
    if name in VADUZ_TILE:
        return VADUZ_TILE[name]
    if name == "code":
        if path.startswith("/matters"):
            return _first(client.get("/matters", params={"kind": "event"}).json(), "code")
        return "LI"
    if name == "grid_id":
        cells = client.get("/grids/lookup", params=QUERY).json()
        return next((v["id"] for v in _walk_dicts(cells) if "id" in v and "code" in v), None)
    if name == "attachment_id":
        return None  # no photo in the demo; attachments name the uploaded file only
    route, take = PARAMETERS[name]
    answer = client.get(route).json()
    try:
        return take(answer)
    except (KeyError, IndexError, TypeError):
        return None


def _walk_dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value, *[d for v in value.values() for d in _walk_dicts(v)]]
    if isinstance(value, list):
        return [d for v in value for d in _walk_dicts(v)]
    return []


def test_file_name_keeps_sources_that_are_not_files() -> None:
    assert file_name("/srv/gridsvc/geodata/demo/community.geojson") == "community.geojson"
    assert file_name("C:\\数据\\清单.csv") == "清单.csv"
    assert file_name("geodata/road_speeds.toml") == "road_speeds.toml"
    assert file_name("osmnx:宁化县, 三明市") == "osmnx:宁化县, 三明市"
    assert file_name("api") == "api"
    report = {"source": "/a/b.pbf", "speed_table": {"source": "/c/d.toml"}, "ways": {"n": 1}}
    assert without_folders(report) == {
        "source": "b.pbf",
        "speed_table": {"source": "d.toml"},
        "ways": {"n": 1},
    }
