"""并单: candidate duplicates, and the links an operator confirms (or intake makes, for a
matter configured for it).

A link is never a guess about a different matter: candidates are open events of the same
minor matter, or of one the matter lists as related (``matters.related_matters``), within the
radius and time window, each with its distance, minutes apart and text similarity (pg_trgm).
Intake links on its own only for a matter set ``auto_merge``, only to a same-matter candidate
whose similarity reaches ``duplicate_auto_similarity``; everything else waits for an operator
(``POST /events/{id}/duplicate_of``).

Once linked, the duplicate follows its original (:func:`gridsvc.events.transitions.
bring_duplicates_along`), each step with its own hotline callback: its own 签收, and its 办结
carrying the original's reply, never before the link was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from gridsvc.errors import Conflict, Invalid
from gridsvc.events import queries
from gridsvc.events.models import DuplicateCandidate
from gridsvc.events.service import EventContext, candidates_of, lock_event, record_transition
from gridsvc.events.transitions import bring_duplicates_along


class MergeRefused(Conflict):
    """A 并单 link that cannot be made in the events' current states (409)."""

    error_code = "merge_refused"


def automatic_link(
    matter: Mapping[str, Any] | None, found: list[DuplicateCandidate], *, threshold: float
) -> DuplicateCandidate | None:
    """The candidate intake links without an operator: only for a matter set ``auto_merge``,
    only one of the same matter (a different minor matter never), only similar enough."""
    if matter is None or not matter.get("auto_merge"):
        return None
    same = [c for c in found if c.matter_code == matter["code"] and c.similarity >= threshold]
    return max(same, key=lambda c: (c.similarity, -c.distance_m), default=None)


async def link_duplicate(
    connection: asyncpg.Connection,
    context: EventContext,
    *,
    event_id: int,
    master_id: int,
    actor: str,
    note: str | None,
) -> None:
    """An operator confirms that ``event_id`` is a duplicate of ``master_id`` (one
    transaction): the link, its audit row, and the duplicate brought to its original's state
    with a callback for each step (its own 签收; 办结 with the original's reply)."""
    if master_id == event_id:
        raise Invalid(
            "an event cannot be a duplicate of itself",
            fields=[{"field": "body.event_id", "reason": "the original must be another event"}],
        )
    async with connection.transaction():
        # Both rows locked, lower id first: two operators linking a pair both ways never deadlock.
        locked: dict[int, dict[str, Any]] = {}
        for which in sorted((event_id, master_id)):
            row = await connection.fetchrow(queries.LOCK_EVENT, which)
            if row is None:
                if which == event_id:
                    await lock_event(connection, event_id)  # raises the 404
                raise Invalid(
                    f"event {master_id} does not exist",
                    fields=[{"field": "body.event_id", "reason": f"no event {master_id}"}],
                )
            locked[which] = dict(row)
        event, master = locked[event_id], locked[master_id]
        if event["duplicate_of"] == master_id:
            return  # confirmed already: nothing changes
        _check_link(event, master)
        if await connection.fetchval(queries.HAS_DUPLICATES, event_id):
            raise MergeRefused(
                f"event {event_id} has duplicates of its own; unlink them first, or link "
                f"event {master_id} to event {event_id} instead"
            )
        found = await candidates_of(connection, context.settings, event)
        offered = next((c for c in found if c.event_id == master_id), None)
        await connection.execute(queries.SET_DUPLICATE_OF, event_id, master_id)
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="link_duplicate",
            from_state=event["state"],
            to_state=event["state"],
            note=note or f"并单：确认为事件 {master_id} 的重复工单",
            data={
                "duplicate_of": master_id,
                "confirmed": True,
                "candidate": None
                if offered is None
                else {
                    "distance_m": offered.distance_m,
                    "minutes_apart": offered.minutes_apart,
                    "similarity": offered.similarity,
                },
            },
        )
        await bring_duplicates_along(connection, context, master_id, actor=actor, only=event_id)


def _check_link(event: Mapping[str, Any], master: Mapping[str, Any]) -> None:
    if event["state"] == "closed":
        raise MergeRefused(f"event {event['id']} is closed: a closed case is not merged")
    if event["duplicate_of"] is not None:
        raise MergeRefused(
            f"event {event['id']} is a duplicate of event {event['duplicate_of']} already; "
            "unlink it first (DELETE /events/{id}/duplicate_of)"
        )
    if master["state"] == "closed":
        raise MergeRefused(f"event {master['id']} is closed: link to an open original")
    if master["duplicate_of"] == event["id"]:
        raise MergeRefused(
            f"event {master['id']} is a duplicate of event {event['id']}; "
            "unlink it first to turn the link around"
        )
    if master["duplicate_of"] is not None:
        raise MergeRefused(
            f"event {master['id']} is itself a duplicate of event {master['duplicate_of']}; "
            f"link to event {master['duplicate_of']}"
        )


async def unlink_duplicate(
    connection: asyncpg.Connection, *, event_id: int, actor: str, note: str | None
) -> None:
    """Undo a 并单 link: the event stays where it is and moves on its own from now."""
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        if event["duplicate_of"] is None:
            raise MergeRefused(f"event {event_id} is not linked to another event")
        await connection.execute(queries.SET_DUPLICATE_OF, event_id, None)
        await record_transition(
            connection,
            event_id,
            actor=actor,
            action="unlink_duplicate",
            from_state=event["state"],
            to_state=event["state"],
            note=note,
            data={"was_duplicate_of": event["duplicate_of"]},
        )
