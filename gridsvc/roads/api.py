"""Routes of the roads domain: the current networks (one per jurisdiction that has its
own) and their edges, for maps and audits."""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Request

from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.roads import models, queries
from gridsvc.roads.service import current_network, current_networks

router = APIRouter(tags=["roads"])

JurisdictionQuery = Annotated[
    str | None,
    Query(
        description="jurisdiction code: the network its scenes and squads use (its own, else "
        "its nearest ancestor's, else the installation's)"
    ),
]


async def _network_of(request: Request, jurisdiction: str | None) -> dict[str, Any]:
    # networks change by import only: a second-stale replica answers for maps and audits
    pool = read_pool(request)
    if jurisdiction is not None and await jurisdictions.get(pool, code=jurisdiction) is None:
        raise APIError(
            404,
            "not_found",
            f"jurisdiction {jurisdiction!r} does not exist",
            fields=[{"field": "query.jurisdiction", "reason": "unknown jurisdiction"}],
        )
    network = await current_network(pool, jurisdiction=jurisdiction)
    if network is not None:
        return network
    if jurisdiction is None and len(networks := await current_networks(pool)) > 1:
        raise APIError(
            422,
            "invalid_request",
            "query.jurisdiction: each jurisdiction has its own road network ("
            + ", ".join(str(n["jurisdiction"]) for n in networks)
            + "); name one",
            fields=[{"field": "query.jurisdiction", "reason": "several networks"}],
        )
    where = f" for {jurisdiction!r}" if jurisdiction else ""
    hint = f" --jurisdiction {jurisdiction}" if jurisdiction else ""
    raise APIError(
        404,
        "no_roads",
        f"no road network imported{where}: run gridsvc roads import FILE{hint} (or gridsvc demo build)",
    )


@router.get(
    "/roads", response_model=models.RoadNetworkInfo, summary="A current road network and its import report"
)
async def road_network(request: Request, jurisdiction: JurisdictionQuery = None) -> dict[str, Any]:
    """Without ``jurisdiction``: the installation's network, or the only one."""
    return await _network_of(request, jurisdiction)


@router.get(
    "/roads/networks",
    response_model=list[models.RoadNetworkInfo],
    summary="Every current road network (one per jurisdiction that has its own)",
)
async def road_networks(request: Request) -> list[dict[str, Any]]:
    return await current_networks(read_pool(request))


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
    jurisdiction: JurisdictionQuery = None,
) -> dict[str, Any]:
    """Without ``jurisdiction``: the edges of every current network in the box."""
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
    only = None if jurisdiction is None else [(await _network_of(request, jurisdiction))["id"]]
    rows = await read_pool(request).fetch(queries.EDGES_IN_BBOX, west, south, east, north, limit + 1, only)
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(r["geom"]),
            "properties": {k: r[k] for k in r.keys() if k != "geom"},
        }
        for r in rows[:limit]
    ]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > limit}
