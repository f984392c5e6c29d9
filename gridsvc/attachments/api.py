"""``POST /events/{id}/attachments`` (a photo, multipart) and ``GET /attachments/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from gridsvc.attachments import service
from gridsvc.auth.deps import require
from gridsvc.auth.models import Principal
from gridsvc.auth.scope import event_visible
from gridsvc.errors import APIError
from gridsvc.events import service as events
from gridsvc.jsonresp import json_response

router = APIRouter(tags=["attachments"])
Reporter = Annotated[Principal, Depends(require("admin", "operator", "grid_head", "squad", "department"))]
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries, headers and a note beside the photo


async def _visible_event(request: Request, who: Principal, event_id: int) -> dict[str, Any]:
    try:
        view = await events.get_event(request.app.state.pool, event_id=event_id, with_history=False)
    except events.EventNotFound:
        view = None
    if view is None or not event_visible(who, view):
        raise APIError(404, "not_found", f"event {event_id} does not exist")
    return view


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k] for k in ("id", "event_id", "sha256", "mime", "bytes", "filename", "uploaded_by", "at")
    } | {"url": f"/attachments/{row['id']}"}


# The body is declared here rather than with File()/Form() parameters: FastAPI reads and
# parses a form before any dependency runs, so an anonymous 200 MB upload was read in full
# before its 401 (D9). Now the token, the declared size and the event are checked first and
# the form is parsed last.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the photo"},
                        "note": {"type": "string", "maxLength": 1000},
                    },
                }
            }
        },
    }
}
_NOTE_MAX = 1000


async def _photo_form(request: Request, limit: int) -> tuple[bytes, str | None, str | None]:
    """The form's photo (at most ``limit + 1`` bytes), its file name and the note, parsed
    only now (after auth and size); the spooled upload is closed on the way out."""
    try:
        async with request.form(max_files=1, max_fields=8, max_part_size=_NOTE_MAX * 4) as form:
            file, note = form.get("file"), form.get("note")
            if not isinstance(file, UploadFile):
                raise APIError(
                    422,
                    "invalid_request",
                    "file: a photo is required (multipart field file)",
                    fields=[{"field": "file", "reason": "missing"}],
                )
            if note is not None and (not isinstance(note, str) or len(note) > _NOTE_MAX):
                raise APIError(
                    422,
                    "invalid_request",
                    f"note: text of at most {_NOTE_MAX} characters",
                    fields=[{"field": "note", "reason": "too long"}],
                )
            return await file.read(limit + 1), file.filename, note or None
    except HTTPException as error:  # Starlette's answer to a malformed multipart body
        raise APIError(400, "malformed_multipart", f"body: {error.detail}") from None


@router.post(
    "/events/{event_id}/attachments",
    status_code=201,
    openapi_extra=_UPLOAD_BODY,
    summary="Attach a photo (JPEG, PNG or WebP; at most GRIDSVC_ATTACHMENT_MAX_BYTES)",
    responses={
        411: {"description": "no Content-Length"},
        413: {"description": "declared or actual size over the limit"},
    },
)
async def upload(request: Request, event_id: int, who: Reporter) -> Response:
    # the token was checked by `who` (a dependency) before any byte of the body was read
    settings = request.app.state.settings
    limit = settings.attachment_max_bytes
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise APIError(411, "length_required", "Content-Length is required for an upload")
    if int(declared) > limit + _MULTIPART_OVERHEAD:
        raise APIError(413, "body_too_large", f"upload of {declared} bytes; photos up to {limit} bytes")
    await _visible_event(request, who, event_id)
    data, filename, note = await _photo_form(request, limit)
    if len(data) > limit:
        raise APIError(413, "body_too_large", f"photo over {limit} bytes")
    if not data:
        raise APIError(
            422, "invalid_request", "file: empty upload", fields=[{"field": "file", "reason": "empty"}]
        )
    try:
        service.sniff(data[:16])
    except service.UnsupportedType as error:
        raise APIError(
            415, "unsupported_media_type", str(error), fields=[{"field": "file", "reason": str(error)}]
        ) from None
    async with request.app.state.pool.acquire() as connection:
        row = await service.attach(
            connection,
            directory=settings.attachments_dir,
            event_id=event_id,
            data=data,
            filename=filename,
            actor=who.actor,
            note=note,
        )
    return json_response(_view(row), status_code=201)


@router.get("/events/{event_id}/attachments", summary="An event's photos")
async def list_attachments(request: Request, event_id: int, who: Reporter) -> Response:
    await _visible_event(request, who, event_id)
    rows = await service.of_event(request.app.state.pool, event_id)
    return json_response({"attachments": [_view(r) for r in rows]})


@router.get("/attachments/{attachment_id}", summary="The photo itself", response_class=FileResponse)
async def download(request: Request, attachment_id: int, who: Reporter) -> FileResponse:
    row = await service.get(request.app.state.pool, attachment_id)
    if row is None:
        raise APIError(404, "not_found", f"attachment {attachment_id} does not exist")
    await _visible_event(request, who, row["event_id"])
    path = request.app.state.settings.attachments_dir / row["storage_key"]
    if not path.is_file():
        raise APIError(410, "gone", f"attachment {attachment_id}: the file is missing")
    return FileResponse(
        path,
        media_type=row["mime"],
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
