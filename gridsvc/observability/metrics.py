"""Prometheus metrics: what the process measures, and what the database says at scrape time.

Measured in the process (histograms, counters):

- ``gridsvc_http_requests_total{method,route,status}`` and
  ``gridsvc_http_request_duration_seconds{method,route}`` (route = the path template, so
  ``/events/{event_id}``, never one series per event);
- ``gridsvc_intake_duration_seconds{source}``: a work order or event accepted, from the
  request's arrival to the answer (``hotline``: ``POST /webhooks/12345``; ``operator``:
  ``POST /events``), 2xx answers only;
- ``gridsvc_eta_duration_seconds{with_route}``: one ETA computation for all squads
  (``GET /eta`` and dispatch recommendations alike).

With several uvicorn workers each process keeps its own: a scrape reads the worker that
answers it. ``gridsvc serve --workers N`` therefore sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
folder), and ``/metrics`` then adds up every worker's files. Without it, scrape one worker
per target or read the histograms as samples.

Read from the database at scrape time (the same from every process): events by state, open
events past their deadline by stage (SLA breaches now), 督办 escalations raised, outbox
messages by status and the age of the oldest pending one.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "gridsvc_http_requests",
    "HTTP requests answered, by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "gridsvc_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INTAKE_SECONDS = Histogram(
    "gridsvc_intake_duration_seconds",
    "Time to accept a work order or event (stored, routed, answered)",
    ["source"],
    registry=REGISTRY,
    # the intake target is p95 <= 50 ms: buckets are dense around it
    buckets=(0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ETA_SECONDS = Histogram(
    "gridsvc_eta_duration_seconds",
    "Time to compute every squad's ETA to a scene",
    ["with_route"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# The routes whose answer means "an event was taken in", and their source label.
INTAKE_ROUTES = {("POST", "/webhooks/12345"): "hotline", ("POST", "/events"): "operator"}

P = ParamSpec("P")
T = TypeVar("T")


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)
    source = INTAKE_ROUTES.get((method, route))
    if source is not None and 200 <= status < 300:
        INTAKE_SECONDS.labels(source).observe(seconds)


def timed_eta(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Time successful calls of an ETA function (``route_squad_id`` given or not)."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        started = time.perf_counter()
        result = await function(*args, **kwargs)
        with_route = "true" if kwargs.get("route_squad_id") is not None else "false"
        ETA_SECONDS.labels(with_route).observe(time.perf_counter() - started)
        return result

    return wrapper


# -- from the database, at scrape time ---------------------------------------------------

# Whole-table counts come from the trigger-kept tallies (migration 023): grouping events,
# outbox and escalations on every scrape took a second once years of history piled up. The
# overdue and oldest-pending figures read only open rows, through partial indexes. The 督办
# counters add those archived (archive.tallies, migration 026): a counter never goes down.
DATABASE_FIGURES = """
WITH counted AS (
    SELECT kind, label, n FROM tallies WHERE kind IN ('escalation_level', 'escalation_replied_level')
    UNION ALL SELECT kind, label, n FROM archive.tallies
)
SELECT 'state' AS kind, label, sum(n)::float8 AS value FROM tallies
WHERE kind = 'events_state' GROUP BY label
UNION ALL
SELECT 'overdue', stage, count(*) FROM events
WHERE state NOT IN ('closed', 'suspended') AND due_at < now() GROUP BY stage
UNION ALL
SELECT 'escalations', '', coalesce(sum(n), 0) FROM counted WHERE kind = 'escalation_level'
UNION ALL
SELECT 'duban', label, sum(n) FROM counted WHERE kind = 'escalation_level' GROUP BY label
UNION ALL
SELECT 'duban_replied', label, sum(n) FROM counted WHERE kind = 'escalation_replied_level'
GROUP BY label
UNION ALL
SELECT 'duban_unreplied', level::text, count(*) FROM escalations WHERE replied_at IS NULL
GROUP BY level
UNION ALL
SELECT 'duban_notices', split_part(label, ':', 2), sum(n) FROM tallies
WHERE kind = 'notice_kind_status' AND label LIKE 'duban:%' GROUP BY label
UNION ALL
SELECT 'outbox', label, sum(n) FROM tallies WHERE kind = 'outbox_status' GROUP BY label
UNION ALL
SELECT 'outbox_oldest', '', coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM outbox WHERE status = 'pending'
"""


async def database_metrics(
    connection: asyncpg.Connection | asyncpg.Pool, *, states: Iterable[str] = (), stages: Iterable[str] = ()
) -> list[Metric]:
    """Gauges read from the database now (one round trip).

    ``states``/``stages``: the event lifecycle's labels, always listed (zeros included), passed
    in by the app so that this core module does not import the events domain.
    """
    rows = await connection.fetch(DATABASE_FIGURES)
    by_kind: dict[str, dict[str, float]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], {})[row["label"] or ""] = float(row["value"])
    state_family = GaugeMetricFamily("gridsvc_events", "Events by lifecycle state", labels=["state"])
    found_states = by_kind.get("state", {})
    listed = list(states)
    # every state, zeros included: a series does not vanish at 0
    for state in [*listed, *sorted(set(found_states) - set(listed))]:
        state_family.add_metric([state], found_states.get(state, 0.0))
    overdue = GaugeMetricFamily(
        "gridsvc_events_overdue",
        "Open events past the deadline of their running stage (SLA breaches now; 挂账 "
        "events excluded: their clock is stopped)",
        labels=["stage"],
    )
    found = by_kind.get("overdue", {})
    for stage in sorted(set(stages) | set(found)):
        overdue.add_metric([stage], found.get(stage, 0.0))
    escalations = CounterMetricFamily(
        "gridsvc_sla_escalations",
        "督办 escalations raised (stages that ran over)",
        value=by_kind.get("escalations", {}).get("", 0.0),
    )
    outbox = GaugeMetricFamily(
        "gridsvc_outbox_messages", "Hotline feedback messages by status", labels=["status"]
    )
    for status in ("pending", "dead", "delivered"):
        outbox.add_metric([status], by_kind.get("outbox", {}).get(status, 0.0))
    oldest = GaugeMetricFamily(
        "gridsvc_outbox_oldest_pending_seconds",
        "Age of the oldest undelivered feedback message (0: none)",
        value=by_kind.get("outbox_oldest", {}).get("", 0.0),
    )
    return [state_family, overdue, escalations, *duban_families(by_kind), outbox, oldest]


def duban_families(by_kind: dict[str, dict[str, float]]) -> list[Metric]:
    """督办 by level (1..3 always listed): raised, answered in writing, waiting for the reply;
    their webhook notices by delivery status."""
    raised = CounterMetricFamily("gridsvc_duban", "督办 raised, by level", labels=["level"])
    replied = CounterMetricFamily(
        "gridsvc_duban_replied", "督办 answered with a written reply, by level", labels=["level"]
    )
    unreplied = GaugeMetricFamily(
        "gridsvc_duban_unreplied", "督办 still waiting for the written reply, by level", labels=["level"]
    )
    for family, kind in ((raised, "duban"), (replied, "duban_replied"), (unreplied, "duban_unreplied")):
        found = by_kind.get(kind, {})
        for level in sorted({"1", "2", "3"} | set(found), key=int):
            family.add_metric([level], found.get(level, 0.0))
    notices = GaugeMetricFamily(
        "gridsvc_duban_notices", "督办 webhook notices by delivery status", labels=["status"]
    )
    for status in ("pending", "delivered", "dead"):
        notices.add_metric([status], by_kind.get("duban_notices", {}).get(status, 0.0))
    return [raised, replied, unreplied, notices]


class _Families:
    """A one-off collector for families already computed."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(families: Iterable[Metric]) -> bytes:
    """The text format of this process's metrics (or every worker's) plus ``families``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)
    else:
        process = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(_Families(families))
    return generate_latest(process) + generate_latest(scraped)
