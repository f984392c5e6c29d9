"""吹哨: a township summons county departments — where whistles and events meet.

The whistle's event goes through the same intake flow as every other event
(:func:`gridsvc.events.flows.intake`: routed, 并单-linked, dispatched as configured); the
whistle and its attendance rows are written in the same transaction.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gridsvc.events.flows import NewEvent, intake
from gridsvc.events.service import EventContext, record_transition
from gridsvc.routing.service import grids_at
from gridsvc.whistles import queries
from gridsvc.whistles.service import NewWhistle, WhistleInvalid


async def _check(
    connection: asyncpg.Connection, context: EventContext, new: NewWhistle
) -> list[dict[str, Any]]:
    """Every problem of the request, each naming its field (empty: fine)."""
    problems: list[dict[str, Any]] = []
    township = await connection.fetchrow(queries.TOWNSHIP, new.township_code)
    if township is None:
        problems.append(
            {
                "field": "body.township_code",
                "reason": f"no current enforcement grid has the code {new.township_code!r}",
            }
        )
    if new.matter_code is not None and not await connection.fetchval(queries.MATTER_EXISTS, new.matter_code):
        problems.append(
            {"field": "body.matter_code", "reason": f"no matter {new.matter_code!r} in the catalogue"}
        )
    if not new.departments:
        problems.append({"field": "body.departments", "reason": "summon at least one department"})
    known = {r["code"] for r in await connection.fetch(queries.KNOWN_DEPARTMENTS, new.departments)}
    for index, code in enumerate(new.departments):
        if code not in known:
            problems.append(
                {
                    "field": f"body.departments.{index}",
                    "reason": f"unknown department {code!r} (see GET /departments)",
                }
            )
    if len(set(new.departments)) != len(new.departments):
        problems.append({"field": "body.departments", "reason": "a department is listed twice"})
    if township is not None:
        # 属地管理: a township whistles for a scene on its own territory.
        here = grids_at(context.overlay, new.lng, new.lat).get("enforcement")
        if here is None or here["code"] != new.township_code:
            where = f"in enforcement grid {here['code']}" if here else "in no enforcement grid"
            problems.append(
                {"field": "body.location", "reason": f"the scene lies {where}, not in {new.township_code}"}
            )
    return problems


async def create_whistle(connection: asyncpg.Connection, *, context: EventContext, new: NewWhistle) -> int:
    """Blow the whistle: the event (routed like any other), the whistle and its attendance
    rows and the audit-trail row, in one transaction. Returns the whistle id.

    Raises :class:`WhistleInvalid` naming every field that is wrong.
    """
    problems = await _check(connection, context, new)
    if problems:
        raise WhistleInvalid("; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5]), problems)
    async with connection.transaction():
        done = await intake(
            connection,
            context=context,
            actor=new.summoned_by,
            new=NewEvent(
                source="whistle",
                title=new.title,
                description=new.description,
                matter_code=new.matter_code,
                address=new.address,
                lng=new.lng,
                lat=new.lat,
                source_crs=new.source_crs,
                source_lng=new.source_lng,
                source_lat=new.source_lat,
            ),
        )
        event_id, state = done.view.id, done.view.state
        whistle = await connection.fetchrow(
            queries.INSERT_WHISTLE,
            event_id,
            new.township_code,
            new.summoned_by,
            new.ack_minutes,
            new.arrive_minutes,
        )
        rows = await connection.fetch(queries.INSERT_ATTENDANCE, whistle["id"], new.departments)
        # said with names, in Chinese (the audit trail is read on the zh-CN desk); the codes
        # stay in data, and data.say lets a page in another language write its own sentence
        township = await connection.fetchrow(queries.TOWNSHIP, new.township_code)
        town = township["name"] if township else new.township_code
        names = [r["name"] for r in await connection.fetch(queries.DEPARTMENT_NAMES, new.departments)]
        await record_transition(
            connection,
            event_id,
            actor=new.summoned_by,
            action="whistle",
            from_state=state,
            to_state=state,
            note=f"吹哨：{town}召集{'、'.join(names)}报到",
            data={
                "say": {"code": "whistle", "params": {"township": town, "departments": "、".join(names)}},
                "whistle_id": whistle["id"],
                "township_code": new.township_code,
                "departments": new.departments,
                "ack_due_at": rows[0]["ack_due_at"].isoformat(),
                "arrive_due_at": rows[0]["arrive_due_at"].isoformat(),
            },
        )
        return int(whistle["id"])
