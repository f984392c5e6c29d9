"""Liveness (``/health``) and readiness (``/ready``).

Both are open (no token; see gridsvc/auth/policy.py): load balancers and orchestrators probe
them without credentials, and they tell nothing beyond versions and counts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gridsvc.database.replica import read_pool, replica_state
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database reachable and overlay loaded")
async def health(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        checks["database"] = await request.app.state.pool.fetchval("SELECT postgis_lib_version()")
    except Exception as error:  # any failure means not ready; say which
        checks["database"] = f"unavailable: {type(error).__name__}"
        healthy = False
    if getattr(request.app.state, "read_pool", None) not in (None, request.app.state.pool):
        # the replica's state and lag; a replica down is reported, the node stays up (writes
        # and most reads still work, and every node would be down alike)
        try:
            checks["replica"] = await asyncio.wait_for(replica_state(read_pool(request)), timeout=2.0)
        except Exception as error:
            checks["replica"] = {"state": f"unavailable: {type(error).__name__}"}
    overlay = request.app.state.overlay.current
    checks["overlay"] = {
        "generation": overlay.generation,
        "layers": {name: len(index.grids) for name, index in overlay.layers.items()},
    }
    return JSONResponse(
        status_code=200 if healthy else 503, content={"status": "ok" if healthy else "unavailable", **checks}
    )


@router.get(
    "/ready",
    summary="Ready for traffic: the database answers and the road graph is "
    "loaded (else 503 naming what is missing)",
)
async def ready(request: Request) -> Response:
    """A process without its road graph still answers lookups, but dispatch would rank
    squads without ETAs: such a process should not take traffic yet."""
    checks: dict[str, Any] = {}
    missing: list[str] = []
    try:
        # A stuck database must not hang the probe: it reports "not ready" instead.
        await asyncio.wait_for(request.app.state.pool.fetchval("SELECT 1"), timeout=2.0)
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; say which
        checks["database"] = f"unavailable: {type(error).__name__}"
        missing.append("database")
    holder = getattr(request.app.state, "eta", None)
    if holder is None or not holder.states:
        checks["road_graph"] = (
            "missing: " + holder.unavailable
            if holder is not None
            else "missing: the ETA state was not started"
        )
        missing.append("road_graph")
    else:
        # one entry per loaded network; the first keeps the single-network shape
        graphs = [
            {
                "network_id": state.network["id"],
                "jurisdiction": state.network["jurisdiction"],
                "nodes": state.network["node_count"],
                "edges": state.network["edge_count"],
                "squads": len(state.squads),
            }
            for state in holder.states.values()
        ]
        checks["road_graph"] = {**graphs[0], "networks": graphs}
    return json_response(
        {"status": "unavailable" if missing else "ready", "missing": missing, **checks},
        status_code=503 if missing else 200,
    )
