"""Routes of 督办: the list (the desk: all; a recipient: its own), the written reply, the levels
in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gridsvc.auth.actor import actor_of
from gridsvc.auth.deps import current
from gridsvc.auth.models import Principal
from gridsvc.auth.scope import sees_all
from gridsvc.clock import SYSTEM
from gridsvc.duban import models, service
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["duban"])


def _scope(who: Principal) -> int | None:
    """The account whose 督办 the caller sees (None: the desk, every one)."""
    return None if sees_all(who) else who.user_id


@router.get("/duban", summary="督办, newest first (the desk: all; a recipient: those sent to it)")
async def list_duban(
    request: Request,
    unreplied: Annotated[
        bool | None, Query(description="true: still waiting for the written reply; false: answered")
    ] = None,
    event_id: int | None = None,
    before_id: Annotated[int | None, Query(description="page: older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    pool = request.app.state.pool
    found = await service.list_duban(
        pool,
        unreplied=unreplied,
        event_id=event_id,
        user_id=_scope(current(request)),
        before_id=before_id,
        limit=limit,
    )
    return json_response({"duban": [d.as_dict() for d in found]})


@router.post(
    "/duban/{duban_id}/reply",
    summary="The written reply a 督办 needs (once; the desk or one of its recipients)",
)
async def reply(request: Request, duban_id: int, body: models.ReplyIn) -> Response:
    clock = getattr(request.app.state, "clock", SYSTEM)
    async with request.app.state.pool.acquire() as connection:
        view = await service.reply(
            connection,
            duban_id=duban_id,
            text=body.text,
            actor=actor_of(request),
            now=clock.now(),
            user_id=_scope(current(request)),
        )
    return json_response(view.as_dict())


@router.get("/duban/levels", summary="督办 levels: the default and each configured matter/stage set")
async def levels(request: Request) -> Response:
    settings = request.app.state.settings
    configured = await service.configured_levels(request.app.state.pool)
    return json_response(
        {
            "default": models.parse_levels(settings.duban_levels),
            "configured": configured,
            "rule": "level n is raised once a stage has run factor_n × its time limit; the most "
            "specific set applies: matter+stage, matter, stage, then the default",
        }
    )
