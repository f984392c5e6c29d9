"""吹哨报到: a township summons county departments; each must 报到 (acknowledge) and 到场
(arrive on scene) within its time limits; attendance is tracked and scored.

A whistle is an event (source ``whistle``) stored, routed and audited like any other, plus
one attendance row per summoned department. Its due times are clock minutes from the summons
(``ack_due_at = summoned_at + ack_minutes``, ``arrive_due_at = summoned_at + arrive_minutes``).
A whistle is open while its event is not closed; closing the event stops its clocks.

Every 报到 and 到场 is written in one transaction with an audit-trail row on the event
(actions ``whistle``, ``whistle_ack``, ``whistle_arrive``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import asyncpg

from gridsvc.errors import Conflict, Invalid, NotFound
from gridsvc.events.service import record_transition
from gridsvc.whistles import queries

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool

# Score weights: 报到 on time counts 40 %, 到场 on time 60 % (showing up is what matters).
ACK_WEIGHT = 0.4
ARRIVE_WEIGHT = 0.6
STATUS_ZH = {"awaiting_ack": "待报到", "acknowledged": "已报到", "arrived": "已到场"}


class WhistleNotFound(NotFound, LookupError):
    """No such whistle, or the department was not summoned by it (404)."""


class WhistleConflict(Conflict, ValueError):
    """Done already, or not allowed yet (409)."""


class WhistleInvalid(Invalid, ValueError):
    """The request names things that do not exist or do not fit together (422)."""

    def __init__(self, message: str, fields: list[dict[str, Any]]) -> None:
        super().__init__(message, fields=fields)


@dataclass
class NewWhistle:
    """A summons; the scene already converted to WGS84 degrees."""

    township_code: str
    title: str
    departments: list[str]
    lng: float
    lat: float
    summoned_by: str
    ack_minutes: int = 30
    arrive_minutes: int = 120
    matter_code: str | None = None
    description: str | None = None
    address: str | None = None
    source_crs: str | None = None
    source_lng: float | None = None
    source_lat: float | None = None


async def _locked_attendance(
    connection: asyncpg.Connection, whistle_id: int, department: str
) -> dict[str, Any]:
    row = await connection.fetchrow(queries.LOCK_ATTENDANCE, whistle_id, department)
    if row is not None:
        return dict(row)
    if not await connection.fetchval(queries.WHISTLE_EXISTS, whistle_id):
        raise WhistleNotFound(f"whistle {whistle_id} does not exist")
    if not await connection.fetchval(queries.DEPARTMENT_EXISTS, department):
        raise WhistleNotFound(f"no department {department!r} (see GET /departments)")
    summoned = [r["department"] for r in await connection.fetch(queries.SUMMONED_DEPARTMENTS, whistle_id)]
    raise WhistleNotFound(
        f"department {department!r} was not summoned by whistle {whistle_id} "
        f"(summoned: {', '.join(summoned)})"
    )


def _minutes(delta: Any) -> float:
    return round(delta.total_seconds() / 60, 1)


def _who(department: str, on_behalf: bool) -> dict[str, Any]:
    """The audit data saying who made a 报到 / 到场: the department's own account, or the desk
    recording it on the department's behalf (a phone call, a radio message)."""
    if on_behalf:
        return {"on_behalf": True, "on_behalf_of": department}
    return {"on_behalf": False, "by_department": department}


def on_behalf(actor: str | None) -> bool | None:
    """Whether a recorded 报到 / 到场 was made for the department by someone else (the audit
    actor is ``<role>:<name>``; a department's own account is ``department:<name>``)."""
    return None if actor is None else not actor.startswith("department:")


