"""Routes of the matter catalogue (事项清单) and the departments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gridsvc.errors import APIError
from gridsvc.matters import models, service

router = APIRouter(tags=["matters"])


@router.get(
    "/matters",
    response_model=list[models.Matter],
    summary="Matters with their conditions, by kind and/or a search text",
)
async def list_matters(
    request: Request,
    kind: Annotated[str | None, Query(pattern="^(event|part|other)$")] = None,
    q: Annotated[str | None, Query(max_length=200, description="in code, names or filing conditions")] = None,
) -> list[dict[str, Any]]:
    return await service.list_matters(request.app.state.pool, kind=kind, q=q)


@router.get("/matters/{code}", response_model=models.Matter, summary="One matter")
async def get_matter(request: Request, code: str) -> dict[str, Any]:
    matter = await service.get_matter(request.app.state.pool, code=code)
    if matter is None:
        raise APIError(404, "not_found", f"matter {code!r} does not exist")
    return matter


@router.patch(
    "/matters/{code}",
    response_model=models.Matter,
    summary="Set auto_dispatch, handling_level, owner_department, auto_merge or related_matters of a matter",
)
async def patch_matter(request: Request, code: str, body: models.MatterPatch) -> dict[str, Any]:
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    for name in ("auto_dispatch", "handling_level", "auto_merge", "related_matters"):
        if name in given:
            value = getattr(body, name)
            if value is None:
                raise APIError(
                    422,
                    "invalid_request",
                    f"{name} cannot be null",
                    fields=[{"field": f"body.{name}", "reason": "cannot be null"}],
                )
            changes[name] = value
    if "owner_department" in given:
        changes["owner_department"] = body.owner_department
    try:
        return await service.update_matter(request.app.state.pool, code=code, **changes)
    except service.MatterNotFound as error:
        raise APIError(404, "not_found", str(error)) from None
    except service.MatterError as error:
        field = "body.related_matters" if str(error).startswith("related_matters") else "body"
        raise APIError(
            422, "invalid_value", str(error), fields=[{"field": field, "reason": str(error)}]
        ) from None


@router.get("/departments", response_model=list[models.Department], summary="County departments (主管部门)")
async def list_departments(request: Request) -> list[dict[str, Any]]:
    return await service.list_departments(request.app.state.pool)
