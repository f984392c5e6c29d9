"""Routes of the delegation lists (赋权事项清单)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.delegations import models, service
from gridsvc.errors import APIError

router = APIRouter(tags=["delegations"])


@router.get(
    "/delegations",
    response_model=list[models.DelegationVersion],
    summary="Versions of the townships' delegation lists",
)
async def list_versions(
    request: Request,
    enforcement_code: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    return await service.list_versions(request.app.state.pool, enforcement_code=enforcement_code)


@router.get(
    "/delegations/{list_id}", response_model=models.DelegationList, summary="One version with its matters"
)
async def get_list(request: Request, list_id: int) -> dict[str, Any]:
    row = await service.get_list(request.app.state.pool, list_id=list_id)
    if row is None:
        raise APIError(404, "not_found", f"delegation list {list_id} does not exist")
    return row


@router.post(
    "/delegations",
    response_model=models.DelegationCreated,
    status_code=201,
    summary="Create the next version of a township's list (closes the previous one)",
)
async def create_list(request: Request, body: models.DelegationIn) -> dict[str, Any]:
    try:
        effective_from = service.parse_effective(body.effective_from)
        async with request.app.state.pool.acquire() as connection:
            return await service.create_list(
                connection,
                enforcement_code=body.enforcement_code,
                effective_from=effective_from,
                matter_codes=body.matter_codes,
                name=body.name,
                source="api",
            )
    except service.DelegationError as error:
        if error.conflict:
            raise APIError(409, "conflict", str(error)) from None
        fields = [
            {"field": f"body.matter_codes.{p['index']}", "reason": f"unknown matter code {p['matter_code']}"}
            for p in error.problems
        ]
        raise APIError(422, "invalid_value", str(error), fields=fields) from None
