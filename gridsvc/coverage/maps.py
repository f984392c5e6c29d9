"""``gridsvc map coverage``: a folium choropleth of arrival time, squads marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import branca.colormap as cm
import folium
from branca.element import Figure

from gridsvc.coverage import queries
from gridsvc.database.pool import connect
from gridsvc.grids.overlay import hexagons
from gridsvc.maps.offline import new_map, save
from gridsvc.maps.safe import SafeGeoJsonTooltip, TextPopup, TextTooltip

# Colour breaks in minutes: the thresholds dispatchers are measured against.
_BREAKS_MIN = [0, 5, 10, 15, 20, 30, 45, 60, 90]
_COLOURS = ["#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43", "#d73027", "#a50026"]


def squad_marker(squad: dict[str, Any]) -> folium.Marker:
    """A squad's station: its name on hover, its details on click; every text shown as text
    (squad and station names are user-given, D3)."""
    station = squad["station"]
    marker = folium.Marker([station.y, station.x])
    TextTooltip(f"{squad['name']} ({squad['code']})").add_to(marker)
    TextPopup(
        [
            squad["name_zh"] or squad["name"],
            squad["station_name"] or "",
            f"placed by: {squad['station_rule']}",
            f"status: {squad['status']}",
        ]
    ).add_to(marker)
    return marker


def cell_tooltip() -> SafeGeoJsonTooltip:
    return SafeGeoJsonTooltip(
        fields=["minutes", "squad", "km"], aliases=["minutes 分钟", "fastest squad 中队", "road km"]
    )


async def write_coverage_map(url: str, *, out: Path, jurisdiction: str | None = None) -> Path:
    """Render the current coverage (H3 cells coloured by minutes, EPSG:4326) to ``out``."""
    connection = await connect(url)
    try:
        cells = [dict(r) for r in await connection.fetch(queries.MAP_CELLS, jurisdiction)]
        squads = [dict(r) for r in await connection.fetch(queries.MAP_SQUADS, jurisdiction)]
    finally:
        await connection.close()
    if not cells:
        raise ValueError("no coverage to draw: import roads and squads first (or run gridsvc demo build)")
    colours = cm.StepColormap(
        _COLOURS,
        vmin=0,
        vmax=_BREAKS_MIN[-1],
        index=_BREAKS_MIN,
        caption="arrival time of the fastest squad (min) 最快到场时间",
    )
    polygons = hexagons([c["cell"] for c in cells])
    features: list[dict[str, Any]] = []
    for cell, polygon in zip(cells, polygons, strict=True):
        minutes = cell["time_s"] / 60.0
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[round(x, 6), round(y, 6)] for x, y in polygon.exterior.coords]],
                },
                "properties": {
                    "minutes": round(minutes, 1),
                    "squad": cell["squad_code"] or "",
                    "km": round(cell["distance_m"] / 1000.0, 2),
                    "colour": colours(min(minutes, _BREAKS_MIN[-1])),
                },
            }
        )
    xs = [x for p in polygons for x in p.bounds[0::2]]
    ys = [y for p in polygons for y in p.bounds[1::2]]
    # offline (county networks are often closed): Leaflet inlined, no base tiles, no CDN
    fmap = new_map(tiles=None, control_scale=True)
    fmap.fit_bounds([[min(ys), min(xs)], [max(ys), max(xs)]])
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name="到场时间 arrival time",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "none",
            "weight": 0,
            "fillOpacity": 0.6,
        },
        tooltip=cell_tooltip(),
    ).add_to(fmap)
    group = folium.FeatureGroup(name="执法中队 squads")
    for squad in squads:
        squad_marker(squad).add_to(group)
    group.add_to(fmap)
    # branca's colour-scale legend draws with d3 from a CDN: a plain HTML legend instead
    root = fmap.get_root()
    assert isinstance(root, Figure)
    root.html.add_child(folium.Element(_legend(colours)))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return save(fmap, out)


def _legend(colours: cm.StepColormap) -> str:
    """The colour steps as an HTML legend in the map's corner (no script, nothing loaded)."""
    rows = []
    for low, high in zip(_BREAKS_MIN, [*_BREAKS_MIN[1:], None], strict=True):
        label = f"{low}–{high}" if high is not None else f"≥ {low}"
        rows.append(
            f'<div><i style="background:{colours(low)};display:inline-block;width:14px;'
            f'height:10px;margin-right:6px"></i>{label}</div>'
        )
    return (
        '<div id="coverage-legend" data-testid="coverage-legend" style="position:fixed;bottom:24px;'
        "right:10px;z-index:1000;background:#fff;padding:6px 10px;border-radius:4px;"
        'box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px sans-serif">'
        "<b>最快到场时间 arrival time (min)</b>" + "".join(rows) + "</div>"
    )
