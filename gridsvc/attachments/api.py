"""``POST /events/{id}/attachments`` (a photo, multipart) and ``GET /attachments/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from gridsvc.attachments import service
from gridsvc.auth.deps import require
from gridsvc.auth.models import Principal
from gridsvc.auth.scope import event_visible
from gridsvc.errors import APIError
from gridsvc.events import service as events
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["attachments"])
Reporter = Annotated[Principal, Depends(require("admin", "operator", "grid_head", "squad"))]
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries, headers and a note beside the photo


async def _visible_event(request: Request, who: Principal, event_id: int) -> dict[str, Any]:
    try:
        view = await events.get_event(request.app.state.pool, event_id=event_id,
                                      with_history=False)
    except events.EventNotFound:
        view = None
    if view is None or not event_visible(who, view):
        raise APIError(404, "not_found", f"event {event_id} does not exist")
    return view


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "event_id", "sha256", "mime", "bytes", "filename",
                                "uploaded_by", "at")} | {"url": f"/attachments/{row['id']}"}


@router.post("/events/{event_id}/attachments", status_code=201,
             summary="Attach a photo (JPEG, PNG or WebP; at most GRIDSVC_ATTACHMENT_MAX_BYTES)")
async def upload(request: Request, event_id: int, who: Reporter,
                 file: Annotated[UploadFile, File(description="the photo")],
                 note: Annotated[str | None, Form(max_length=1000)] = None) -> Response:
    settings = request.app.state.settings
    limit = settings.attachment_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise APIError(413, "body_too_large", f"upload of {declared} bytes; photos up to "
                                              f"{limit} bytes")
    await _visible_event(request, who, event_id)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise APIError(413, "body_too_large", f"photo over {limit} bytes")
    if not data:
        raise APIError(422, "invalid_request", "file: empty upload",
                       fields=[{"field": "file", "reason": "empty"}])
    try:
        service.sniff(data[:16])
    except service.UnsupportedType as error:
        raise APIError(415, "unsupported_media_type", str(error),
                       fields=[{"field": "file", "reason": str(error)}]) from None
    async with request.app.state.pool.acquire() as connection:
        row = await service.attach(connection, directory=settings.attachments_dir,
                                   event_id=event_id, data=data, filename=file.filename,
                                   actor=who.actor, note=note)
    return json_response(_view(row), status_code=201)


@router.get("/events/{event_id}/attachments", summary="An event's photos")
async def list_attachments(request: Request, event_id: int, who: Reporter) -> Response:
    await _visible_event(request, who, event_id)
    rows = await service.of_event(request.app.state.pool, event_id)
    return json_response({"attachments": [_view(r) for r in rows]})


@router.get("/attachments/{attachment_id}", summary="The photo itself",
            response_class=FileResponse)
async def download(request: Request, attachment_id: int, who: Reporter) -> FileResponse:
    row = await service.get(request.app.state.pool, attachment_id)
    if row is None:
        raise APIError(404, "not_found", f"attachment {attachment_id} does not exist")
    await _visible_event(request, who, row["event_id"])
    path = request.app.state.settings.attachments_dir / row["storage_key"]
    if not path.is_file():
        raise APIError(410, "gone", f"attachment {attachment_id}: the file is missing")
    return FileResponse(path, media_type=row["mime"],
                        headers={"Cache-Control": "private, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})
