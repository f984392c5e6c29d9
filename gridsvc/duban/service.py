"""督办 as data: the levels in force, who a level reaches, the 督办 list and the written reply,
and the leaders (township leaders, county supervisors) a 督办 can reach.

Raising a 督办 (which writes on the event and sends notices) is :mod:`gridsvc.duban.flows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from gridsvc.duban import queries
from gridsvc.duban.models import (
    AUDIENCE_ZH,
    STAGE_ZH,
    DubanEvent,
    DubanView,
    Level,
    LevelSet,
    Recipient,
    check_levels,
    level_zh,
    parse_levels,
)
from gridsvc.errors import Conflict, Invalid, NotFound
from gridsvc.events.service import lock_event, record_transition
from gridsvc.events.supervision import announce

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool
STAGES = tuple(STAGE_ZH)


class DubanNotFound(NotFound, LookupError):
    """No such 督办, or not addressed to the caller (404)."""


class DubanConflict(Conflict, ValueError):
    """Answered already (409)."""


class DubanInvalid(Invalid, ValueError):
    """A level configuration or leader that does not fit (422; the CLI prints it)."""


# -- levels -----------------------------------------------------------------------------


async def levels_for(
    connection: Connection, *, matter_code: str | None, stage: str, default: str
) -> LevelSet:
    """The level set of a matter's stage: the most specific configured set, else ``default``
    (the ``GRIDSVC_DUBAN_LEVELS`` text)."""
    rows = await connection.fetch(queries.LEVEL_SETS, matter_code or "*", stage)
    if rows:
        first = (rows[0]["matter_code"], rows[0]["stage"])
        chosen = [r for r in rows if (r["matter_code"], r["stage"]) == first]
        return LevelSet(
            matter_code=first[0],
            stage=first[1],
            levels=[Level(r["level"], r["factor"], r["audience"]) for r in chosen],
            source="configured",
        )
    return LevelSet(matter_code="*", stage="*", levels=parse_levels(default), source="default")


async def configured_levels(connection: Connection) -> list[LevelSet]:
    sets: dict[tuple[str, str], list[Level]] = {}
    for r in await connection.fetch(queries.ALL_LEVELS):
        sets.setdefault((r["matter_code"], r["stage"]), []).append(
            Level(r["level"], r["factor"], r["audience"])
        )
    return [
        LevelSet(matter_code=m, stage=s, levels=levels, source="configured")
        for (m, s), levels in sets.items()
    ]


async def set_levels(
    connection: asyncpg.Connection, *, matter_code: str, stage: str, levels: list[Level]
) -> None:
    """Replace the level set of (matter, stage) ('*': any); an empty list removes it."""
    if stage != "*" and stage not in STAGES:
        raise DubanInvalid(
            f"stage {stage!r}: one of {', '.join(STAGES)} or '*'",
            fields=[{"field": "stage", "reason": "unknown stage"}],
        )
    if matter_code != "*" and not await connection.fetchval(queries.MATTER_EXISTS, matter_code):
        raise DubanInvalid(
            f"no matter {matter_code!r} in the catalogue",
            fields=[{"field": "matter_code", "reason": "unknown matter"}],
        )
    try:
        check_levels(levels)
    except ValueError as error:
        raise DubanInvalid(str(error), fields=[{"field": "levels", "reason": str(error)}]) from None
    async with connection.transaction():
        await connection.execute(queries.DELETE_LEVELS, matter_code, stage)
        for lv in levels:
            await connection.execute(
                queries.INSERT_LEVEL, matter_code, stage, lv.level, lv.factor, lv.audience
            )


def due_levels(
    levels: Iterable[Level], *, started_at: datetime | None, due_at: datetime, now: datetime
) -> list[Level]:
    """The levels a stage begun at ``started_at`` with deadline ``due_at`` has reached at
    ``now``: level n once ``now >= started_at + factor_n × (due_at - started_at)``. Without
    a start (or a limit of zero) only the deadline itself counts (factor 1)."""
    limit = due_at - started_at if started_at is not None else None
    reached = []
    for lv in levels:
        if limit is None or limit.total_seconds() <= 0:
            if lv.factor <= 1 and now >= due_at:
                reached.append(lv)
        elif now >= started_at + limit * lv.factor:  # type: ignore[operator]
            reached.append(lv)
    return reached


# -- recipients -------------------------------------------------------------------------


def _department_of(user: Mapping[str, Any]) -> str | None:
    for key in ("department_code", "department"):
        value = user.get(key)
        if isinstance(value, str):
            return value
    return None


def recipients_of(
    audience: str, event: Mapping[str, Any], users: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The accounts a level reaches.

    - ``unit``: the responsible unit's own accounts: the squad dispatched (squad accounts of
      that squad), the grid head of the responsible grid, or the department's accounts;
    - ``township``: leaders whose townships include the event's enforcement grid (乡镇);
    - ``county``: the county supervisors.
    """
    kind, code = event.get("responsible_kind"), event.get("responsible_code")
    township = event.get("township_code")
    chosen = []
    for user in users:
        role = user["role"]
        if audience == "unit":
            # the squad the case was dispatched to works it, whoever is named responsible
            hit = (
                (
                    role == "squad"
                    and user.get("squad_id") is not None
                    and user.get("squad_id") == event.get("squad_id")
                )
                or (kind == "grid_head" and role == "grid_head" and code in (user.get("grid_codes") or ()))
                or (kind == "department" and role == "department" and _department_of(user) == code)
            )
        elif audience == "township":
            hit = (
                role == "leader"
                and user.get("leader_reach") == "township"
                and township is not None
                and township in (user.get("leader_townships") or ())
            )
        else:
            hit = role == "leader" and user.get("leader_reach") == "county"
        if hit:
            chosen.append(user)
    return chosen


