"""Calling the caller back: the audited reveal of a consented reporter's number.

Outside the dispatch centre a reporter's number is always shown masked
(:mod:`gridsvc.events.privacy`). When the caller agreed to be called back, the grid head or
squad handling the case may ask for the full number to make that call; every such reveal is
written to the event's audit trail (action ``reveal_contact``, with the actor) in the same
transaction that reads the number, so no number leaves without its trace. The audit row
itself never holds the number.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gridsvc.errors import Conflict
from gridsvc.events import privacy
from gridsvc.events.service import lock_event, record_transition

REVEAL_ACTION = "reveal_contact"


class RevealRefused(Conflict):
    """No consent, confidential (保密) or no number: nothing to reveal (409)."""

    error_code = "reveal_refused"


def refused(event_id: int, why: str) -> RevealRefused:
    return RevealRefused(f"event {event_id}: {why}")


async def reveal_contact(
    connection: asyncpg.Connection, *, event_id: int, actor: str, reason: str | None = None
) -> dict[str, Any]:
    """The reporter's full name and number, audited; 409 ``reveal_refused`` unless the caller
    consented to be called back, is not confidential and left a number.

    Scope (is this event the caller's?) is the router's business, checked before this runs.
    """
    async with connection.transaction():
        event = await lock_event(connection, event_id)
        reporter = event.get("reporter") or {}
        consent, confidential = privacy.flags(reporter)
        if confidential:
            raise refused(event_id, "the caller asked for confidentiality (保密)")
        if not consent:
            raise refused(event_id, "the caller did not agree to be called back")
        if not reporter.get("phone"):
            raise refused(event_id, "the caller left no number")
        audit = await record_transition(
            connection,
            event_id,
            actor=actor,
            action=REVEAL_ACTION,
            from_state=event["state"],
            to_state=event["state"],
            note=reason,
            data={"field": "phone", "masked": privacy.mask_phone(reporter["phone"])},
        )
    return {
        "event_id": event_id,
        "name": reporter.get("name"),
        "phone": reporter["phone"],
        "revealed_at": audit["at"],
        "audit_id": audit["id"],
        "by": actor,
    }
