"""The operator map at volume (issue 9 item 4), in Debian's Chromium at 1600×1000.

500 open events seeded with SQL in one quiet community grid (closed again at the end, so
other tests do not meet them): the map shows clusters, not 500 markers; every cluster has the
colour of the most urgent SLA status among its events (the one overdue event turns its cluster
red); the legend explains the SLA and coverage colours; squads are drawn above the events (a
pane of their own), with their full names.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Outside, log_in
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, get, spot_in

pytestmark = pytest.mark.usefixtures("demo")

MANY = 500

# 500 routed events on a 25 × 20 lattice about 35 m apart around $1/$2, due in two hours
# (on time), the first one overdue; one more exactly on squad $5's position.
SEED = """
INSERT INTO events (source, title, geom, state, stage, stage_started_at, due_at, received_at,
                    responsible_kind, responsible_code, responsible_name)
SELECT 'operator', $3 || ' ' || i,
       ST_SetSRID(ST_MakePoint($1 + (i % 25 - 12) * 0.0005, $2 + (i / 25 - 10) * 0.0003), 4326),
       'routed', 'dispatch', now() - interval '5 minutes',
       CASE WHEN i = 0 THEN now() - interval '10 minutes' ELSE now() + interval '2 hours' END,
       now() - interval '5 minutes', 'triage', NULL, NULL
FROM generate_series(0, $4 - 1) AS i
RETURNING id
"""

# the worst SLA status among a cluster's events, from the events' own data (not the icon)
CLUSTERS = """() => {
  const order = ["overdue", "due_soon", "on_time", "none"], seen = new Map(), out = [];
  Object.values(OpsMap.events).forEach(known => {
    const parent = OpsMap.eventLayer.getVisibleParent(known.marker);
    if (!parent || parent === known.marker || !parent.getChildCount) return;
    const sla = I18N.slaStatus(known.data.sla, known.data.state);
    const worst = seen.get(parent);
    if (worst === undefined || order.indexOf(sla) < order.indexOf(worst)) seen.set(parent, sla);
  });
  seen.forEach((worst, cluster) => {
    const el = cluster.getElement() && cluster.getElement().querySelector("[data-testid=event-cluster]");
    if (el) out.push({expected: worst, shown: el.getAttribute("data-sla"),
                      count: +el.getAttribute("data-count"), n: cluster.getChildCount()});
  });
  return out;
}"""


async def test_clusters_coloured_by_the_worst_sla_legend_and_squads_above(
    server, browser, artifacts, make_token, db
):
    operator = make_token("operator", display_name="值班员 聚合")
    grid = await db.fetchval(QUIET_GRIDS + " ORDER BY code LIMIT 1", list(BUSY_TOWNS))
    centre = await spot_in(db, grid)
    tag = f"CL{uuid.uuid4().hex[:6].upper()}"
    squads = get(f"{server.url}/live/squads", operator).json()["squads"]
    squad = next(s for s in squads if s.get("position") and s["position"].get("lat") is not None)
    ids = [r["id"] for r in await db.fetch(SEED, centre["lng"], centre["lat"], tag, MANY)]
    under_squad = await db.fetchval(
        "INSERT INTO events (source, title, geom, state, stage, stage_started_at, due_at, "
        "responsible_kind) VALUES ('operator', $1, ST_SetSRID(ST_MakePoint($2, $3), 4326), 'routed', "
        "'dispatch', now(), now() + interval '2 hours', 'triage') RETURNING id",
        f"{tag} 中队位置",
        squad["position"]["lng"],
        squad["position"]["lat"],
    )
    try:
        outside = Outside(server.url)
        desk = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        outside.watch(desk)
        ops = await log_in(desk, server.url, operator, "/ops")
        await ops.wait_for_function("n => Object.keys(OpsMap.events).length >= n", arg=MANY + 1)

        # 1. the county at a glance: clusters, not 500 markers
        await ops.evaluate("p => OpsMap.map.setView([p.lat, p.lng], 14, {animate: false})", centre)
        clusters = ops.locator("[data-testid=event-cluster]")
        await expect(clusters.first).to_be_visible()
        markers = await ops.locator(".leaflet-marker-pane .ev").count()
        shown = await ops.evaluate(CLUSTERS)
        assert shown and markers < 100, f"{markers} single markers, {len(shown)} clusters"
        assert sum(c["n"] for c in shown) >= MANY - markers
        # every cluster wears its most urgent event's colour; the overdue one's is red
        assert [c for c in shown if c["shown"] != c["expected"] or c["count"] != c["n"]] == []
        late = await ops.evaluate(
            "id => { const p = OpsMap.eventLayer.getVisibleParent(OpsMap.events[id].marker);"
            " return p.getElement().querySelector('[data-testid=event-cluster]').getAttribute('data-sla'); }",
            ids[0],
        )
        assert late == "overdue"
        assert any(c["shown"] == "on_time" for c in shown)
        await ops.screenshot(path=artifacts / "map-1-clusters.png")

        # 2. the legend: SLA colours, clusters, coverage classes, in Chinese
        legend = ops.get_by_test_id("map-legend")
        await expect(legend).to_be_visible()
        for text in ("时限", "按时", "即将超时", "已超时", "聚合", "到场时间覆盖", "分钟"):
            await expect(legend).to_contain_text(text)
        await expect(legend.locator(".lg-cover .sw")).to_have_count(8)
        # Leaflet's own controls in Chinese too (no "Zoom in", no English link title)
        await expect(ops.locator(".leaflet-control-zoom-in")).to_have_attribute("title", "放大")
        await expect(ops.locator(".leaflet-control-zoom-out")).to_have_attribute("title", "缩小")
        assert await ops.locator(".leaflet-control-attribution a[title]").count() == 0

        # 3. zoomed in (z16): single markers, coloured by SLA
        await ops.evaluate("id => OpsMap.show(id)", ids[0])
        first = ops.locator(f".ev[data-id='{ids[0]}']")
        await expect(first).to_be_visible()
        await expect(first).to_have_attribute("data-sla", "overdue")
        await expect(ops.locator(f".ev[data-id='{ids[1]}']")).to_have_attribute("data-sla", "on_time")

        # 4. squads above events, with their full names
        await ops.evaluate("id => OpsMap.show(id)", under_squad)
        await expect(ops.locator(f".ev[data-id='{under_squad}']")).to_be_attached()
        label = ops.locator(f".leaflet-squads-pane .sq[data-squad='{squad['id']}']")
        await expect(label).to_have_text(squad["name"])
        box = await label.bounding_box()
        assert box is not None
        on_top = await ops.evaluate(
            "([x, y]) => { const el = document.elementFromPoint(x, y); return el && el.closest('.sq') ?"
            " el.closest('.sq').getAttribute('data-squad') : (el && el.className); }",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert on_top == str(squad["id"])
        long_names = [s for s in squads if len(s["name"]) > 8 and s.get("position")]
        for s in long_names[:3]:
            await expect(ops.locator(f".sq[data-squad='{s['id']}']")).to_have_text(s["name"])
        await ops.screenshot(path=artifacts / "map-2-squad-above-event.png")
        assert outside.requests == [], f"requests left the app: {outside.requests[:5]}"
        await desk.close()
    finally:
        await db.execute(
            "UPDATE events SET state = 'closed', closed_at = now(), stage = NULL, due_at = NULL "
            "WHERE id = ANY($1::bigint[])",
            [*ids, under_squad],
        )
