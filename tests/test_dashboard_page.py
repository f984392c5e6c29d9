"""``GET /dashboard`` (issue 11 item 3): the shell for the desk and leaders, Chinese first,
ECharts served from the app (vendored, with its licence), no URL of another host."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridsvc.settings import PROJECT_ROOT

pytestmark = pytest.mark.usefixtures("demo")
STATIC = PROJECT_ROOT / "gridsvc" / "static"


def _config(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="gridsvc-config" type="application/json">(.*?)</script>', page, re.S)
    assert found, "no config in the page"
    return dict(json.loads(found.group(1)))


def test_dashboard_shell_for_the_desk(client: TestClient) -> None:
    answer = client.get("/dashboard")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    page = answer.text
    assert "<title>数据看板" in page and 'lang="zh-CN"' in page
    config = _config(page)
    assert config["jurisdiction"] == "LI" and config["timezone"] == "Europe/Vaduz"
    codes = [j["code"] for j in config["jurisdictions"]]
    # the counties first (the demo has two: Liechtenstein and Ninghua); only jurisdictions
    # with grid layers
    assert set(codes[:2]) == {"LI", "350424"}
    assert all(j["level"] == "county" for j in config["jurisdictions"][:2])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", config["today"])
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert not [u for u in urls if re.match(r"^([a-z]+:)?//", u)], "nothing from another host"
    scripts = [u for u in urls if u.endswith(".js") or ".js?v=" in u]
    assert any("vendor/echarts/echarts.min.js?v=" in u for u in scripts)
    for url in scripts:
        assert client.get(url).status_code == 200, url
    for testid in ("chart-units", "chart-trend", "chart-hotspots", "dash-download", "dash-filters"):
        assert f'data-testid="{testid}"' in page


def test_vendored_echarts_carries_its_licence() -> None:
    vendor = STATIC / "vendor" / "echarts"
    assert "Apache License" in (vendor / "LICENSE").read_text()
    assert "Apache" in (vendor / "NOTICE").read_text()
    assert (vendor / "echarts.min.js").stat().st_size > 500_000


def test_who_sees_the_dashboard(client: TestClient, make_token: Any, field_token: Any) -> None:
    leader = make_token("leader")
    answer = client.get("/dashboard", headers={"Authorization": f"Bearer {leader}"})
    assert answer.status_code == 200
    department = client.get("/departments").json()[0]["code"]
    unit = field_token("department", department_code=department)
    answer = client.get("/dashboard", headers={"Authorization": f"Bearer {unit}"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox"
    answer = client.get("/dashboard", headers={"Authorization": ""}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=/dashboard")