async def acknowledge(
    connection: asyncpg.Connection,
    *,
    whistle_id: int,
    department: str,
    actor: str,
    note: str | None = None,
    by_department: bool = False,
) -> dict[str, Any]:
    """报到: the department acknowledges the summons (once). Returns what was recorded.

    ``by_department``: made by the department's own account; otherwise the audit trail marks
    it as recorded on the department's behalf."""
    async with connection.transaction():
        row = await _locked_attendance(connection, whistle_id, department)
        if row["acknowledged_at"] is not None:
            raise WhistleConflict(
                f"department {department!r} already acknowledged whistle {whistle_id} at "
                f"{row['acknowledged_at'].isoformat()} (by {row['acknowledged_by']})"
            )
        if row["state"] == "closed":
            raise WhistleConflict(f"whistle {whistle_id} is over: its event {row['event_id']} is closed")
        at = await connection.fetchval(queries.ACKNOWLEDGE, whistle_id, department, actor, note)
        on_time = at <= row["ack_due_at"]
        await record_transition(
            connection,
            row["event_id"],
            actor=actor,
            action="whistle_ack",
            from_state=row["state"],
            to_state=row["state"],
            note=note,
            data={
                "whistle_id": whistle_id,
                "department": department,
                "on_time": on_time,
                "due_at": row["ack_due_at"].isoformat(),
                "at": at.isoformat(),
                "minutes": _minutes(at - row["summoned_at"]),
                **_who(department, not by_department),
            },
        )
        return {
            "whistle_id": whistle_id,
            "department": department,
            "acknowledged_at": at,
            "acknowledged_by": actor,
            "on_behalf": not by_department,
            "due_at": row["ack_due_at"],
            "on_time": on_time,
            "late": not on_time,
        }


async def arrive(
    connection: asyncpg.Connection,
    *,
    whistle_id: int,
    department: str,
    actor: str,
    note: str | None = None,
    lng: float | None = None,
    lat: float | None = None,
    crs: str | None = None,
    by_department: bool = False,
) -> dict[str, Any]:
    """到场: the department is on scene (once, and only after 报到); ``by_department`` as
    for :func:`acknowledge`."""
    async with connection.transaction():
        row = await _locked_attendance(connection, whistle_id, department)
        if row["arrived_at"] is not None:
            raise WhistleConflict(
                f"department {department!r} already arrived for whistle {whistle_id} at "
                f"{row['arrived_at'].isoformat()} (by {row['arrived_by']})"
            )
        if row["acknowledged_at"] is None:
            raise WhistleConflict(
                f"department {department!r} must acknowledge first (报到 before 到场) on whistle {whistle_id}"
            )
        if row["state"] == "closed":
            raise WhistleConflict(f"whistle {whistle_id} is over: its event {row['event_id']} is closed")
        at = await connection.fetchval(queries.ARRIVE, whistle_id, department, actor, note, lng, lat, crs)
        on_time = at <= row["arrive_due_at"]
        data: dict[str, Any] = {
            "whistle_id": whistle_id,
            "department": department,
            "on_time": on_time,
            "due_at": row["arrive_due_at"].isoformat(),
            "at": at.isoformat(),
            "minutes": _minutes(at - row["summoned_at"]),
            **_who(department, not by_department),
        }
        if lng is not None:
            data["position"] = {"lng": lng, "lat": lat, "crs": crs}
        await record_transition(
            connection,
            row["event_id"],
            actor=actor,
            action="whistle_arrive",
            from_state=row["state"],
            to_state=row["state"],
            note=note,
            data=data,
        )
        return {
            "whistle_id": whistle_id,
            "department": department,
            "arrived_at": at,
            "arrived_by": actor,
            "on_behalf": not by_department,
            "due_at": row["arrive_due_at"],
            "on_time": on_time,
            "late": not on_time,
        }


# -- views -------------------------------------------------------------------------


def _step(
    *,
    due: datetime,
    done: datetime | None,
    by: str | None,
    note: str | None,
    summoned_at: datetime,
    reference: datetime,
    now: datetime,
    is_open: bool,
) -> dict[str, Any]:
    return {
        "due_at": due,
        "at": done,
        "by": by,
        "on_behalf": on_behalf(by),
        "note": note,
        "late": None if done is None else done > due,
        "minutes": None if done is None else _minutes(done - summoned_at),
        "overdue": done is None and due < reference,
        "time_left_s": round((due - now).total_seconds()) if done is None and is_open else None,
    }


