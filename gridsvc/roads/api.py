"""Routes of the roads domain: the current network and its edges for maps and audits."""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Request

from gridsvc.errors import APIError
from gridsvc.roads import models, queries
from gridsvc.roads.service import current_network

router = APIRouter(tags=["roads"])


@router.get(
    "/roads", response_model=models.RoadNetworkInfo, summary="The current road network and its import report"
)
async def road_network(request: Request) -> dict[str, Any]:
    network = await current_network(request.app.state.pool)
    if network is None:
        raise APIError(
            404, "no_roads", "no road network imported: run gridsvc roads import FILE (or gridsvc demo build)"
        )
    return network


@router.get(
    "/roads/edges",
    response_model=models.RoadEdgesGeoJSON,
    summary="Directed road edges in a WGS84 box, with class, speed (km/h), time (s)",
)
async def road_edges(
    request: Request,
    bbox: Annotated[
        str, Query(description="min_lng,min_lat,max_lng,max_lat (WGS84)", examples=["9.50,47.12,9.54,47.15"])
    ],
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5_000,
) -> dict[str, Any]:
    try:
        west, south, east, north = (float(v) for v in bbox.split(","))
    except ValueError:
        raise APIError(
            422,
            "invalid_request",
            "bbox: four comma-separated numbers expected",
            fields=[{"field": "query.bbox", "reason": "min_lng,min_lat,max_lng,max_lat"}],
        ) from None
    if not all(map(lambda v: abs(v) < 1e3, (west, south, east, north))) or west > east or south > north:
        raise APIError(
            422,
            "invalid_request",
            "bbox: finite WGS84 degrees, min before max",
            fields=[{"field": "query.bbox", "reason": "bad box"}],
        )
    rows = await request.app.state.pool.fetch(queries.EDGES_IN_BBOX, west, south, east, north, limit + 1)
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(r["geom"]),
            "properties": {k: r[k] for k in r.keys() if k != "geom"},
        }
        for r in rows[:limit]
    ]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > limit}
