"""``GET /tiles/{z}/{x}/{y}.mvt``: the offline street base map as Mapbox Vector Tiles.

Layers ``landuse``, ``water``, ``buildings``, ``roads`` (class, name, name_zh) and ``places``
(class, name, name_zh, rank), built from PostGIS with ``ST_AsMVT`` (gridsvc/tiles/queries.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi import Path as PathParam

from gridsvc.database.replica import read_pool
from gridsvc.errors import Invalid
from gridsvc.tiles.models import MEDIA_TYPE
from gridsvc.tiles.service import TileRequestError, tile_service

router = APIRouter(tags=["tiles"])


@router.get(
    "/tiles/{z}/{x}/{y}.mvt",
    summary="A vector tile of the offline base map (204 where there is no data)",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}}, 204: {"description": "no data in this tile"}},
)
async def tile(
    request: Request,
    z: Annotated[int, PathParam(description="zoom, 0..22")],
    x: Annotated[int, PathParam(description="column, 0..2^z-1")],
    y: Annotated[int, PathParam(description="row, 0..2^z-1 (XYZ: 0 at the north)")],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    settings = request.app.state.settings
    service = tile_service(request.app.state, cache_bytes=settings.tile_cache_mb * 1024 * 1024)
    try:
        answer = await service.tile(read_pool(request), z=z, x=x, y=y, if_none_match=if_none_match)
    except TileRequestError as error:
        raise Invalid(str(error), fields=[{"field": f"path.{error.field}", "reason": error.reason}]) from None
    # private: tiles need a login, so shared caches must not keep them
    headers = {"ETag": answer.etag, "Cache-Control": f"private, max-age={settings.tile_max_age_s}"}
    if answer.not_modified:
        return Response(status_code=304, headers=headers)
    if not answer.data:
        return Response(status_code=204, headers=headers)
    headers["X-Tile-Cache"] = "hit" if answer.cached else "miss"
    return Response(answer.data, media_type=MEDIA_TYPE, headers=headers)