def present_attendance(row: dict[str, Any], whistle: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """One department's attendance: status, due times, lateness, time left."""
    is_open = whistle["state"] != "closed"
    reference = whistle["closed_at"] or now
    common = {"summoned_at": whistle["summoned_at"], "reference": reference, "now": now, "is_open": is_open}
    ack = _step(
        due=row["ack_due_at"],
        done=row["acknowledged_at"],
        by=row["acknowledged_by"],
        note=row["ack_note"],
        **common,
    )
    arrival = _step(
        due=row["arrive_due_at"],
        done=row["arrived_at"],
        by=row["arrived_by"],
        note=row["arrive_note"],
        **common,
    )
    if row["arrive_lng"] is not None:
        arrival["position"] = {"lng": row["arrive_lng"], "lat": row["arrive_lat"], "crs": row["arrive_crs"]}
        arrival["distance_m"] = (
            None if row["arrive_distance_m"] is None else round(row["arrive_distance_m"], 1)
        )
    if row["arrived_at"] is not None:
        status, current = "arrived", None
    elif row["acknowledged_at"] is not None:
        status, current = "acknowledged", arrival
    else:
        status, current = "awaiting_ack", ack
    return {
        "department": row["department"],
        "name": row["name"],
        "name_zh": row["name_zh"],
        "status": status,
        "status_zh": STATUS_ZH[status],
        "overdue": ack["overdue"] or arrival["overdue"],
        "time_left_s": current["time_left_s"] if current else None,
        "ack": ack,
        "arrive": arrival,
    }


def present(
    whistle: dict[str, Any], attendance: list[dict[str, Any]], *, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    departments = [present_attendance(a, whistle, now=now) for a in attendance]
    view = {
        "id": whistle["id"],
        "event_id": whistle["event_id"],
        "township_code": whistle["township_code"],
        "township_name": whistle.get("township_name") or whistle["township_code"],
        "summoned_by": whistle["summoned_by"],
        "summoned_at": whistle["summoned_at"],
        "ack_minutes": whistle["ack_minutes"],
        "arrive_minutes": whistle["arrive_minutes"],
        "open": whistle["state"] != "closed",
        "event": {
            k: whistle[k]
            for k in (
                "state",
                "title",
                "description",
                "matter_code",
                "matter_name",
                "address",
                "lng",
                "lat",
                "responsible_kind",
                "responsible_code",
                "responsible_name",
                "closed_at",
            )
        },
        "counts": {
            "summoned": len(departments),
            "acknowledged": sum(d["ack"]["at"] is not None for d in departments),
            "arrived": sum(d["arrive"]["at"] is not None for d in departments),
            "awaiting_ack": sum(d["status"] == "awaiting_ack" for d in departments),
            "overdue": sum(d["overdue"] for d in departments),
        },
        "departments": departments,
    }
    return view


async def get_whistle(connection: Connection, *, whistle_id: int) -> dict[str, Any]:
    row = await connection.fetchrow(queries.WHISTLE_BY_ID, whistle_id)
    if row is None:
        raise WhistleNotFound(f"whistle {whistle_id} does not exist")
    attendance = [dict(r) for r in await connection.fetch(queries.ATTENDANCE, [whistle_id])]
    return present(dict(row), attendance)


async def list_whistles(
    connection: Connection,
    *,
    open_: bool | None = None,
    township_code: str | None = None,
    department: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Whistles, newest first, each with its attendance (as :func:`get_whistle`)."""
    rows = [
        dict(r)
        for r in await connection.fetch(
            queries.LIST_WHISTLES, open_, township_code, department, before_id, limit
        )
    ]
    by_whistle: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        for record in await connection.fetch(queries.ATTENDANCE, list(by_whistle)):
            by_whistle[record["whistle_id"]].append(dict(record))
    now = now or datetime.now(UTC)
    return [present(r, by_whistle[r["id"]], now=now) for r in rows]


def lateness_minutes(department: dict[str, Any], *, now: datetime) -> float:
    """How late a department is on a whistle: the worst of its steps, each done late (done -
    due) or not done and past due (now - due); 0 when on time so far."""
    worst = 0.0
    for step in (department["ack"], department["arrive"]):
        if step["at"] is not None:
            worst = max(worst, (step["at"] - step["due_at"]).total_seconds() / 60)
        elif step["overdue"]:
            worst = max(worst, (now - step["due_at"]).total_seconds() / 60)
    return round(worst, 1)


async def board(connection: asyncpg.Connection, *, now: datetime, limit: int = 200) -> dict[str, Any]:
    """The operator's view of open whistles: each summoned department's state (待报到 / 已报到
    / 已到场), how late it is and its score over all whistles (:func:`scores`)."""
    open_whistles = await list_whistles(connection, open_=True, limit=limit, now=now)
    by_department = {row["department"]: row for row in await scores(connection)}
    for whistle in open_whistles:
        for department in whistle["departments"]:
            late = lateness_minutes(department, now=now)
            scored = by_department.get(department["department"], {})
            department.update(
                late_minutes=late,
                late=late > 0,
                score=scored.get("score"),
                response_rate=scored.get("response_rate"),
            )
    return {
        "at": now,
        "whistles": open_whistles,
        "counts": {
            "open": len(open_whistles),
            "awaiting_ack": sum(w["counts"]["awaiting_ack"] for w in open_whistles),
            "late": sum(d["late"] for w in open_whistles for d in w["departments"]),
        },
        "departments": list(by_department.values()),
    }


async def awaiting_ack_count(connection: Connection) -> int:
    """Departments summoned on open whistles (event not closed) that have not 报到 yet."""
    return int(await connection.fetchval(queries.AWAITING_ACK))


# -- scores --------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def score_of(ack_on_time_rate: float | None, arrive_on_time_rate: float | None) -> float | None:
    """``100 × (0.4 × ack_on_time_rate + 0.6 × arrive_on_time_rate)``; a rate with nothing
    decided yet is left out and the other one's weight scaled to 1; None when both are."""
    parts = [(ACK_WEIGHT, ack_on_time_rate), (ARRIVE_WEIGHT, arrive_on_time_rate)]
    used = [(w, r) for w, r in parts if r is not None]
    if not used:
        return None
    return round(100 * sum(w * r for w, r in used) / sum(w for w, _ in used), 1)


async def scores(
    connection: Connection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    township_code: str | None = None,
) -> list[dict[str, Any]]:
    """Attendance of each department over the whistles summoned in [start, end).

    Per department: ``summoned``; ``acknowledged`` / ``acknowledged_on_time`` (报到 at or
    before ``ack_due_at``); ``arrived`` / ``arrived_on_time`` (到场 at or before
    ``arrive_due_at``); ``ack_pending`` / ``arrive_pending``: steps neither done nor past due
    yet, which are not scored (a department is not marked down for a summons that is still
    running; a step still not done when the whistle's event was closed before its due time
    is stood down, not missed). With ``ack_scored = summoned - ack_pending`` and
    ``arrive_scored = summoned - arrive_pending``:

    - ``response_rate = acknowledged / ack_scored``
    - ``ack_on_time_rate = acknowledged_on_time / ack_scored``
    - ``arrival_rate = arrived / arrive_scored``
    - ``arrive_on_time_rate = arrived_on_time / arrive_scored``
    - ``mean_minutes_to_ack`` / ``mean_minutes_to_arrive``: from the summons, over the steps done
    - ``score = 100 × (0.4 × ack_on_time_rate + 0.6 × arrive_on_time_rate)``, rounded to 0.1;
      when one rate has nothing scored yet the other counts alone; None when neither has.

    Rates are None when their denominator is 0.
    """
    result = []
    for record in await connection.fetch(queries.SCORES, start, end, township_code):
        row = dict(record)
        for key in ("mean_minutes_to_ack", "mean_minutes_to_arrive"):
            value = row[key]
            row[key] = None if value is None else round(float(value), 1)
        ack_scored = row["summoned"] - row["ack_pending"]
        arrive_scored = row["summoned"] - row["arrive_pending"]
        row.update(
            ack_scored=ack_scored,
            arrive_scored=arrive_scored,
            response_rate=_rate(row["acknowledged"], ack_scored),
            ack_on_time_rate=_rate(row["acknowledged_on_time"], ack_scored),
            arrival_rate=_rate(row["arrived"], arrive_scored),
            arrive_on_time_rate=_rate(row["arrived_on_time"], arrive_scored),
        )
        row["score"] = score_of(row["ack_on_time_rate"], row["arrive_on_time_rate"])
        result.append(row)
    return result
