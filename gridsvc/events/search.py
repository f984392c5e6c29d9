# ruff: noqa: S608 - SQL is composed of this module's constant clauses; every value is a $n
"""The work queue's search: ``GET /events`` filters, free text, sort, paging and the counts
per filter, composed into SQL (pure: no I/O; :mod:`gridsvc.events.service` runs it).

Only the clauses a request uses are written, each value a parameter (``$n``): a generic plan
of one statement full of ``($n IS NULL OR ...)`` cannot pick the index a given filter needs,
and at millions of events that is the difference between a few milliseconds and a scan.
The expressions below are the ones migrations 014 and 017 index; change both together.

Free text (``q``) matches title, description, address and work-order number by substring
(``ILIKE``, served by a pg_trgm GIN index, which takes Chinese too), and the caller's phone by
its last digits. The phone is private (D12, :mod:`gridsvc.events.privacy`): the dispatch
centre may search any suffix; everyone else only the last four digits, which the masked number
shows them anyway (150****9511), and never a confidential caller's (保密: shown to nobody
outside the centre), so a search cannot tell them a digit they are not shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridsvc.events.lifecycle import STAGE_OF_STATE, STATES
from gridsvc.events.privacy import in_centre

SOURCES = ("hotline", "whistle", "operator", "patrol")
STAGES = tuple(dict.fromkeys(STAGE_OF_STATE.values()))
SLA_STATUSES = ("overdue", "due_soon", "on_time", "none")
LOCATED = ("located", "unlocated")
OPEN_STATES = tuple(s for s in STATES if s != "closed")
SORTS = ("id", "due_at", "received_at")
# A phone suffix the centre may search: at least 4 digits (fewer match too many callers).
MIN_PHONE_SUFFIX = 4
# Outside the centre: the digits the masked number shows (privacy.mask_phone keeps 4).
SHOWN_PHONE_DIGITS = 4

# -- indexed expressions (migration 014) -------------------------------------------------
SEARCH_TEXT = (
    "(coalesce(e.title, '') || ' ' || coalesce(e.description, '') || ' ' || "
    "coalesce(e.address, '') || ' ' || coalesce(e.external_id, ''))"
)
PHONE_DIGITS = "regexp_replace(e.reporter ->> 'phone', '[^0-9]', '', 'g')"
PHONE_SUFFIX = f"reverse({PHONE_DIGITS})"
TOWNSHIP = "(e.grids -> 'enforcement' ->> 'code')"
GRID = "(e.grids -> 'community' ->> 'code')"
MATTER_CLASS = "(split_part(e.matter_code, '-', 1) || '-' || split_part(e.matter_code, '-', 2))"


def sla_expression(now: str) -> str:
    """The SLA status in SQL, the rule of :func:`gridsvc.events.read.sla_of` (``now`` is the
    parameter holding the clock's time)."""
    return (
        "(CASE WHEN e.due_at IS NULL OR e.state = 'closed' THEN 'none' "
        f"WHEN e.due_at < {now} THEN 'overdue' "
        f"WHEN e.stage_started_at IS NOT NULL AND e.due_at - {now} < 0.25 * (e.due_at - e.stage_started_at) "
        "THEN 'due_soon' ELSE 'on_time' END)"
    )


# facet -> (value expression, name expression or None); {now} is filled in per query
FACETS: dict[str, tuple[str, str | None]] = {
    "state": ("e.state", None),
    "stage": ("e.stage", None),
    "sla": ("{sla}", None),
    "township": (TOWNSHIP, "(e.grids -> 'enforcement' ->> 'name')"),
    "grid": (GRID, "(e.grids -> 'community' ->> 'name')"),
    "matter_class": (MATTER_CLASS, "m.major_name"),
    "responsible": ("(e.responsible_kind || ':' || coalesce(e.responsible_code, ''))", "e.responsible_name"),
    "source": ("e.source", None),
    "located": ("(CASE WHEN e.geom IS NULL THEN 'unlocated' ELSE 'located' END)", None),
}


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What the caller may see (:class:`gridsvc.auth.scope.EventFilter`'s fields)."""

    grid_codes: tuple[str, ...] | None = None
    squad_id: int | None = None
    integration_id: int | None = None
    department_code: str | None = None
    # a department account limited to its stations' or townships' areas (both empty: anywhere)
    station_codes: tuple[str, ...] = ()
    township_codes: tuple[str, ...] = ()
    # ... or reported by this account from the field (a grid head's or squad's 巡查上报)
    reported_by: int | None = None


@dataclass(frozen=True, kw_only=True)
class EventSearch:
    """One request of the queue: facet filters (each a set of allowed values, empty: any),
    the older ``GET /events`` filters, free text, sort and page."""

    facets: dict[str, tuple[str, ...]]
    open_only: bool = False
    responsible_kind: str | None = None
    responsible_codes: tuple[str, ...] = ()
    overdue: bool | None = None
    before_id: int | None = None
    # received in [received_from, received_to) (aware instants; the leaders' summary counts
    # the same events: GET /reports/summary's total received)
    received_from: datetime | None = None
    received_to: datetime | None = None
    q: str | None = None
    sort: str = "id"
    descending: bool = True
    offset: int = 0
    limit: int = 100


class _Sql:
    """Parameters collected while clauses are written."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own wildcards in ``text`` taken literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def phone_digits_of(q: str) -> str | None:
    """The digits of ``q`` when it is a phone number or part of one (digits, spaces, dashes,
    a leading +), else None."""
    if not re.fullmatch(r"\+?[0-9][0-9 \-]*", q):
        return None
    return re.sub(r"[^0-9]", "", q)


def _text_clause(sql: _Sql, q: str, viewer: Any) -> str:
    clauses = [f"{SEARCH_TEXT} ILIKE {sql.param(like_pattern(q))}"]
    digits = phone_digits_of(q)
    if digits and len(digits) >= MIN_PHONE_SUFFIX:
        if in_centre(viewer):
            clauses.append(f"{PHONE_SUFFIX} LIKE {sql.param(digits[::-1] + '%')}")
        elif len(digits) <= SHOWN_PHONE_DIGITS:
            # only the digits the masked number shows, never a confidential caller's, and
            # not a number too short to be shown masked (privacy.mask_phone hides it all)
            clauses.append(
                f"({PHONE_SUFFIX} LIKE {sql.param(digits[::-1] + '%')}"
                " AND coalesce(e.reporter ->> 'confidential', 'false') <> 'true'"
                f" AND length({PHONE_DIGITS}) >= 8)"
            )
    return "(" + " OR ".join(clauses) + ")"


def _facet_clause(sql: _Sql, facet: str, values: tuple[str, ...], now: str) -> str:
    if facet == "located" and len(values) == 1:
        # as a plain test, so that the partial index of unlocated events serves it
        return "e.geom IS NULL" if values[0] == "unlocated" else "e.geom IS NOT NULL"
    expression = FACETS[facet][0].format(sla=sla_expression(now))
    # one value as a plain equality: an index keyed by the expression then also gives the
    # order (migration 017's township + due_at); with = ANY(array) PostgreSQL 15 sorts instead
    if len(values) == 1:
        clause = f"{expression} = {sql.param(values[0])}::text"
    else:
        clause = f"{expression} = ANY({sql.param(list(values))}::text[])"
    # sargable companions, so that the open-events and due_at indexes can serve them
    if facet == "sla" and "none" not in values:
        late = set(values) <= {"overdue"}
        timely = not set(values) & {"overdue"}
        extra = "e.due_at IS NOT NULL AND e.state <> 'closed'"
        if late:
            extra += f" AND e.due_at < {now}"
        elif timely:
            extra += f" AND e.due_at >= {now}"
        clause = f"({clause} AND {extra})"
    return clause


def _scope_clauses(sql: _Sql, scope: Scope) -> list[str]:
    """The caller's scope (:func:`gridsvc.auth.scope.event_visible`): what it is assigned, or
    what it reported from the field wherever that was routed."""
    where: list[str] = []
    if scope.grid_codes is not None:
        codes = sql.param(list(scope.grid_codes))
        where.append(
            f"({GRID} = ANY({codes}::text[]) OR "
            f"(e.responsible_kind = 'grid_head' AND e.responsible_code = ANY({codes}::text[])))"
        )
    if scope.squad_id is not None:
        where.append(f"e.squad_id = {sql.param(scope.squad_id)}")
    if scope.integration_id is not None:
        where.append(f"e.integration_id = {sql.param(scope.integration_id)}")
    if scope.department_code is not None:
        # its own cases (gridsvc.auth.scope.event_visible), in its areas when it is limited
        code = sql.param(scope.department_code)
        where.append(f"e.responsible_kind = 'department' AND e.responsible_code = {code}")
        if scope.station_codes or scope.township_codes:
            stations = sql.param(list(scope.station_codes))
            towns = sql.param(list(scope.township_codes))
            where.append(
                f"(e.grids -> ('specialist:' || {code}::text) ->> 'code' = ANY({stations}::text[])"
                f" OR {TOWNSHIP} = ANY({towns}::text[]))"
            )
    if scope.reported_by is None or not where:
        return where
    return [f"(e.reported_by = {sql.param(scope.reported_by)} OR ({' AND '.join(where)}))"]


def _base_clauses(sql: _Sql, search: EventSearch, scope: Scope, viewer: Any, now: str) -> list[str]:
    """Every clause that is not a facet: scope, open, the older filters, free text."""
    where: list[str] = _scope_clauses(sql, scope)
    if search.open_only:
        where.append("e.state <> 'closed'")
    if search.responsible_kind is not None:
        where.append(f"e.responsible_kind = {sql.param(search.responsible_kind)}")
    if search.responsible_codes:
        where.append(f"e.responsible_code = ANY({sql.param(list(search.responsible_codes))}::text[])")
    if search.overdue is not None:
        late = f"(e.state <> 'closed' AND e.due_at < {now})"
        where.append(late if search.overdue else f"NOT coalesce({late}, false)")
    if search.before_id is not None:
        where.append(f"e.id < {sql.param(search.before_id)}")
    if search.received_from is not None:
        where.append(f"e.received_at >= {sql.param(search.received_from)}")
    if search.received_to is not None:
        where.append(f"e.received_at < {sql.param(search.received_to)}")
    if search.q:
        where.append(_text_clause(sql, search.q, viewer))
    return where


def _order(search: EventSearch) -> str:
    way = "DESC" if search.descending else "ASC"
    if search.sort == "id":
        return f"e.id {way}"
    # events without a running clock after those with one, either way; received_at is never
    # NULL, and a NULLS clause the index does not have would keep the planner off it
    nulls = " NULLS LAST" if search.sort == "due_at" else ""
    return f"e.{search.sort} {way}{nulls}, e.id {way}"


def list_query(
    search: EventSearch, *, scope: Scope, viewer: Any, now: datetime, columns: str
) -> tuple[str, list[Any]]:
    """The page of events: ``SELECT columns`` (``queries.EVENT_COLUMNS``) filtered, sorted."""
    sql = _Sql()
    at = sql.param(now)
    where = _base_clauses(sql, search, scope, viewer, at)
    where += [_facet_clause(sql, f, v, at) for f, v in search.facets.items() if v]
    text = (
        f"SELECT {columns} FROM events e LEFT JOIN matters m ON m.code = e.matter_code "
        f"WHERE {' AND '.join(where) or 'true'} AND {at}::timestamptz IS NOT NULL "
        f"ORDER BY {_order(search)} LIMIT {sql.param(search.limit)} OFFSET {sql.param(search.offset)}"
    )
    return text, sql.params


def counts_query(search: EventSearch, *, scope: Scope, viewer: Any, now: datetime) -> tuple[str, list[Any]]:
    """How many events each value of each facet would list, with every other filter applied
    (a facet's own filter left out, so the operator sees what choosing another value gives),
    and the total the list has. Rows: ``(facet, value, name, n)``; ``facet`` '' is the total.
    """
    sql = _Sql()
    at = sql.param(now)
    where = _base_clauses(sql, search, scope, viewer, at)
    chosen = {facet: values for facet, values in search.facets.items() if values}
    clauses = {facet: _facet_clause(sql, facet, values, at) for facet, values in chosen.items()}

    def others(facet: str) -> tuple[str, ...]:
        return tuple(f for f in clauses if f != facet)

    # Facets sharing a condition (every facet not filtered itself: all the filters) are
    # counted in one pass with GROUPING SETS: one pass per distinct condition (1 + the number
    # of filtered facets), not one per facet. Each pass is its own statement over events with
    # its condition in its WHERE, as the list writes it, so an index serves it (a township's
    # open cases: 600 rows of the township index, not every open event) and only the facets
    # it counts are computed; a shared CTE of every facet of every open event cost 2-3x as much.
    groups: dict[tuple[str, ...], list[str]] = {}
    for facet in FACETS:
        groups.setdefault(others(facet), []).append(facet)
    total_condition = others("")
    groups.setdefault(total_condition, [])
    parts = []
    for condition, facets in groups.items():
        rows = " AND ".join([*where, *(clauses[f] for f in condition)]) or "true"
        selected = [
            f"{FACETS[f][0].format(sla=sla_expression(at))} AS v_{f}, {FACETS[f][1] or 'NULL::text'} AS n_{f}"
            for f in facets
        ]
        source = (
            f"(SELECT {', '.join(selected) or '1 AS one'} FROM events e "
            + ("LEFT JOIN matters m ON m.code = e.matter_code " if "matter_class" in facets else "")
            + f"WHERE {rows} AND {at}::timestamptz IS NOT NULL) b"
        )
        if not facets:
            parts.append(f"(SELECT '' AS facet, NULL AS value, NULL AS name, count(*) AS n FROM {source})")
            continue
        sets = [f"(v_{f})" for f in facets] + (["()"] if condition == total_condition else [])
        label = " ".join(f"WHEN GROUPING(v_{f}) = 0 THEN '{f}'" for f in facets)
        value = " ".join(f"WHEN GROUPING(v_{f}) = 0 THEN v_{f}" for f in facets)
        name = " ".join(f"WHEN GROUPING(v_{f}) = 0 THEN max(n_{f})" for f in facets)
        parts.append(
            f"(SELECT CASE {label} ELSE '' END AS facet, CASE {value} END AS value, "
            f"CASE {name} END AS name, count(*) AS n FROM {source} "
            f"GROUP BY GROUPING SETS ({', '.join(sets)}))"
        )
    return " UNION ALL ".join(parts), sql.params


def counts_of(rows: list[Any]) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """``(total, facet -> [{value, name, count}] most first)`` from :func:`counts_query` rows."""
    total = 0
    counts: dict[str, list[dict[str, Any]]] = {facet: [] for facet in FACETS}
    for row in rows:
        if row["facet"] == "":
            total = int(row["n"])
            continue
        counts[row["facet"]].append({"value": row["value"], "name": row["name"], "count": int(row["n"])})
    for values in counts.values():
        values.sort(key=lambda c: (-c["count"], c["value"] is None, c["value"] or ""))
    return total, counts


def scope_where(scope: Scope, params: list[Any]) -> list[str]:
    """The caller's scope as SQL clauses for other read models over ``events e`` (hotspots,
    reports): the same rule as the queue's, its values appended to ``params`` (numbered after
    those already there)."""
    sql = _Sql()
    sql.params = params
    return _scope_clauses(sql, scope)
