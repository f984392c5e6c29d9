"""Reads of 回访 results: per case, listed with filters, and the figures of a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.revisits import queries
from gridsvc.revisits.models import SATISFACTION_ZH


def present(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    answer = dict(row)
    answer.pop("revisit_key", None)
    answer["satisfaction_zh"] = SATISFACTION_ZH[answer["satisfaction"]]
    return answer


async def of_event(connection: asyncpg.Connection | asyncpg.Pool, *, event_id: int) -> list[dict[str, Any]]:
    return [present(r) for r in await connection.fetch(queries.OF_EVENT, event_id)]


async def list_revisits(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    satisfaction: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> dict[str, Any]:
    """Newest first, and the counts of the period (``since`` <= received < ``until``)."""
    rows = await connection.fetch(queries.LIST, satisfaction, outcome, since, until, before_id, limit)
    summary = await connection.fetchrow(queries.SUMMARY, since, until)
    return {"revisits": [present(r) for r in rows], "summary": dict(summary)}
