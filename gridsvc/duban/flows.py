"""Raising 督办: the ``sla.escalate`` job.

For every open event whose running stage is past its deadline, each level of the matter's
and stage's set that the clock has reached (level n at ``factor_n`` × the stage's time
limit; by default the deadline itself, 2× and 3×) is raised once per deadline, in one
transaction per event:

1. an ``escalations`` row (the 督办: level, audience, when);
2. an ``escalate`` line in the event's audit trail;
3. one ``duban_recipients`` row per account the level reaches (their inbox: ``GET /duban``);
4. for each of them with a ``webhook_url``, a signed notice through the recipient notice
   machinery (``recipient_notices`` + the ``notices.deliver`` job, kind ``duban``).

A level that reaches nobody (no leader configured for the township, say) is still raised and
listed on /ops, with no recipient: a 督办 is never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.clock import SYSTEM, Clock
from gridsvc.duban import queries, service
from gridsvc.duban.models import AUDIENCE_ZH, STAGE_ZH, Level, level_zh
from gridsvc.events.models import Viewer
from gridsvc.events.read import as_seen_by
from gridsvc.events.service import record_transition
from gridsvc.events.supervision import announce, mark_overdue
from gridsvc.live import notices, views

log = logging.getLogger("gridsvc.duban")


def notice_payload(
    summary: dict[str, Any], *, duban_id: int, level: Level, stage: str, due_at: datetime, now: datetime
) -> dict[str, Any]:
    """The webhook body of a 督办 notice: what is late, how late, and where to answer."""
    overdue_min = max(int((now - due_at).total_seconds() // 60), 0)
    return {
        "kind": "duban",
        "kind_zh": "督办",
        "duban_id": duban_id,
        "level": level.level,
        "level_zh": level_zh(level.level),
        "audience": level.audience,
        "audience_zh": AUDIENCE_ZH[level.audience],
        "stage": stage,
        "stage_zh": STAGE_ZH.get(stage, stage),
        "due_at": due_at,
        "overdue_minutes": overdue_min,
        "text": f"{level_zh(level.level)}：事件“{summary['title']}”{STAGE_ZH.get(stage, stage)}"
        f"已超时 {overdue_min} 分钟，请督促办理并书面回复。",
        "event_id": summary["id"],
        "work_order_no": summary["external_id"],
        "title": summary["title"],
        "address": summary["address"],
        "matter": summary["matter_name"],
        "state": summary["state"],
        "state_zh": summary["state_zh"],
        "responsible": summary["responsible"],
        "reporter": summary["reporter"],
        "reply_url": f"/duban/{duban_id}/reply",
        "inbox": "/inbox",
    }


async def _raise_level(
    connection: asyncpg.Connection,
    row: Mapping[str, Any],
    level: Level,
    *,
    now: datetime,
    users: list[dict[str, Any]],
) -> bool:
    duban_id = await connection.fetchval(
        queries.INSERT_ESCALATION,
        row["id"],
        row["stage"],
        row["due_at"],
        level.level,
        level.audience,
        level.factor,
        now,
    )
    if duban_id is None:
        return False  # raised meanwhile by another worker
    await mark_overdue(connection, event_id=row["id"], since=row["due_at"])
    found = await views.event_views(connection, [row["id"]])
    view = found[0]
    event = {
        "responsible_kind": view.responsible_kind,
        "responsible_code": view.responsible_code,
        "squad_id": view.squad_id,
        "township_code": view.enforcement_code(),
    }
    reached = service.recipients_of(level.audience, event, users)
    names = "、".join(u.get("display_name") or u["name"] for u in reached) or "无接收人"
    stage_zh = STAGE_ZH.get(row["stage"], row["stage"])
    transition = await record_transition(
        connection,
        row["id"],
        actor="system",
        action="escalate",
        from_state=view.state,
        to_state=view.state,
        note=f"{level_zh(level.level)}（{AUDIENCE_ZH[level.audience]}：{names}）："
        f"{stage_zh}环节 {row['due_at'].isoformat()} 到期",
        data={
            "duban_id": duban_id,
            "stage": row["stage"],
            "due_at": row["due_at"].isoformat(),
            "level": level.level,
            "audience": level.audience,
            "recipients": [u["name"] for u in reached],
        },
    )
    await connection.execute(queries.SET_TRANSITION, duban_id, transition["id"])
    for user in reached:
        notice_id = None
        if user.get("webhook_url"):
            seen = as_seen_by(view, Viewer(role=user["role"], name=user["name"]))
            notice_id = await notices.write_notice(
                connection,
                event_id=view.id,
                user=user,
                transition_id=transition["id"],
                payload=notice_payload(
                    views.event_summary(seen),
                    duban_id=duban_id,
                    level=level,
                    stage=row["stage"],
                    due_at=row["due_at"],
                    now=now,
                ),
                key=f"duban:{user['id']}:{duban_id}",
            )
        await connection.execute(queries.INSERT_RECIPIENT, duban_id, user["id"], notice_id)
    await announce(connection, event_id=row["id"])  # /ops: the panel and the 督办 counter
    if not reached:
        log.warning(
            "督办 %s (event %s, level %s, %s): nobody to reach",
            duban_id,
            row["id"],
            level.level,
            level.audience,
        )
    return True


async def escalate(
    connection: asyncpg.Connection,
    *,
    default_levels: str,
    clock: Clock = SYSTEM,
    event_id: int | None = None,
) -> int:
    """Raise every 督办 level due at ``clock.now()``; returns how many were raised.
    ``event_id``: that event only (``gridsvc duban check --event``)."""
    now = clock.now()
    raised = 0
    users: list[dict[str, Any]] | None = None
    sets: dict[tuple[str | None, str], list[Level]] = {}  # per run: the same few sets repeat
    for row in await connection.fetch(queries.OVERDUE, now, event_id):
        key = (row["matter_code"], row["stage"])
        if key not in sets:
            found = await service.levels_for(
                connection, matter_code=row["matter_code"], stage=row["stage"], default=default_levels
            )
            sets[key] = found.levels
        done = set(row["raised"])
        due = [
            lv
            for lv in service.due_levels(
                sets[key], started_at=row["started_at"], due_at=row["due_at"], now=now
            )
            if lv.level not in done
        ]
        if not due:
            continue
        if users is None:
            users = [dict(r) for r in await connection.fetch(queries.RECIPIENT_CANDIDATES)]
        async with connection.transaction():
            # the event is locked while its levels are raised: a transition racing it waits
            state = await connection.fetchval(queries.EVENT_STATE, row["id"])
            if state != row["state"]:
                continue  # it moved on meanwhile: the next run sees its new stage
            for lv in due:
                raised += await _raise_level(connection, row, lv, now=now, users=users)
    return raised
