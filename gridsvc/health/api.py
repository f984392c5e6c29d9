"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database reachable and overlay loaded")
async def health(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        checks["database"] = await request.app.state.pool.fetchval(
            "SELECT postgis_lib_version()")
    except Exception as error:  # any failure means not ready; say which
        checks["database"] = f"unavailable: {type(error).__name__}"
        healthy = False
    overlay = request.app.state.overlay.current
    checks["overlay"] = {"generation": overlay.generation,
                         "layers": {name: len(index.grids) for name, index in overlay.layers.items()}}
    return JSONResponse(status_code=200 if healthy else 503,
                        content={"status": "ok" if healthy else "unavailable", **checks})
