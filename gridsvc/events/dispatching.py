"""The dispatch decision, made in one place for every way an event is dispatched.

Auto-dispatch at intake, an operator's 派遣 or 改派, and a 并单 duplicate following its
master all ask :func:`plan_dispatch`: which squad (the one given, else the recommendation of
the context's squad chooser when a squad is responsible), the matter's handling time limit
and the deadline it gives on the jurisdiction's calendar, and what the audit trail records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gridsvc.events import sla
from gridsvc.events.service import EventContext, handling_limit_of, jurisdiction_of


@dataclass(frozen=True)
class DispatchPlan:
    squad_id: int | None
    recommendation: dict[str, Any] | None
    limit_amount: float
    limit_unit: str
    handle_due_at: datetime

    def audit_data(self) -> dict[str, Any]:
        """The ``data`` of the dispatch/transfer audit-trail row."""
        data: dict[str, Any] = {
            "squad_id": self.squad_id,
            "handle_limit": {"amount": self.limit_amount, "unit": self.limit_unit},
        }
        if self.recommendation:
            data["recommendation"] = self.recommendation
        return data


def auto_dispatches(matter: Mapping[str, Any] | None, *, routed: bool) -> bool:
    """Whether intake dispatches at once: a routed event of a matter configured for it."""
    return routed and matter is not None and bool(matter["auto_dispatch"])


async def plan_dispatch(
    connection: asyncpg.Connection,
    context: EventContext,
    *,
    event: Mapping[str, Any],
    matter: Mapping[str, Any] | None,
    squad_id: int | None,
    now: datetime,
) -> DispatchPlan:
    """Decide a dispatch of ``event`` (a stored row, or the one intake is about to store:
    ``responsible_kind``/``_code``, ``grids``, ``lng``/``lat``, ``condition_position``)."""
    chosen: dict[str, Any] | None = None
    if squad_id is None and event["responsible_kind"] == "squad" and context.choose_squad:
        chosen = await context.choose_squad(connection, event)
        squad_id = chosen["id"] if chosen else None
    amount, unit = handling_limit_of(matter, event.get("condition_position"), context.settings)
    calendar = await sla.calendar_for(connection, jurisdiction_code=jurisdiction_of(event, context))
    return DispatchPlan(
        squad_id=squad_id,
        recommendation=chosen,
        limit_amount=amount,
        limit_unit=unit,
        handle_due_at=sla.deadline(now, amount, unit, calendar),
    )
