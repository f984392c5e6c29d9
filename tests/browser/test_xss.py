"""Stored XSS (issue 13, D3): imported grid names, event texts and account names that are
markup or script are shown as text in /ops (tooltips, popups, panel), /inbox and the
generated maps, in a real headless Chromium.

Every payload would set ``window.__xss`` if it ever became HTML or code; the test also shows
that the same payload *does* fire when put into ``innerHTML``, so the check can fail.
The hostile data lives in a jurisdiction of its own (a township far from every other test's
places), so it disturbs no one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import folium
import httpx
import pytest
import shapely
from playwright.async_api import Page, expect
from shapely.geometry import MultiPolygon, box, mapping

from gridsvc.coverage.maps import cell_tooltip, squad_marker
from gridsvc.database.pool import connect
from gridsvc.grids.importer import prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.maps.grids import write_grid_map
from gridsvc.maps.offline import new_map, save
from tests.browser.conftest import event_marker, log_in
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, start_server

pytestmark = pytest.mark.usefixtures("demo")

JURISDICTION = "ZZ-XSS"
AREA = box(86.00, 41.00, 86.04, 41.03)  # Xinjiang desert: no other test goes there
# a specialist layer of its own: the demo's layers (counted and measured elsewhere) keep
# exactly their grids
LAYER = "specialist:xsstest"


def payload(where: str) -> str:
    """Markup that runs script if rendered as HTML, and code if pasted into a template
    literal or a string literal (at most 200 characters: an event title's limit)."""
    flag = f"top.__xss='{where}'"
    text = (
        f'<img src=x onerror="{flag}">`${{{flag}}}`\'"</script><script>{flag}</script><svg onload="{flag}">'
    )
    assert len(text) <= 200, len(text)
    return text


GRID_NAME = payload("grid-name")
HEAD_NAME = payload("grid-head")
GRID_CODE = 'ZZ-<b id="xss-code">1</b>'
TITLE = payload("title")


@pytest.fixture(scope="module")
async def hostile_layer(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A township whose grids carry hostile names, imported like any layer file."""
    folder = tmp_path_factory.mktemp("xss")
    connection = await connect(database_url)
    try:
        await jurisdictions.upsert(
            connection,
            code=JURISDICTION,
            name=payload("jurisdiction"),
            name_zh=payload("jurisdiction-zh"),
            level="township",
            boundary=MultiPolygon([AREA]),
            source="tests",
        )
        west, south, east, north = AREA.bounds
        middle = (west + east) / 2
        halves = [box(west, south, middle, north), box(middle, south, east, north)]
        features = [
            {
                "type": "Feature",
                "geometry": mapping(shape),
                "properties": {
                    "code": code,
                    "name": GRID_NAME,
                    "name_zh": GRID_NAME,
                    "head_name": HEAD_NAME,
                    "head_phone": "150<b>0</b>",
                },
            }
            for code, shape in zip([GRID_CODE, "ZZ-2"], halves, strict=True)
        ]
        path = folder / "grids.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        await import_layer(
            connection, prepare_layer(path, layer=LAYER), jurisdiction_code=JURISDICTION, resolution=10
        )
    finally:
        await connection.close()
    return JURISDICTION


@pytest.fixture(scope="module")
def server(settings, hostile_layer):  # noqa: ARG001  (the layer exists before the app loads)
    app = start_server(settings)
    try:
        yield app
    finally:
        app.__exit__()


async def last_community_grid(database_url: str) -> str:
    connection = await connect(database_url)
    try:
        return str(await connection.fetchval(QUIET_GRIDS + " ORDER BY code DESC LIMIT 1", list(BUSY_TOWNS)))
    finally:
        await connection.close()


def watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def fired(page: Page) -> Any:
    return await page.evaluate("window.__xss || null")


async def assert_payload_is_live(page: Page) -> None:
    """The same text put into innerHTML does run: the checks above could have failed."""
    await page.evaluate(
        "(html) => { const d = document.createElement('div');"
        " d.innerHTML = html; document.body.appendChild(d); }",
        payload("probe"),
    )
    await page.wait_for_function("window.__xss === 'probe'", timeout=5000)


async def test_d3_hostile_names_and_event_texts_stay_text_in_ops_inbox_and_maps(
    server, browser, make_token, database_url, tmp_path
):
    operator = make_token("operator", display_name=payload("operator-name"))
    # a grid head's scope names community grids: the last quiet one (no other test's)
    head_grid = await last_community_grid(database_url)
    head = make_token("grid_head", grid_codes=[head_grid], display_name=payload("head-name"))
    inside = shapely.Point(86.03, 41.01)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {operator}"}
    ) as api:
        created = await api.post(
            "/events",
            json={
                "title": TITLE,
                "description": payload("description"),
                "address": payload("address"),
                "location": {"lng": inside.x, "lat": inside.y, "crs": "wgs84"},
            },
        )
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        routed = await api.post(
            f"/events/{event_id}/actions/route",
            json={"target": {"kind": "grid_head", "code": head_grid}, "note": payload("note")},
        )
        assert routed.status_code == 200, routed.text
        sent = await api.post(f"/events/{event_id}/actions/dispatch", json={})
        assert sent.status_code == 200, sent.text

    # /ops: the grid tooltip on hover, the event popup and the side panel on click
    desk = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    ops = await log_in(desk, server.url, operator, "/ops")
    errors = watch(ops)
    await ops.goto(f"{server.url}/ops?j={JURISDICTION}")
    await ops.wait_for_selector("body[data-ready='1']", timeout=15000)
    await expect(ops.locator("#jname")).to_have_text(payload("jurisdiction-zh"))
    # specialist layers start hidden: switch ours on in the layer control
    await ops.locator(f".leaflet-control-layers label:has(span[data-layer='{LAYER}']) input").check()
    grids = ops.locator(".leaflet-overlay-pane path.leaflet-interactive")
    await expect(grids.first).to_be_visible()
    box_ = await grids.first.bounding_box()
    assert box_ is not None
    await ops.mouse.move(box_["x"] + box_["width"] * 0.25, box_["y"] + box_["height"] * 0.25)
    tooltip = ops.locator(".leaflet-tooltip").first
    await expect(tooltip).to_contain_text(GRID_NAME)
    await expect(tooltip).to_contain_text(HEAD_NAME)
    assert (
        await ops.locator(".leaflet-tooltip img, .leaflet-tooltip svg, .leaflet-tooltip script").count() == 0
    )
    marker = await event_marker(ops, event_id)
    await expect(marker).to_have_attribute("title", TITLE)
    await marker.click()
    await expect(ops.locator(".leaflet-popup-content b")).to_have_text(TITLE)
    panel = ops.locator("#panel")
    await expect(panel.locator("h2")).to_have_text(TITLE)
    await expect(panel.locator("p.desc")).to_have_text(payload("description"))
    await expect(panel).to_contain_text(payload("address"))
    await expect(panel.locator("ol.trail")).to_contain_text(payload("note"))
    assert await panel.locator("img, svg, script").count() == 0
    assert await fired(ops) is None, await fired(ops)
    assert not errors, errors
    await assert_payload_is_live(ops)

    # /inbox: the grid head's card
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    inbox = await log_in(phone, server.url, head, "/inbox")
    errors = watch(inbox)
    card = inbox.locator(f"article[data-id='{event_id}']")
    await expect(card.locator("h2")).to_have_text(TITLE)
    await expect(card.locator("p.addr")).to_have_text(payload("address"))
    await expect(inbox.locator("#who")).to_have_text(payload("head-name"))
    assert await card.locator("img, svg, script").count() == 0
    assert await fired(inbox) is None, await fired(inbox)
    assert not errors, errors
    await phone.close()
    await desk.close()

    # the generated maps, opened from disk: grid tooltips, the coverage map's squad markers
    grid_map = await write_grid_map(database_url, out=tmp_path / "grids.html", jurisdiction=JURISDICTION)
    squad = {
        "code": GRID_CODE,
        "name": payload("squad-name"),
        "name_zh": payload("squad-zh"),
        "station_name": payload("station"),
        "station_rule": "manual",
        "status": "available",
        "station": inside,
    }
    fmap = new_map(location=[inside.y, inside.x], zoom_start=13, tiles=None)
    squad_marker(squad).add_to(fmap)
    cells = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(box(86.00, 41.00, 86.02, 41.02)),
                "properties": {"minutes": 3.5, "squad": GRID_CODE, "km": 1.2},
            }
        ],
    }
    folium.GeoJson(cells, tooltip=cell_tooltip()).add_to(fmap)
    coverage_map = save(fmap, tmp_path / "coverage.html")
    await check_map_file(browser, grid_map, hover=[GRID_NAME, HEAD_NAME], layer=LAYER)
    await check_map_file(
        browser,
        coverage_map,
        hover=[GRID_CODE],
        marker=payload("squad-name"),
        popup=[payload("squad-zh"), payload("station")],
    )


async def check_map_file(
    browser: Any,
    path: Path,
    *,
    hover: list[str],
    layer: str | None = None,
    marker: str | None = None,
    popup: list[str] | None = None,
) -> None:
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    page = await context.new_page()
    errors = watch(page)
    await page.goto(path.as_uri())
    if layer is not None:  # specialist layers start hidden
        await page.locator(".leaflet-control-layers label", has_text=layer).locator("input").check()
    shapes = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    await expect(shapes.first).to_be_visible()
    box_ = await shapes.first.bounding_box()
    assert box_ is not None
    await page.mouse.move(box_["x"] + box_["width"] * 0.2, box_["y"] + box_["height"] * 0.2)
    tooltip = page.locator(".leaflet-tooltip").last
    for text in hover:
        await expect(tooltip).to_contain_text(text)
    if marker is not None:
        pin = page.locator(".leaflet-marker-icon").first
        await pin.hover()
        await expect(page.locator(".leaflet-tooltip").last).to_contain_text(marker)
        await pin.click()
        for text in popup or []:
            await expect(page.locator(".leaflet-popup-content")).to_contain_text(text)
    assert (
        await page.locator(
            ".leaflet-tooltip img, .leaflet-tooltip svg, .leaflet-popup img, .leaflet-control-layers img"
        ).count()
        == 0
    )
    assert await fired(page) is None, (path.name, await fired(page))
    assert not errors, errors
    await assert_payload_is_live(page)
    await context.close()
