"""Who may call what: one table for every route of the app.

Every request passes :func:`gridsvc.auth.deps.authorise`, which looks its route up here: a
route without a rule is refused to everyone (403), so a new endpoint is closed until someone
decides who may use it (and ``tests/test_access.py`` fails until its matrix says so too).

A rule names the roles that may call a route at all (else 403). Object scope is checked in
the handlers, and answers 404 (never 403) for objects outside the caller's scope, so that a
grid head cannot even learn that another grid's event exists:

- events: grid heads see their community grids' events, squads the events sent to them,
  departments the cases they are responsible for (in their stations' or townships' areas when
  the account is limited to some), the hotline its own work orders
  (:func:`gridsvc.auth.scope.event_visible`); grid heads, squads and departments may only take
  the field actions :data:`FIELD_ACTIONS` (others: 403), and only on events assigned to them;
  grid heads and squads report patrol findings (``POST /events``, source ``patrol``) and keep
  seeing what they reported;
- whistles: a department account sees the whistles that summon its department and makes its
  own 报到 / 到场 (another department's: 404);
- ``POST /squads/{squad_id}/positions``: a squad account only for its own squad;
- outbox: the hotline only its own messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIWebSocketRoute
from starlette.routing import Mount, WebSocketRoute

ADMIN, OPERATOR, GRID_HEAD, SQUAD, INTEGRATION = ("admin", "operator", "grid_head", "squad", "integration")
LEADER = "leader"  # township leaders, county supervisors: the 督办 they get, and their reply
DEPARTMENT = "department"

ADMINS = frozenset({ADMIN})
DESK = frozenset({ADMIN, OPERATOR})  # the dispatch centre
FIELD = frozenset({GRID_HEAD, SQUAD, DEPARTMENT})  # the units that act on cases: scoped
STAFF = DESK | FIELD  # any person (not the hotline)
EVENT_READERS = STAFF | {INTEGRATION}  # scoped by scope.event_visible
ANYONE = STAFF | {INTEGRATION, LEADER}  # any valid token
DUBAN_RECIPIENTS = DESK | FIELD | {LEADER}  # 督办: the desk all, the others their own

# Who may open each page (the page handlers redirect the others; /ops links the pages its
# viewer may open).
PAGE_READERS: dict[str, frozenset[str]] = {
    "/ops": DESK,
    "/dashboard": DESK | {LEADER},
    "/inspection-lists": DESK | {DEPARTMENT, LEADER},
}

# What grid heads, squads and departments may do to their own events; dispatching, transfer, verification,
# closing, 挂账 and decisions on 延期 stay with the dispatch centre.
FIELD_ACTIONS = frozenset({"sign_for", "arrive", "handle", "return"})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] | None  # None: public, no token needed
    why: str = ""


def public(why: str) -> Rule:
    return Rule(None, why)


RULES: dict[tuple[str, str], Rule] = {
    # Open: probes and scrapers carry no token; the webhook's HMAC secret is the hotline's
    # credential (a token would be a second secret to leak, rotate and sign with).
    ("GET", "/health"): public("liveness probe"),
    ("GET", "/ready"): public("readiness probe (load balancer, orchestrator)"),
    ("GET", "/metrics"): public("Prometheus scrape; GRIDSVC_METRICS_PUBLIC=false: desk only"),
    ("POST", "/webhooks/12345"): public("HMAC-signed by the integration's secret"),
    ("POST", "/webhooks/12345/revisits"): public("回访 results, HMAC-signed like the work orders"),
    ("GET", "/login"): public("the login form"),
    ("POST", "/login"): public("checks the token it is given"),
    ("POST", "/logout"): public("only clears the cookie"),
    ("GET", "/me"): Rule(ANYONE, "who am I"),
    # accounts
    ("GET", "/users"): Rule(ADMINS),
    ("POST", "/users"): Rule(ADMINS),
    ("POST", "/users/{name}/tokens"): Rule(ADMINS),
    ("DELETE", "/tokens/{token_id}"): Rule(ADMINS),
    # grids, layers, jurisdictions: reference data for every person
    ("GET", "/grids/lookup"): Rule(STAFF),
    ("POST", "/grids/lookup"): Rule(STAFF),
    ("GET", "/grids/{grid_id}"): Rule(STAFF),
    ("GET", "/layers"): Rule(STAFF),
    ("GET", "/layers/{layer}/versions"): Rule(STAFF),
    ("GET", "/layers/{layer}/grids"): Rule(STAFF),
    ("GET", "/jurisdictions"): Rule(STAFF),
    ("GET", "/jurisdictions/{code}"): Rule(STAFF),
    # roads, squads, ETA, coverage: the desk reads, admins write
    ("GET", "/roads"): Rule(DESK),
    ("GET", "/roads/edges"): Rule(DESK),
    ("GET", "/roads/networks"): Rule(DESK),
    ("GET", "/squads"): Rule(DESK),
    ("GET", "/squads/{squad_id}"): Rule(DESK | {SQUAD}, "squad: its own only"),
    ("POST", "/squads"): Rule(ADMINS),
    ("PATCH", "/squads/{squad_id}"): Rule(ADMINS),
    ("DELETE", "/squads/{squad_id}"): Rule(ADMINS),
    ("POST", "/squads/{squad_id}/status"): Rule(DESK | {SQUAD}, "squad: its own only"),
    ("POST", "/squads/{squad_id}/positions"): Rule(ADMINS | {SQUAD}, "squad: its own only"),
    ("GET", "/squads/{squad_id}/positions"): Rule(DESK),
    ("GET", "/eta"): Rule(DESK),
    ("GET", "/coverage"): Rule(STAFF),  # a field account: its own jurisdictions (scope.py)
    # matter catalogue, delegation lists, calendar: the desk reads, admins write
    ("GET", "/matters"): Rule(STAFF, "field accounts pick the matter of a 巡查上报"),
    ("GET", "/matters/{code}"): Rule(STAFF),
    ("PATCH", "/matters/{code}"): Rule(ADMINS),
    ("GET", "/departments"): Rule(DESK),
    ("GET", "/delegations"): Rule(DESK),
    ("GET", "/delegations/{list_id}"): Rule(DESK),
    ("POST", "/delegations"): Rule(ADMINS),
    ("GET", "/calendar"): Rule(DESK),
    ("PUT", "/calendar/{jurisdiction_code}/{day}"): Rule(ADMINS),
    ("DELETE", "/calendar/{jurisdiction_code}/{day}"): Rule(ADMINS),
    # events
    ("POST", "/events"): Rule(STAFF, "grid heads, squads: 巡查上报 (source patrol, with a position)"),
    ("GET", "/events"): Rule(EVENT_READERS, "listed: visible events only"),
    ("GET", "/events/{event_id}"): Rule(EVENT_READERS, "outside scope: 404"),
    ("POST", "/events/{event_id}/actions/{action}"): Rule(
        STAFF, "grid heads, squads, departments: FIELD_ACTIONS on visible events"
    ),
    ("GET", "/events/{event_id}/candidates"): Rule(DESK),
    ("POST", "/events/{event_id}/location"): Rule(DESK),
    ("POST", "/events/{event_id}/extensions"): Rule(STAFF, "visible events"),
    ("POST", "/events/{event_id}/extensions/{extension_id}/decision"): Rule(DESK),
    ("POST", "/events/{event_id}/duplicate_of"): Rule(DESK),
    ("DELETE", "/events/{event_id}/duplicate_of"): Rule(DESK),
    ("GET", "/events-counters"): Rule(DESK),
    ("GET", "/events-export"): Rule(STAFF, "visible events only; no caller details"),
    # the offline geocoder: candidates for an address, for the desk's panel
    ("GET", "/geocode"): Rule(DESK),
    ("POST", "/events/{event_id}/reporter/reveal"): Rule(
        FIELD, "their own events; the centre sees callers in full without it"
    ),
    # 回访 and 重办: the desk reopens or declines; the results are read per case and listed
    ("POST", "/events/{event_id}/redo"): Rule(DESK),
    ("POST", "/events/{event_id}/redo/decline"): Rule(DESK),
    ("GET", "/events/{event_id}/revisits"): Rule(EVENT_READERS, "outside scope: 404"),
    ("GET", "/revisits"): Rule(DESK),
    # hotline feedback
    ("GET", "/outbox"): Rule(DESK | {INTEGRATION}, "integration: its own messages"),
    ("POST", "/outbox/{message_id}/retry"): Rule(DESK | {INTEGRATION}, "integration: its own messages"),
    # whistles (吹哨报到): the desk summons; a department makes its own 报到 / 到场 (the desk
    # may record them on its behalf)
    ("POST", "/whistles"): Rule(DESK),
    # weekly patrol plans (巡查计划): the desk plans and adjusts, a squad sees and checks in its own
    ("GET", "/patrols"): Rule(DESK | {SQUAD}, "squad: its own plan only"),
    ("POST", "/patrols/plan"): Rule(DESK),
    ("GET", "/patrols/today"): Rule(DESK | {SQUAD}, "squad: its own route only"),
    ("GET", "/patrols/coverage"): Rule(DESK | {SQUAD}, "squad: its own figures only"),
    ("POST", "/patrols/{plan_id}/visits"): Rule(DESK),
    ("PATCH", "/patrols/visits/{visit_id}"): Rule(DESK),
    ("POST", "/patrols/visits/{visit_id}/check_in"): Rule(ADMINS | {SQUAD}, "squad: its own visits only"),
    ("PUT", "/patrols/frequencies/{grid_code}"): Rule(DESK),
    # 一店一档 / 综合查一次 / negative list / 首违不罚: the desk runs them; a department keeps
    # targets, plans and records its own inspections and reads the lists
    ("GET", "/inspection-targets"): Rule(DESK | {DEPARTMENT}),
    ("POST", "/inspection-targets"): Rule(DESK | {DEPARTMENT}),
    ("PATCH", "/inspection-targets/{target_id}"): Rule(DESK | {DEPARTMENT}),
    ("GET", "/inspection-matters"): Rule(DESK | {DEPARTMENT}, "department: its own matters"),
    ("PUT", "/inspection-matters/{department}/{target_type}"): Rule(ADMINS),
    ("POST", "/inspections"): Rule(DESK | {DEPARTMENT}, "department: its own department only"),
    ("GET", "/inspections"): Rule(DESK | {DEPARTMENT}, "department: its own inspections"),
    ("GET", "/inspections/joint"): Rule(DESK | {DEPARTMENT}, "department: visits it takes part in"),
    ("GET", "/inspections/savings"): Rule(DESK | {LEADER}),
    ("POST", "/inspections/{inspection_id}/result"): Rule(DESK | {DEPARTMENT}, "department: own only"),
    ("PUT", "/events/{event_id}/inspection-target"): Rule(DESK),
    ("GET", "/negative-list"): Rule(DESK | {DEPARTMENT, LEADER}),
    ("GET", "/lenient-cases"): Rule(DESK | {DEPARTMENT, LEADER}),
    ("GET", "/lenient-matters"): Rule(DESK | {DEPARTMENT}),
    ("POST", "/lenient-matters"): Rule(ADMINS),
    ("GET", "/whistles"): Rule(DESK | {DEPARTMENT}, "department: those summoning it"),
    ("GET", "/whistles-counters"): Rule(DESK),
    ("GET", "/whistles/scores"): Rule(DESK),
    ("GET", "/whistles/board"): Rule(DESK, "the operator's view of open whistles"),
    ("GET", "/whistles/{whistle_id}"): Rule(DESK | {DEPARTMENT}, "department: summoned, else 404"),
    ("POST", "/whistles/{whistle_id}/departments/{department}/ack"): Rule(
        DESK | {DEPARTMENT}, "department: its own, else 404"
    ),
    ("POST", "/whistles/{whistle_id}/departments/{department}/arrive"): Rule(
        DESK | {DEPARTMENT}, "department: its own, else 404"
    ),
    # reports for leaders (issue 11): every figure counts only the events the caller may see
    ("GET", "/reports/hotspots"): Rule(STAFF | {LEADER}, "visible events only; a leader: its reach"),
    # live pages: the shells are public (no data; they redirect to /login without a valid
    # cookie), their data come from the scoped routes below
    ("GET", "/ops"): public("page shell: desk only, else redirect to /login or /inbox"),
    ("GET", "/dashboard"): public("page shell: desk and leaders, else redirect to /login or /inbox"),
    ("GET", "/inspection-lists"): public("page shell: desk, departments, leaders; else /login or /inbox"),
    ("GET", "/inbox"): public("page shell: redirects to /login without a valid cookie"),
    ("GET", "/static/{path}"): public("the pages' scripts, styles and dictionaries"),
    ("GET", "/map/layers"): Rule(DESK, "the /ops map's grid layers (with the grid heads' phones)"),
    ("GET", "/live/stream"): Rule(STAFF | {LEADER}, "SSE: events by scope; squads, counters: desk"),
    ("GET", "/live/events"): Rule(STAFF | {LEADER}, "visible events only (a leader: none)"),
    ("GET", "/live/squads"): Rule(DESK),
    ("GET", "/live/counters"): Rule(DESK),
    ("GET", "/live/coverage"): Rule(DESK),
    ("GET", "/notices"): Rule(FIELD | ADMINS | {LEADER}, "a recipient: its own notices"),
    ("GET", "/notices/secret"): Rule(FIELD | ADMINS | {LEADER}, "a recipient: its own signing secret"),
    # leaders' figures: the desk and county supervisors all, a township leader its townships,
    # a department account its department (gridsvc/reports/api.py)
    ("GET", "/reports/summary"): Rule(DESK | {LEADER, DEPARTMENT}, "scoped: own township / department"),
    ("GET", "/reports/export.xlsx"): Rule(DESK | {LEADER, DEPARTMENT}, "scoped like the summary"),
    # 督办 (supervision of overdue stages): recipients see and answer their own
    ("GET", "/duban"): Rule(DUBAN_RECIPIENTS, "desk: all; others: those addressed to them"),
    ("GET", "/duban/levels"): Rule(DESK, "the levels in force"),
    ("POST", "/duban/{duban_id}/reply"): Rule(
        DUBAN_RECIPIENTS, "desk, or a recipient of that 督办 (else 404)"
    ),
    # the offline street base map: every person's pages draw it (not the hotline: no map)
    ("GET", "/tiles/{z}/{x}/{y}.mvt"): Rule(STAFF | {LEADER}, "base-map tiles for the pages' maps"),
    # photos of events (处置 reports)
    ("POST", "/events/{event_id}/attachments"): Rule(STAFF, "visible events"),
    ("GET", "/events/{event_id}/attachments"): Rule(STAFF, "visible events"),
    ("GET", "/attachments/{attachment_id}"): Rule(STAFF, "of visible events"),
}

# FastAPI's own pages (not behind authorise): the API's description, no data.
DOCS_ROUTES = frozenset(
    {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
)


def rule_for(method: str, path: str) -> Rule | None:
    return RULES.get(("GET" if method == "HEAD" else method, path))


def app_routes(app: Any) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app serves (HEAD left out: it follows GET).

    Walks included routers too: recent FastAPI versions keep them as one entry each in
    ``app.routes``.
    """

    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                context = getattr(route, "include_context", None)
                yield from walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
                continue
            # path_format: "/static/{path}" for "/static/{path:path}", as authorise sees it
            path = getattr(route, "path_format", None) or getattr(route, "path", None)
            if path is None:
                continue
            if isinstance(route, Mount):  # a mounted app (static files): served for GET
                yield "GET", prefix + path
                continue
            if isinstance(route, WebSocketRoute | APIWebSocketRoute):
                yield "WS", prefix + path
                continue
            for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
                yield method, prefix + path

    yield from walk(app.routes, "")
