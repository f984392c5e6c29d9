"""Attachments: sniff the type from the bytes, store content-addressed, record and audit.

Only JPEG, PNG and WebP are kept, recognised by their magic bytes (the declared content type
is not trusted). Files live under ``settings.attachments_dir`` as ``<sha[:2]>/<sha>.<ext>``
(the same photo uploaded twice is stored once); each upload gets its own row and an
``attach`` row in the event's audit trail, in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from gridsvc.events.service import EventNotFound

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

INSERT = """
INSERT INTO attachments (event_id, sha256, mime, bytes, filename, storage_key, uploaded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, event_id, sha256, mime, bytes, filename, uploaded_by, at
"""
AUDIT = """
INSERT INTO event_transitions (event_id, actor, action, from_state, to_state, note, data)
VALUES ($1, $2, 'attach', $3, $3, $4, $5)
"""
LOCK_STATE = "SELECT state FROM events WHERE id = $1 FOR UPDATE"
# The live pages refresh the event (same channel and payload shape as the events trigger).
NOTIFY = """
SELECT pg_notify('gridsvc_events', json_build_object('id', $1::bigint, 'state', $2::text,
                                                     'op', 'ATTACH')::text)
"""
BY_ID = """
SELECT id, event_id, sha256, mime, bytes, filename, storage_key, uploaded_by, at
FROM attachments WHERE id = $1
"""
OF_EVENT = """
SELECT id, event_id, sha256, mime, bytes, filename, uploaded_by, at
FROM attachments WHERE event_id = $1 ORDER BY id
"""


class UnsupportedType(ValueError):
    """Not a JPEG, PNG or WebP image."""


def sniff(head: bytes) -> str:
    """The image type from the first bytes; raises :class:`UnsupportedType`."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedType("only JPEG, PNG or WebP photos are accepted (checked by content)")


def store(directory: Path, data: bytes, mime: str) -> tuple[str, str]:
    """Write ``data`` once under ``directory``; returns ``(sha256, storage_key)``."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}{EXTENSIONS[mime]}"
    path = directory / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return digest, key


async def attach(
    connection: asyncpg.Connection,
    *,
    directory: Path,
    event_id: int,
    data: bytes,
    filename: str | None,
    actor: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Store a photo for an event, with its row and audit-trail entry."""
    mime = sniff(data[:16])
    digest, key = store(directory, data, mime)
    async with connection.transaction():
        state = await connection.fetchval(LOCK_STATE, event_id)
        if state is None:
            raise EventNotFound(f"event {event_id} does not exist")
        row = dict(
            await connection.fetchrow(
                INSERT, event_id, digest, mime, len(data), (filename or "")[:200] or None, key, actor
            )
        )
        await connection.execute(
            AUDIT,
            event_id,
            actor,
            state,
            note,
            {"attachment_id": row["id"], "sha256": digest, "mime": mime, "bytes": len(data)},
        )
        await connection.execute(NOTIFY, event_id, state)
    return row


async def get(connection: asyncpg.Connection | asyncpg.Pool, attachment_id: int) -> dict[str, Any] | None:
    row = await connection.fetchrow(BY_ID, attachment_id)
    return dict(row) if row else None


async def of_event(connection: asyncpg.Connection | asyncpg.Pool, event_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(OF_EVENT, event_id)]
