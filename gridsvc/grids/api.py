"""Routes of the grids domain: point lookup, layers, grids as GeoJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request, Response

from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.geo.crs import CoordinateSystem, UnknownCRSError, parse_crs, to_wgs84
from gridsvc.grids import models, queries
from gridsvc.grids.lookup import NONE, Overlay
from gridsvc.grids.service import responsible_of
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["grids"])


def _overlay(request: Request) -> Overlay:
    overlay: Overlay = request.app.state.overlay.current
    return overlay


def _coordinate_system(value: str, field: str) -> CoordinateSystem:
    try:
        return parse_crs(value, geographic_only=True)
    except UnknownCRSError as error:
        raise APIError(
            422, "invalid_request", f"{field}: {error}", fields=[{"field": field, "reason": str(error)}]
        ) from None


def lookup_points(
    overlay: Overlay, lng: np.ndarray, lat: np.ndarray, *, nearest: bool
) -> list[dict[str, dict[str, Any]]]:
    """Per point, per layer: the containing grid, or null plus the nearest grid."""
    located = overlay.locate(lng, lat)
    answers: list[dict[str, dict[str, Any]]] = [{} for _ in range(len(lng))]
    for layer, positions in located.items():
        index = overlay.layers[layer]
        summaries = index.summaries
        outside = np.flatnonzero(positions == NONE)
        near: dict[int, dict[str, Any]] = {}
        if nearest and len(outside) and index.grids:
            grids, distances = index.nearest_many(lng[outside], lat[outside])
            near = {
                int(i): {"grid": summaries[g], "distance_m": round(float(d), 1)}
                for i, g, d in zip(outside.tolist(), grids.tolist(), distances.tolist(), strict=True)
                if g >= 0
            }
        for i, position in enumerate(positions.tolist()):
            if position != NONE:
                answers[i][layer] = {"grid": summaries[position], "nearest": None}
            else:
                answers[i][layer] = {"grid": None, "nearest": near.get(i)}
    return answers


@router.get(
    "/grids/lookup",
    response_model=models.LookupResult,
    summary="The grid of every layer at a point, with who is responsible",
)
async def lookup_one(
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")],
    crs: Annotated[str, Query(description="wgs84, gcj02, bd09 or cgcs2000")] = "wgs84",
) -> Response:
    system = _coordinate_system(crs, "query.crs")
    x, y = to_wgs84(np.array([lng]), np.array([lat]), system)
    layers = lookup_points(_overlay(request), x, y, nearest=True)[0]
    # Built by hand and serialised with orjson: validating our own output through the
    # response model would cost more than the lookup itself.
    return json_response(
        {
            "point": {
                "lat": lat,
                "lng": lng,
                "crs": system.name,
                "id": None,
                "wgs84": {"lat": float(y[0]), "lng": float(x[0])},
            },
            "layers": layers,
        }
    )


@router.post(
    "/grids/lookup", response_model=models.BatchLookupOut, summary="Batch lookup of up to 10,000 points"
)
async def lookup_many(request: Request, body: models.BatchLookupIn) -> Response:
    limit = request.app.state.settings.lookup_batch_limit
    if len(body.points) > limit:
        raise APIError(
            413,
            "too_many_points",
            f"points: {len(body.points)} given, at most {limit} per request",
            fields=[{"field": "body.points", "reason": f"at most {limit} points"}],
        )
    system = _coordinate_system(body.crs, "body.crs")
    lng = np.array([p.lng for p in body.points], dtype=np.float64)
    lat = np.array([p.lat for p in body.points], dtype=np.float64)
    x, y = to_wgs84(lng, lat, system)
    answers = lookup_points(_overlay(request), x, y, nearest=body.nearest)
    return json_response(
        {
            "results": [
                {
                    "point": {
                        "lat": p.lat,
                        "lng": p.lng,
                        "crs": system.name,
                        "id": p.id,
                        "wgs84": {"lat": float(y[i]), "lng": float(x[i])},
                    },
                    "layers": answers[i],
                }
                for i, p in enumerate(body.points)
            ]
        }
    )


@router.get(
    "/layers",
    response_model=list[models.LayerInfo],
    summary="Current version of every layer of every jurisdiction",
)
async def list_layers(request: Request) -> list[dict[str, Any]]:
    rows = await read_pool(request).fetch(queries.LIST_LAYERS)
    return [{**dict(r), "jurisdiction": r["jurisdiction_code"]} for r in rows]


@router.get(
    "/layers/{layer}/versions",
    response_model=list[models.LayerVersionInfo],
    summary="Every version of a layer with its validity period and import report",
)
async def layer_versions(request: Request, layer: str) -> list[dict[str, Any]]:
    rows = await read_pool(request).fetch(queries.LAYER_VERSIONS, layer)
    if not rows:
        raise APIError(404, "not_found", f"layer {layer!r} does not exist")
    return [{**dict(r), "jurisdiction": r["jurisdiction_code"]} for r in rows]


@router.get(
    "/layers/{layer}/grids",
    summary="A layer's grids as GeoJSON (EPSG:4326)",
    response_description="GeoJSON FeatureCollection",
)
async def layer_grids(
    request: Request,
    layer: str,
    at: Annotated[datetime | None, Query(description="the version valid at this time")] = None,
    jurisdiction: Annotated[str | None, Query(description="only this jurisdiction")] = None,
) -> dict[str, Any]:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise APIError(
            422,
            "invalid_request",
            "query.at: give a time zone (e.g. +08:00 or Z)",
            fields=[{"field": "query.at", "reason": "time zone missing"}],
        )
    rows = await read_pool(request).fetch(queries.LAYER_GRIDS_AT, layer, when, jurisdiction)
    if not rows:
        exists = await read_pool(request).fetchval(
            "SELECT EXISTS (SELECT 1 FROM layers WHERE name = $1)", layer
        )
        if not exists:
            raise APIError(404, "not_found", f"layer {layer!r} does not exist")
    kind = layer.split(":", 1)[0]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": shapely.geometry.mapping(r["geom"]),
                "properties": {
                    k: _json(r[k])
                    for k in (
                        "code",
                        "name",
                        "name_zh",
                        "layer",
                        "jurisdiction_code",
                        "version",
                        "valid_from",
                        "valid_to",
                        "area_m2",
                        "enforcement_code",
                        "enforcement_link",
                    )
                }
                | {"responsible": responsible_of(kind, dict(r))},
            }
            for r in rows
        ],
    }


@router.get("/grids/{grid_id}", response_model=models.GridDetail, summary="One grid")
async def grid_detail(request: Request, grid_id: int) -> dict[str, Any]:
    row = await read_pool(request).fetchrow(queries.GRID_BY_ID, grid_id)
    if row is None:
        raise APIError(404, "not_found", f"grid {grid_id} does not exist")
    data = dict(row)
    return {
        **data,
        "jurisdiction": data["jurisdiction_code"],
        "responsible": responsible_of(data["layer"].split(":", 1)[0], data),
        "geometry": shapely.geometry.mapping(data["geom"]),
    }


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
