"""``gridsvc map grids``: a folium map of every layer, each toggleable, names on hover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
import h3
import shapely

from gridsvc.database.pool import connect
from gridsvc.maps.offline import new_map, save
from gridsvc.maps.safe import SafeGeoJsonTooltip, label

LAYER_STYLE = {
    "enforcement": {"color": "#c0392b", "weight": 3, "fillOpacity": 0.05},
    "zone": {"color": "#8e44ad", "weight": 5, "fillOpacity": 0.0, "dashArray": "8 6"},
    "community": {"color": "#2471a3", "weight": 1.5, "fillOpacity": 0.12},
    "specialist": {"color": "#1e8449", "weight": 1.5, "fillOpacity": 0.25},
}
LAYER_LABEL = {
    "enforcement": "综合执法网格 enforcement",
    "zone": "联合执法片区 zones",
    "community": "社区网格 community",
}

_GRIDS = """
SELECT g.code, g.name, coalesce(g.name_zh, '') AS name_zh, g.geom,
       coalesce(g.head_name, g.squad_name, g.station_name, '') AS responsible,
       coalesce(g.head_phone, '') AS phone, l.name AS layer, l.kind
FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE $1::text IS NULL OR j.code = $1
ORDER BY l.name, g.code
"""

_CELLS = """
SELECT c.cell, c.straddles, c.grid_id IS NULL AND NOT c.straddles AS empty
FROM grid_cells c
JOIN layer_versions v ON v.id = c.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id
JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.name = 'community' AND ($1::text IS NULL OR j.code = $1)
"""


def _feature_collection(rows: list[dict[str, Any]]) -> dict[str, Any]:
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


async def write_grid_map(
    url: str, *, out: Path, with_cells: bool = False, jurisdiction: str | None = None
) -> Path:
    """Render the current grid layers (EPSG:4326) to a standalone HTML map at ``out``."""
    connection = await connect(url)
    try:
        rows = [dict(r) for r in await connection.fetch(_GRIDS, jurisdiction)]
        cells = [dict(r) for r in await connection.fetch(_CELLS, jurisdiction)] if with_cells else []
    finally:
        await connection.close()
    if not rows:
        raise ValueError("no grids to draw: import a layer or run gridsvc demo build first")
    bounds = shapely.union_all([r["geom"].envelope for r in rows]).bounds
    fmap = new_map(tiles="OpenStreetMap", control_scale=True)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    layer_names = sorted(
        {r["layer"] for r in rows},
        key=lambda n: (
            ["zone", "enforcement", "community"].index(n) if n in ("zone", "enforcement", "community") else 3
        ),
    )
    for layer in layer_names:
        kind = layer.split(":", 1)[0]
        style = LAYER_STYLE[kind]
        group = folium.FeatureGroup(
            name=label(LAYER_LABEL.get(layer, f"专业网格 {layer}")), show=kind != "specialist"
        )
        folium.GeoJson(
            _feature_collection([r for r in rows if r["layer"] == layer]),
            style_function=lambda _f, s=style: {**s, "fillColor": s["color"]},
            highlight_function=lambda _f: {"weight": 4, "fillOpacity": 0.35},
            # names come from imported files: shown as text, never as HTML (D3)
            tooltip=SafeGeoJsonTooltip(
                fields=["name", "name_zh", "code", "responsible", "phone"],
                aliases=["name", "名称", "code", "负责", "phone"],
            ),
        ).add_to(group)
        group.add_to(fmap)
    if cells:
        group = folium.FeatureGroup(name="H3 cells (community; red = on a border)", show=False)
        features = [
            {
                "type": "Feature",
                "geometry": h3.cells_to_geo([h3.int_to_str(c["cell"])]),
                "properties": {
                    "kind": "border" if c["straddles"] else ("none" if c["empty"] else "interior")
                },
            }
            for c in cells
        ]
        colours = {"border": "#e74c3c", "none": "#7f8c8d", "interior": "#5dade2"}
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda f: {
                "color": colours[f["properties"]["kind"]],
                "weight": 0.5,
                "fillOpacity": 0.25,
            },
        ).add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return save(fmap, out)
