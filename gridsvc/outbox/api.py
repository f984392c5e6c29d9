"""The dead-letter view and retries of hotline feedback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.auth import scope
from gridsvc.auth.deps import current
from gridsvc.errors import APIError
from gridsvc.outbox import service

router = APIRouter(tags=["outbox"])


@router.get("/outbox", summary="Feedback messages (status=dead: the dead-letter view)")
async def list_messages(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    event_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    pool = request.app.state.pool
    own = scope.integration_scope(current(request))  # the hotline sees its own messages only
    return {
        "stats": await service.stats(pool, integration_id=own),
        "messages": await service.list_messages(
            pool, status=status, event_id=event_id, limit=limit, integration_id=own
        ),
    }


@router.post("/outbox/{message_id}/retry", summary="Send a dead message again")
async def retry(request: Request, message_id: int) -> dict[str, Any]:
    await scope.check_outbox_message(request.app.state.pool, current(request), message_id)
    if not await service.retry(request.app.state.pool, message_id=message_id):
        raise APIError(404, "not_found", f"no dead message {message_id}")
    return {"id": message_id, "status": "pending"}
