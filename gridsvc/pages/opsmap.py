"""The operator map's base: folium with the jurisdiction's boundary and grid layers.

No base tiles by default (county networks are often closed and nothing may come from the
internet): a neutral background with the boundary and the grids is a usable map on its own.
A county's own tile server can be set with ``GRIDSVC_OPS_TILE_URL``. Leaflet is inlined
(``gridsvc.maps.offline``); the page's own script finds the map and its layers through
``window.GRIDSVC_MAP``.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import folium
import shapely

from gridsvc.maps.grids import LAYER_STYLE
from gridsvc.maps.offline import leaflet_css, leaflet_js, new_map
from gridsvc.maps.safe import SafeGeoJsonTooltip

GRIDS = """
SELECT g.code, g.name, coalesce(g.name_zh, '') AS name_zh, l.name AS layer,
       ST_SimplifyPreserveTopology(g.geom, 0.00005) AS geom,
       coalesce(g.head_name, g.squad_name, g.station_name, '') AS responsible,
       coalesce(g.head_phone, '') AS phone
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE j.code = $1
ORDER BY l.name, g.code
"""
JURISDICTION = """
SELECT code, name, name_zh, timezone, ST_SimplifyPreserveTopology(boundary, 0.0001) AS boundary
FROM jurisdictions WHERE code = $1
"""
DEFAULT_JURISDICTION = """
SELECT j.code FROM jurisdictions j
WHERE EXISTS (SELECT 1 FROM layers l WHERE l.jurisdiction_id = j.id)
ORDER BY (j.level = 'county') DESC, j.code LIMIT 1
"""
VERSION = "SELECT coalesce(max(id), 0) FROM layer_versions"

# Layer keys the page's script knows (labels come from the i18n dictionaries).
ORDER = ["zone", "enforcement", "community"]


async def default_jurisdiction(connection: asyncpg.Connection | asyncpg.Pool) -> str | None:
    code: str | None = await connection.fetchval(DEFAULT_JURISDICTION)
    return code


async def jurisdiction_info(
    connection: asyncpg.Connection | asyncpg.Pool, code: str
) -> dict[str, Any] | None:
    row = await connection.fetchrow(JURISDICTION, code)
    return dict(row) if row else None


async def layers_version(connection: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await connection.fetchval(VERSION))


def _features(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(r["geom"]),
                "properties": {k: r[k] for k in ("code", "name", "name_zh", "responsible", "phone")},
            }
            for r in rows
        ],
    }


async def build_map(
    connection: asyncpg.Connection | asyncpg.Pool, *, jurisdiction: dict[str, Any], tile_url: str | None
) -> tuple[str, str, str]:
    """The folium map for ``jurisdiction``: ``(head, body, script)`` HTML fragments."""
    rows = [dict(r) for r in await connection.fetch(GRIDS, jurisdiction["code"])]
    fmap = new_map(
        location=[30.0, 115.0],
        zoom_start=5,
        tiles=None,
        control_scale=True,
        zoom_control=True,
        prefer_canvas=False,
    )
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr="county tile server", name="base").add_to(fmap)
    boundary = jurisdiction.get("boundary")
    shapes = [r["geom"] for r in rows] + ([boundary] if boundary is not None else [])
    if shapes:
        minx, miny, maxx, maxy = shapely.union_all([s.envelope for s in shapes]).bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    layers: dict[str, str] = {}
    if boundary is not None:
        outline = folium.GeoJson(
            shapely.geometry.mapping(boundary),
            name="boundary",
            style_function=lambda _f: {"color": "#37474f", "weight": 2, "fill": False},
            interactive=False,
        )
        outline.add_to(fmap)
        layers["boundary"] = outline.get_name()
    names = sorted({r["layer"] for r in rows}, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    for layer in names:
        kind = layer.split(":", 1)[0]
        style = LAYER_STYLE.get(kind, LAYER_STYLE["specialist"])
        group = folium.FeatureGroup(name=layer, show=kind in ("enforcement", "community"))
        folium.GeoJson(
            _features([r for r in rows if r["layer"] == layer]),
            style_function=lambda _f, s=style: {**s, "fillColor": s["color"]},
            highlight_function=lambda _f: {"weight": 4, "fillOpacity": 0.3},
            # names come from imported files: shown as text, never as HTML (D3)
            tooltip=SafeGeoJsonTooltip(
                fields=["name_zh", "code", "responsible"], aliases=["", "", ""], labels=False
            ),
        ).add_to(group)
        group.add_to(fmap)
        layers[layer] = group.get_name()
    expose = (
        "window.GRIDSVC_MAP = {map: "
        + fmap.get_name()
        + ", layers: {"
        + ", ".join(f"{json.dumps(k)}: {v}" for k, v in layers.items())
        + "}};"
    )
    html = fmap.get_root().render()
    head = html[html.index("<head>") + 6 : html.index("</head>")]
    body = html[html.index("<body>") + 6 : html.index("</body>")]
    script = html[html.index("</body>") + 7 : html.rindex("</html>")]
    script += f"<script>{expose}</script>\n"  # after folium's: the map exists by then
    head += f"<style>{leaflet_css()}</style>\n<script>{leaflet_js()}</script>\n"
    return head, body, script
