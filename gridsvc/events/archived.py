"""Reading an archived event (``gridsvc events archive`` moved it into schema ``archive``).

The events domain owns every read of an event, the archived ones included; the archive
package only moves rows (and imports this domain's column list for that), so the
dependency points one way: archive -> events.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.events.models import Viewer
from gridsvc.events.queries import (
    ARCHIVED_DUPLICATES,
    ARCHIVED_EVENT,
    ARCHIVED_EXTENSIONS,
    ARCHIVED_TRANSITIONS,
)
from gridsvc.events.read import present, view_of


async def archived_event(
    connection: asyncpg.Connection | asyncpg.Pool, *, event_id: int, viewer: Viewer, now: datetime
) -> dict[str, Any] | None:
    """The API answer of an archived event, read-only (no actions, no 并单 candidates), with
    ``archived: true``; None when the archive does not hold it."""
    row = await connection.fetchrow(ARCHIVED_EVENT, event_id)
    if row is None:
        return None
    view = dataclasses.replace(view_of(row, now=now, viewer=viewer), allowed_actions=[])
    answer = present(view)
    answer["archived"] = True
    answer["history"] = [dict(r) for r in await connection.fetch(ARCHIVED_TRANSITIONS, event_id)]
    answer["duplicates"] = [dict(r) for r in await connection.fetch(ARCHIVED_DUPLICATES, event_id)]
    answer["extensions"] = [dict(r) for r in await connection.fetch(ARCHIVED_EXTENSIONS, event_id)]
    return answer
