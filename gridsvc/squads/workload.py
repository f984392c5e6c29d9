"""Squad status (在岗 / 忙碌 / 休息 / 离线, with a reason) and open caseload.

A squad sets its own status from its phone (its token); the desk may set any squad's. Each
change is kept in ``squad_status_changes``. The caseload counts the cases in a squad's hands
now: dispatched to it, signed for or on scene (handled cases wait for the desk, not for it).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gridsvc.errors import Invalid
from gridsvc.squads import queries

# The states of a case that is in a squad's hands (the inbox's assignments too).
ACTIVE_STATES = ("dispatched", "signed_for", "on_scene")


class StatusReasonMissing(Invalid):
    """A status other than 在岗 without a reason (422 naming ``body.reason``)."""


async def set_status(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    squad_id: int,
    status: str,
    reason: str | None,
    actor: str,
) -> bool:
    """Set a squad's status and why; False when the squad does not exist.

    Raises
    ------
    StatusReasonMissing
        For busy / off_duty / offline without a reason: the desk must know why a squad is
        not taking cases.
    """
    reason = (reason or "").strip() or None
    if status != "available" and reason is None:
        raise StatusReasonMissing(
            f"body.reason: a reason is required for status {status!r}",
            fields=[{"field": "body.reason", "reason": f"required for status {status!r}"}],
        )
    return await connection.fetchval(queries.SET_STATUS, squad_id, status, reason, actor) is not None


async def status_history(
    connection: asyncpg.Connection | asyncpg.Pool, *, squad_id: int, limit: int = 50
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.STATUS_HISTORY, squad_id, limit)]


async def open_caseloads(connection: asyncpg.Connection | asyncpg.Pool) -> dict[int, int]:
    """Open cases per squad id (squads without any are left out)."""
    rows = await connection.fetch(queries.OPEN_CASELOADS, list(ACTIVE_STATES))
    return {r["squad_id"]: r["open_cases"] for r in rows}
