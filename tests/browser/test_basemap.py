"""The offline street base map in /ops and /inbox, in a real (headless) Chromium.

At z15 over Vaduz the streets are drawn: the base map's own canvas, read back in the page,
holds the street's colour at points sampled along a real street (chosen from the imported
data, away from crossings); labels are Chinese where the data have a Chinese name and follow
the language switch; and no request leaves the app (every other request is blocked and
recorded).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from playwright.async_api import BrowserContext, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import PHONE, Outside, log_in

pytestmark = pytest.mark.usefixtures("demo")

VADUZ = (47.1410, 9.5209)  # lat, lng of the town centre
ZOOM = 15

# In the page: the base-map canvas pixel (RGBA) under each point (null: no tile there), and
# how many of them carry one of the street's colours (fill or casing, within 40 per channel).
PIXELS = """
({ops, points, colours}) => {
  const map = ops ? window.OpsMap.map : window.InboxMap.map;
  const base = ops ? window.GRIDSVC_MAP.layers.basemap : window.InboxMap.basemap;
  const box = map.getContainer().getBoundingClientRect();
  const tiles = Object.values(base.geometry._tiles).filter(t => t.coords.z === map.getZoom());
  const rgb = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
  const pixels = points.map(([lat, lng]) => {
    const p = map.latLngToContainerPoint([lat, lng]);
    const x = box.left + p.x, y = box.top + p.y;
    for (const tile of tiles) {
      const r = tile.el.getBoundingClientRect();
      if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) continue;
      const cx = Math.floor((x - r.left) * tile.el.width / r.width);
      const cy = Math.floor((y - r.top) * tile.el.height / r.height);
      return Array.from(tile.el.getContext("2d").getImageData(cx, cy, 1, 1).data);
    }
    return null;
  });
  const matched = pixels.filter(px => px && px[3] > 200 && rgb.some(
    c => c.every((v, i) => Math.abs(v - px[i]) <= 40))).length;
  return {matched, total: points.length, pixels};
}
"""
DRAWN = f"(arg) => {{ const r = ({PIXELS})(arg); return r.matched >= 0.7 * r.total; }}"

LOADED = """
({ops, zoom, centre}) => {
  const map = ops ? window.OpsMap.map : window.InboxMap.map;
  const base = ops ? window.GRIDSVC_MAP.layers.basemap : window.InboxMap.basemap;
  // a page's own move (a first fit to its markers) may end after ours: set the view again
  if (map.getZoom() !== zoom) { map.setView(centre, zoom, {animate: false}); return false; }
  const layers = [base.geometry, base.labels];
  return layers.every(layer => {
    const tiles = Object.values(layer._tiles).filter(t => t.coords.z === zoom);
    return tiles.length > 0 && tiles.every(t => t.loaded);
  });
}
"""


async def street_points(db: asyncpg.Connection) -> tuple[str, str, tuple[float, float], list[Any]]:
    """A named street near Vaduz's centre drawn at z15, its middle (lat, lng), and points
    along it more than 12 m from every other road (crossings take the other road's colour)."""
    street = await db.fetchrow(
        "SELECT id, name, class, ST_Y(m) AS lat, ST_X(m) AS lng FROM ("
        " SELECT id, name, class, ST_Transform(ST_LineInterpolatePoint(geom, 0.5), 4326) AS m,"
        " ST_Length(geom) AS length FROM basemap_roads WHERE name IS NOT NULL AND min_zoom <= 15"
        " AND class IN ('secondary', 'tertiary', 'minor') AND ST_DWithin(geom,"
        " ST_Transform(ST_SetSRID(ST_MakePoint($1, $2), 4326), 3857), 500)"
        " AND ST_Length(geom) BETWEEN 200 AND 700) s ORDER BY length DESC LIMIT 1",
        VADUZ[1],
        VADUZ[0],
    )
    assert street is not None, "no street near Vaduz in the base map"
    rows = await db.fetch(
        "SELECT ST_Y(p4) AS lat, ST_X(p4) AS lng FROM ("
        " SELECT p, ST_Transform(p, 4326) AS p4 FROM ("
        "  SELECT (ST_Dump(ST_LineInterpolatePoints(geom, 0.04))).geom AS p"
        "  FROM basemap_roads WHERE id = $1) s) q "
        "WHERE NOT EXISTS (SELECT 1 FROM basemap_roads o WHERE o.id <> $1 AND ST_DWithin(o.geom, q.p, 12))",
        street["id"],
    )
    points = [[r["lat"], r["lng"]] for r in rows]
    assert len(points) >= 8, f"{street['name']}: too few points away from crossings"
    return street["name"], street["class"], (street["lat"], street["lng"]), points


async def block_outside(context: BrowserContext, base_url: str, outside: Outside) -> None:
    """Watch every request and abort any that would leave the app."""
    outside.watch(context)

    async def abort(route: Any) -> None:
        await route.abort()

    await context.route(lambda url: not url.startswith((base_url, "data:", "blob:")), abort)


async def streets_drawn(
    page: Page, *, ops: bool, kind: str, middle: tuple[float, float], points: list[Any]
) -> None:
    """At z15 on the street's middle, most points along it carry its colour on the canvas."""
    map_ref = "window.OpsMap.map" if ops else "window.InboxMap.map"
    await page.evaluate(f"{map_ref}.setView([{middle[0]}, {middle[1]}], {ZOOM}, {{animate: false}})")
    await page.wait_for_function(
        LOADED, arg={"ops": ops, "zoom": ZOOM, "centre": list(middle)}, timeout=15000
    )
    colours = [c for c in await page.evaluate(f"window.GridBasemap.roadColours({kind!r})") if c]
    arg = {"ops": ops, "points": points, "colours": colours}
    try:  # the canvas paints on the next frames
        await page.wait_for_function(DRAWN, arg=arg, timeout=10000)
    except PlaywrightTimeout:
        pass  # the assertion below says what was found
    found = await page.evaluate(PIXELS, arg)
    assert found["matched"] >= 0.7 * found["total"], (colours, found)


async def test_ops_draws_streets_at_z15_over_vaduz_offline(
    server, browser, artifacts, make_token, db
) -> None:
    name, kind, middle, points = await street_points(db)
    operator = make_token("operator", display_name="值班员 底图")
    outside = Outside(server.url)
    context = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    await block_outside(context, server.url, outside)
    tiles: list[str] = []
    context.on("request", lambda r: tiles.append(r.url) if "/tiles/" in r.url else None)
    try:
        page = await log_in(context, server.url, operator, "/ops")
        await streets_drawn(page, ops=True, kind=kind, middle=middle, points=points)
        await expect(page.locator(".leaflet-control-layers")).to_contain_text("街道底图")
        # Chinese labels where the data have them (Vaduz: name:zh), the name as mapped after
        # switching to English
        await expect(page.locator("canvas.basemap-labels[data-labels*='瓦杜茲']").first).to_be_attached()
        await page.screenshot(path=artifacts / "basemap-ops-z15-vaduz.png")
        await page.select_option("#lang", "en")
        await expect(page.locator("canvas.basemap-labels[data-labels*='Vaduz']").first).to_be_attached()
        assert any(f"/tiles/{ZOOM}/" in url for url in tiles), name
        assert outside.requests == []
    finally:
        await context.close()


async def test_inbox_draws_streets_at_z15_over_vaduz_offline(
    server, browser, artifacts, make_token, db
) -> None:
    _name, kind, middle, points = await street_points(db)
    head = make_token("grid_head", grid_codes=["LI-VADUZ-01"], display_name="网格长 底图")
    outside = Outside(server.url)
    context = await browser.new_context(**PHONE, locale="zh-CN")
    await block_outside(context, server.url, outside)
    try:
        page = await log_in(context, server.url, head, "/inbox")
        await expect(page.locator("[data-testid=inbox-map]")).to_be_visible()
        await streets_drawn(page, ops=False, kind=kind, middle=middle, points=points)
        await page.screenshot(path=artifacts / "basemap-inbox-z15-vaduz.png")
        assert outside.requests == []
    finally:
        await context.close()
