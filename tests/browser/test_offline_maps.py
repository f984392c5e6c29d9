"""``gridsvc map coverage`` writes a map that works offline (issue 9 item 6).

The written HTML loads nothing from another host (no script, stylesheet, image, font or tile
URL outside the file), and opened from disk in Chromium with every network request blocked
it draws its cells, its squads (marker images load) and its legend.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from gridsvc.coverage.maps import write_coverage_map

pytestmark = pytest.mark.usefixtures("demo")

LOCAL = ("data:", "blob:", "file:", "about:")


class _Resources(HTMLParser):
    """Every URL an HTML page would load by itself: script/img/iframe/source src, link href,
    and url(...) / @import in its styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "embed", "audio", "video") and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += [u.strip("'\" ") for u in re.findall(r"url\(([^)]*)\)", data)]
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)


def external_urls(html: str) -> list[str]:
    parser = _Resources()
    parser.feed(html)
    loaded = parser.urls
    # tile layers and fetches name their URL in script: any absolute or protocol-relative one
    loaded += re.findall(r"(?:tileLayer|fetch|XMLHttpRequest\(\)\.open)\(\s*['\"]([^'\"]+)", html)
    return [u for u in loaded if re.match(r"^([a-z][a-z0-9+.-]*:)?//", u, re.I) and not u.startswith(LOCAL)]


@pytest.fixture(scope="module")
async def coverage_html(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("maps") / "coverage.html"
    return await write_coverage_map(database_url, out=out, jurisdiction="LI")


def test_coverage_map_references_no_external_url(coverage_html: Path) -> None:
    html = coverage_html.read_text(encoding="utf-8")
    assert external_urls(html) == []
    assert "cdn" not in html.lower().split("<script>", 1)[0]  # nothing before the inlined Leaflet
    # and the checker does catch what folium would load by default
    assert external_urls('<script src="https://cdn.jsdelivr.net/npm/leaflet.js"></script>')
    assert external_urls("<script>L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png')</script>")


async def test_coverage_map_renders_offline_in_chromium(
    coverage_html: Path, browser: Any, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    requested: list[str] = []
    blocked: list[str] = []

    async def route(r: Any) -> None:
        url = r.request.url
        requested.append(url)
        if url.startswith(LOCAL):
            await r.continue_()
        else:
            blocked.append(url)
            await r.abort()

    await context.route("**/*", route)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(coverage_html.as_uri())
        cells = page.locator(".leaflet-overlay-pane path")
        await expect(cells.first).to_be_visible(timeout=20000)
        assert await cells.count() > 1000  # one hexagon per H3 cell
        markers = page.locator("img.leaflet-marker-icon")
        await expect(markers.first).to_be_visible()
        assert await markers.count() >= 11  # a squad per municipality
        widths = await markers.evaluate_all("els => els.map(e => e.complete && e.naturalWidth)")
        assert all(w and w > 0 for w in widths), widths  # the icon images load, from the file
        await expect(page.locator("[data-testid=coverage-legend]")).to_contain_text("最快到场时间")
        await page.screenshot(path=artifacts / "coverage-offline.png")
        assert errors == []
        assert blocked == []
        assert requested and all(u.startswith(LOCAL) for u in requested)
    finally:
        await context.close()
