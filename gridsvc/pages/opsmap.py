"""The operator map's grid layers as data: the jurisdiction's boundary and every current layer.

``/ops`` no longer carries them (nor Leaflet): ``gridsvc/static/ops/map.js`` builds a plain
Leaflet map and fetches ``GET /map/layers?jurisdiction=`` once, which answers this module's
JSON with an ``ETag`` of its bytes, so a browser that has it gets ``304``. No base tiles from
the internet (county networks are often closed): the street base map is our own
(``basemap.js``); ``GRIDSVC_OPS_TILE_URL`` can add a county's own raster tile server.
Styles are the offline maps' (``gridsvc.maps.grids.LAYER_STYLE``), so both look the same.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import shapely

from gridsvc.maps.grids import LAYER_STYLE

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
# With several counties (the demo's Liechtenstein and Ninghua) the one whose grids were
# imported first, so the map a page opens on does not change when a county is added.
DEFAULT_JURISDICTION = """
SELECT j.code FROM jurisdictions j
WHERE EXISTS (SELECT 1 FROM layers l WHERE l.jurisdiction_id = j.id)
  AND ($1::text[] IS NULL OR j.code = ANY($1))
ORDER BY (j.level = 'county') DESC,
         (SELECT min(l.id) FROM layers l WHERE l.jurisdiction_id = j.id), j.code
LIMIT 1
"""
VERSION = "SELECT coalesce(max(id), 0) FROM layer_versions"
# The /ops county switcher's choices: the jurisdictions with grids (limited to $1 when not
# NULL), in the order DEFAULT_JURISDICTION prefers them.
SWITCHABLE = """
SELECT j.code, j.name, coalesce(j.name_zh, j.name) AS name_zh FROM jurisdictions j
WHERE EXISTS (SELECT 1 FROM layers l WHERE l.jurisdiction_id = j.id)
  AND ($1::text[] IS NULL OR j.code = ANY($1))
ORDER BY (j.level = 'county') DESC,
         (SELECT min(l.id) FROM layers l WHERE l.jurisdiction_id = j.id), j.code
"""

# Layer keys the page's script knows (labels come from the i18n dictionaries).
ORDER = ["zone", "enforcement", "community"]
# shown when the page opens; the others are switched on in the layer control
SHOWN = {"enforcement", "community"}
BOUNDARY_STYLE = {"color": "#37474f", "weight": 2, "fill": False}
# ~0.1 m: enough for grids simplified to ~5 m, and a third fewer bytes than full doubles
PRECISION = 1e-6


@dataclass(frozen=True)
class MapLayers:
    """The layers of one jurisdiction at one layers version, encoded once."""

    names: list[str]  # "boundary" first when there is one, then the layers in drawing order
    shown: list[str]  # those on the map when it opens
    body: bytes
    gzipped: bytes
    etag: str


async def default_jurisdiction(
    connection: asyncpg.Connection | asyncpg.Pool, *, within: list[str] | None = None
) -> str | None:
    """The jurisdiction a page's map opens on (limited to ``within`` when given)."""
    code: str | None = await connection.fetchval(DEFAULT_JURISDICTION, within)
    return code


async def switchable(
    connection: asyncpg.Connection | asyncpg.Pool, *, within: list[str] | None = None
) -> list[dict[str, str]]:
    """The jurisdictions a page may switch its map between (code, name, name_zh)."""
    return [dict(r) for r in await connection.fetch(SWITCHABLE, within)]


async def jurisdiction_info(
    connection: asyncpg.Connection | asyncpg.Pool, code: str
) -> dict[str, Any] | None:
    row = await connection.fetchrow(JURISDICTION, code)
    return dict(row) if row else None


async def layers_version(connection: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await connection.fetchval(VERSION))


def _geometry(geom: Any) -> Any:
    return shapely.geometry.mapping(shapely.set_precision(geom, PRECISION, mode="pointwise"))


def _features(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": _geometry(r["geom"]),
                "properties": {k: r[k] for k in ("code", "name", "name_zh", "responsible", "phone")},
            }
            for r in rows
        ],
    }


async def build_layers(
    connection: asyncpg.Connection | asyncpg.Pool, *, jurisdiction: dict[str, Any], version: int
) -> MapLayers:
    """Every current layer of ``jurisdiction`` and its boundary, with the style of each."""
    rows = [dict(r) for r in await connection.fetch(GRIDS, jurisdiction["code"])]
    layers: list[dict[str, Any]] = []
    boundary = jurisdiction.get("boundary")
    if boundary is not None:
        layers.append(
            {
                "name": "boundary",
                "shown": True,
                "interactive": False,
                "style": BOUNDARY_STYLE,
                "features": {"type": "Feature", "geometry": _geometry(boundary), "properties": {}},
            }
        )
    names = sorted({r["layer"] for r in rows}, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    for name in names:
        kind = name.split(":", 1)[0]
        style = LAYER_STYLE.get(kind, LAYER_STYLE["specialist"])
        layers.append(
            {
                "name": name,
                "shown": kind in SHOWN,
                "interactive": True,
                "style": {**style, "fillColor": style["color"]},
                "features": _features([r for r in rows if r["layer"] == name]),
            }
        )
    body = orjson.dumps({"jurisdiction": jurisdiction["code"], "version": version, "layers": layers})
    return MapLayers(
        names=[layer["name"] for layer in layers],
        shown=[layer["name"] for layer in layers if layer["shown"]],
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
    )
