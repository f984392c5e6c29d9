"""``GET /metrics``: Prometheus text format (see :mod:`gridsvc.observability.metrics`).

Open by default, like most exporters: it holds counts and timings, no names, places or
work-order numbers, and a scraper carries no token. ``GRIDSVC_METRICS_PUBLIC=false`` asks for
an admin or operator token (the rule is applied in :func:`gridsvc.auth.deps.authorise`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gridsvc.observability.metrics import database_metrics, exposition

router = APIRouter(tags=["health"])


@router.get(
    "/metrics", summary="Prometheus metrics: events, SLA breaches, outbox, latencies", response_class=Response
)
async def metrics(request: Request) -> Response:
    state = request.app.state
    families = await database_metrics(state.pool, states=state.event_states, stages=state.event_stages)
    return Response(content=exposition(families), media_type=CONTENT_TYPE_LATEST)
