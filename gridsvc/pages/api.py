"""``GET /ops`` (the operator's live map), ``GET /inbox`` (the field inbox), ``/static/...``.

The pages are shells: everything they show comes from the authenticated JSON routes and the
SSE stream, with the ``gridsvc_token`` cookie that ``/login`` sets. Without a valid cookie a
page redirects to ``/login``; a grid head, squad or department sent to /ops lands in /inbox.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from gridsvc.auth import scope
from gridsvc.auth.deps import principal_or_none
from gridsvc.auth.models import Principal
from gridsvc.auth.policy import PAGE_READERS
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.pages import opsmap
from gridsvc.pages.templating import StaticFileMissing, render, static_file

router = APIRouter(tags=["pages"], include_in_schema=False)
DESK_ROLES = {"admin", "operator"}
FIELD_ROLES = {"grid_head", "squad", "department"}
FACETS = ("state", "stage", "sla", "township", "grid", "matter_class", "responsible", "source", "located")
NAV = ("/dashboard", "/inspection-lists")  # the pages the top bar of /ops links to
COLUMNS = ("state", "time_left", "matter", "address", "where", "responsible", "source", "work_order")
# a year: the URL carries the file's hash (static_url), so a changed file is another URL
IMMUTABLE = "public, max-age=31536000, immutable"


def _login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _config(request: Request, who: Principal, info: dict[str, Any] | None) -> dict[str, Any]:
    """What the page's scripts read from ``<script id="gridsvc-config">``."""
    settings = request.app.state.settings
    return {
        "user": {
            "user_id": who.user_id,
            "name": who.name,
            "display_name": who.display_name,
            "role": who.role,
            "grid_codes": list(who.grid_codes),
            "squad_id": who.squad_id,
            "department_code": who.department_code,
        },
        "jurisdiction": info["code"] if info else None,
        "jurisdiction_name": (info.get("name_zh") or info["name"]) if info else None,
        "timezone": info["timezone"] if info else "Asia/Shanghai",
        "heartbeat_s": settings.live_heartbeat_s,
        "attachment_max_bytes": settings.attachment_max_bytes,
        # where the inbox's map opens before it knows any assignment (west, south, east, north)
        "bounds": list(info["boundary"].bounds) if info and info.get("boundary") is not None else None,
    }


async def _jurisdiction(request: Request, who: Principal) -> dict[str, Any] | None:
    pool = request.app.state.pool
    code = request.query_params.get("j")
    if code is None and (own := await scope.jurisdiction_codes(pool, who)):
        # a field account's page opens on its own county (a Ninghua grid head on Ninghua)
        code = await opsmap.default_jurisdiction(pool, within=own)
    code = code or await opsmap.default_jurisdiction(pool)
    if code is None:
        return None
    info = await opsmap.jurisdiction_info(pool, code)
    if info is None:
        raise APIError(404, "not_found", f"jurisdiction {code!r} does not exist")
    return info


async def _map_layers(request: Request, info: dict[str, Any]) -> opsmap.MapLayers:
    """The jurisdiction's layers, built once per layers version (a new import: a new version).

    From the replica when there is one: the page's largest read, changed by imports only."""
    pool = read_pool(request)
    cache: dict[tuple[str, int], opsmap.MapLayers] = request.app.state.__dict__.setdefault(
        "ops_map_layers", {}
    )
    version = await opsmap.layers_version(pool)
    key = (info["code"], version)
    if key not in cache:
        if any(known[1] != version for known in cache):
            cache.clear()
        cache[key] = await opsmap.build_layers(pool, jurisdiction=info, version=version)
    return cache[key]


def _gzip_ok(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _matches(request: Request, *etags: str) -> bool:
    """``If-None-Match`` names one of ``etags`` (weak or strong comparison, as for GET)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    given = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in given or any(tag in given for tag in etags)


@router.get("/ops")
async def ops_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        return _login(request)
    if who.role not in DESK_ROLES:
        return RedirectResponse("/inbox", status_code=303)
    info = await _jurisdiction(request, who)
    config = _config(request, who, info)
    # the layer keys before their data: ops.js builds the layer control at once, map.js fills it
    layers = await _map_layers(request, info) if info else None
    config["map"] = {
        "layers": layers.names if layers else [],
        "shown": layers.shown if layers else [],
        "layers_url": f"/map/layers?jurisdiction={quote(info['code'])}" if info else None,
        "tile_url": request.app.state.settings.ops_tile_url,
    }
    # the county switcher: the jurisdictions with grids this account sees (the header shows
    # it from two on; each choice reloads the page with ?j=CODE)
    pool = read_pool(request)
    config["jurisdictions"] = await opsmap.switchable(pool, within=await scope.jurisdiction_codes(pool, who))
    title = (info.get("name_zh") or info["name"]) if info else ""
    nav = [path for path in NAV if who.role in PAGE_READERS[path]]
    return render(request, "ops.html", title=title, config=config, facets=FACETS, columns=COLUMNS, nav=nav)


@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        return _login(request)
    if who.role == "integration":
        raise APIError(403, "forbidden", "the hotline has no inbox")
    info = await _jurisdiction(request, who)
    return render(
        request, "inbox.html", who_name=who.display_name or who.name, config=_config(request, who, info)
    )


@router.get("/map/layers")
async def map_layers(request: Request, jurisdiction: str) -> Response:
    """The /ops map's boundary and grid layers (GeoJSON, EPSG:4326, with their styles).

    ``ETag`` of the bytes with ``no-cache``: a browser asks every time and gets ``304`` until a
    layer is imported again.
    """
    info = await opsmap.jurisdiction_info(read_pool(request), jurisdiction)
    if info is None:
        raise APIError(422, "invalid", f"query.jurisdiction: no jurisdiction {jurisdiction!r}")
    layers = await _map_layers(request, info)
    headers = {"ETag": layers.etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if _matches(request, layers.etag):
        return Response(status_code=304, headers=headers)
    if _gzip_ok(request):
        headers["Content-Encoding"] = "gzip"
        return Response(layers.gzipped, media_type="application/json", headers=headers)
    return Response(layers.body, media_type="application/json", headers=headers)


@router.get("/static/{path:path}")
async def static(request: Request, path: str) -> Response:
    """Scripts, styles and dictionaries of the pages (and the vendored Leaflet).

    With ``?v=`` equal to the file's hash (what ``static_url`` writes into the pages) it may be
    kept a year; otherwise ``no-cache`` with a strong ``ETag`` (``304`` on ``If-None-Match``).
    Text is sent gzipped to browsers that take it.
    """
    try:
        found = static_file(path)
    except StaticFileMissing:
        raise APIError(404, "not_found", f"no static file {path!r}") from None
    media = mimetypes.guess_type(found.path.name)[0] or "application/octet-stream"
    if found.path.suffix in {".js", ".json", ".css"}:
        media += "; charset=utf-8"
    packed = found.gzipped is not None and _gzip_ok(request)
    # one ETag per encoding: the bytes differ
    plain, zipped = f'"{found.digest}"', f'"{found.digest}-gz"'
    headers = {
        "ETag": zipped if packed else plain,
        "Cache-Control": IMMUTABLE if request.query_params.get("v") == found.digest else "no-cache",
    }
    if found.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if _matches(request, plain, zipped):
        return Response(status_code=304, headers=headers)
    if packed:
        headers["Content-Encoding"] = "gzip"
        return Response(found.gzipped, media_type=media, headers=headers)
    return Response(found.body, media_type=media, headers=headers)