# -- reading ----------------------------------------------------------------------------


def _view(row: Mapping[str, Any], recipients: list[Recipient]) -> DubanView:
    overdue = row["raised_at"] - row["due_at"]
    return DubanView(
        id=row["id"],
        event_id=row["event_id"],
        level=row["level"],
        level_zh=level_zh(row["level"]),
        audience=row["audience"],
        audience_zh=AUDIENCE_ZH.get(row["audience"]) if row["audience"] else None,
        stage=row["stage"],
        stage_zh=STAGE_ZH.get(row["stage"], row["stage"]),
        factor=row["factor"],
        due_at=row["due_at"],
        raised_at=row["raised_at"],
        overdue_minutes=max(int(overdue.total_seconds() // 60), 0),
        reply=row["reply"],
        replied_by=row["replied_by"],
        replied_at=row["replied_at"],
        event=DubanEvent(
            id=row["event_id"],
            title=row["title"],
            external_id=row["external_id"],
            address=row["address"],
            state=row["state"],
            matter_code=row["matter_code"],
            matter_name=row["matter_name"],
            responsible_kind=row["responsible_kind"],
            responsible_code=row["responsible_code"],
            responsible_name=row["responsible_name"],
            township_code=row["township_code"],
        ),
        recipients=recipients,
    )


async def _with_recipients(connection: Connection, rows: list[asyncpg.Record]) -> list[DubanView]:
    by_id: dict[int, list[Recipient]] = {r["id"]: [] for r in rows}
    if rows:
        for r in await connection.fetch(queries.RECIPIENTS, list(by_id)):
            by_id[r["escalation_id"]].append(
                Recipient(
                    user_id=r["user_id"],
                    name=r["name"],
                    display_name=r["display_name"],
                    role=r["role"],
                    notice_id=r["notice_id"],
                    notice_status=r["notice_status"],
                )
            )
    return [_view(r, by_id[r["id"]]) for r in rows]


async def list_duban(
    connection: Connection,
    *,
    unreplied: bool | None = None,
    event_id: int | None = None,
    user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[DubanView]:
    """督办, newest first; ``user_id``: only those addressed to that account."""
    rows = await connection.fetch(queries.LIST, unreplied, event_id, user_id, limit, before_id)
    return await _with_recipients(connection, rows)


async def get_duban(connection: Connection, *, duban_id: int, user_id: int | None = None) -> DubanView:
    row = await connection.fetchrow(queries.BY_ID, duban_id)
    if row is None or (
        user_id is not None and not await connection.fetchval(queries.IS_RECIPIENT, duban_id, user_id)
    ):
        raise DubanNotFound(f"督办 {duban_id} does not exist")
    return (await _with_recipients(connection, [row]))[0]


async def reply(
    connection: asyncpg.Connection,
    *,
    duban_id: int,
    text: str,
    actor: str,
    now: datetime,
    user_id: int | None = None,
) -> DubanView:
    """Store the written reply of a 督办 (once) with a ``duban_reply`` line in the event's
    audit trail. ``user_id``: the caller must be one of its recipients (None: the desk)."""
    async with connection.transaction():
        row = await connection.fetchrow(queries.LOCK, duban_id)
        if row is None or (
            user_id is not None and not await connection.fetchval(queries.IS_RECIPIENT, duban_id, user_id)
        ):
            raise DubanNotFound(f"督办 {duban_id} does not exist")
        if row["replied_at"] is not None:
            raise DubanConflict(
                f"督办 {duban_id} was answered at {row['replied_at'].isoformat()} by {row['replied_by']}"
            )
        event = await lock_event(connection, row["event_id"])
        await connection.execute(queries.REPLY, duban_id, text, actor, now)
        await record_transition(
            connection,
            row["event_id"],
            actor=actor,
            action="duban_reply",
            from_state=event["state"],
            to_state=event["state"],
            note=text,
            data={"duban_id": duban_id, "level": row["level"]},
        )
        await announce(connection, event_id=row["event_id"])
    return await get_duban(connection, duban_id=duban_id)


# -- leaders ----------------------------------------------------------------------------


async def set_leader(
    connection: asyncpg.Connection, *, name: str, reach: str, township_codes: list[str]
) -> None:
    """Make account ``name`` (role leader) a township leader of ``township_codes`` (enforcement
    grid codes) or a county supervisor (``reach='county'``, no townships)."""
    user = await connection.fetchrow(queries.USER_BY_NAME, name)
    if user is None:
        raise DubanInvalid(f"no account {name!r}", fields=[{"field": "name", "reason": "unknown"}])
    if user["role"] != "leader":
        raise DubanInvalid(
            f"account {name!r} is a {user['role']}, not a leader",
            fields=[{"field": "name", "reason": "role is not leader"}],
        )
    codes = sorted(set(township_codes))
    if reach == "township" and not codes:
        raise DubanInvalid(
            "a township leader needs --township", fields=[{"field": "township", "reason": "missing"}]
        )
    if reach == "county" and codes:
        raise DubanInvalid(
            "a county supervisor takes no --township", fields=[{"field": "township", "reason": "extra"}]
        )
    unknown = [r["c"] for r in await connection.fetch(queries.UNKNOWN_TOWNSHIPS, codes)]
    if unknown:
        raise DubanInvalid(
            f"not a current enforcement grid (township): {', '.join(unknown)}",
            fields=[{"field": "township", "reason": "unknown"}],
        )
    await connection.execute(queries.UPSERT_LEADER, user["id"], reach, codes)


async def leaders(connection: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.LEADERS)]
