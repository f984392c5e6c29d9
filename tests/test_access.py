"""The access matrix: every role × every route of the app, with the status expected of each.

Routes are enumerated from the app itself, so a route added without a row here fails
``test_every_route_has_cases``. Each cell is one real request against real objects (see
access_support.py): allowed callers get their 2xx, other roles 403, no or a revoked token
401, and objects outside a caller's scope 404 (never 403).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.auth import service as auth
from gridsvc.auth.policy import DOCS_ROUTES, RULES, app_routes
from gridsvc.duban.service import set_leader
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.settings import Settings
from gridsvc.webhooks.service import save_integration
from gridsvc.webhooks.signing import signed_headers
from tests.access_support import (
    DEPARTMENT,
    ESCHEN,
    ROLES,
    TOKEN_ROLES,
    VADUZ,
    World,
    in_thread,
    png,
    sql,
)
from tests.auth_support import issue_token

pytestmark = pytest.mark.usefixtures("demo")

DESK = {"admin", "operator"}
ADMINS = {"admin"}
STAFF = {"admin", "operator", "grid_head", "squad", "department"}
FIELD = {"grid_head", "squad", "department"}
ANYONE = set(TOKEN_ROLES)
EVENT_READERS = STAFF | {"integration"}
LEADER = {"leader"}  # township leaders, county supervisors: their 督办


def expect(ok: int, allowed: set[str], **override: int) -> dict[str, int]:
    """``ok`` for the allowed roles, 403 for other tokens, 401 without a valid token."""
    cells = {role: ok if role in allowed else 403 for role in TOKEN_ROLES}
    cells.update(anonymous=401, revoked=401)
    cells.update(override)
    return cells


def public(ok: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, ok)


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    build: Callable[[World, str], dict[str, Any]]  # -> path and request arguments
    expected: dict[str, int]
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}{' ' + self.name if self.name else ''}"


def at(path: str, **kwargs: Any) -> Callable[[World, str], dict[str, Any]]:
    return lambda _w, _r: {"path": path, **kwargs}


def lookup(_w: World, _r: str) -> dict[str, Any]:
    return {"path": "/grids/lookup", "params": {"lng": VADUZ[0], "lat": VADUZ[1]}}


def login(w: World, role: str) -> dict[str, Any]:
    # the form carries the role's own token; no Authorization header
    return {"path": "/login", "data": {"token": w.tokens.get(role, "")}, "auth_header": False}


def webhook(w: World, _r: str) -> dict[str, Any]:
    body, headers = w.hotline_order()
    return {"path": "/webhooks/12345", "content": body, "headers": headers}


def action(name: str, *, mine: bool, body: dict[str, Any] | None = None) -> Callable[..., Any]:
    def build(w: World, r: str) -> dict[str, Any]:
        event_id = w.event_mine(role=r) if mine else w.event_other()
        return {"path": f"/events/{event_id}/actions/{name}", "json": body or {}}

    return build


def extension(*, mine: bool) -> Callable[..., Any]:
    def build(w: World, r: str) -> dict[str, Any]:
        event_id = w.event_mine(role=r) if mine else w.event_other()
        return {
            "path": f"/events/{event_id}/extensions",
            "json": {"minutes": 60, "reason": "需要协调产权单位"},
        }

    return build


def decision(w: World, _r: str) -> dict[str, Any]:
    event_id = w.event_mine()
    extension_id = w.admin("POST", f"/events/{event_id}/extensions", json={"minutes": 30, "reason": "等待"})[
        "id"
    ]
    return {"path": f"/events/{event_id}/extensions/{extension_id}/decision", "json": {"approved": True}}


def place(w: World, _r: str) -> dict[str, Any]:
    created = w.admin(
        "POST", "/events", json={"title": "只有地址", "matter_code": w.matter, "address": "瓦杜兹市政厅旁"}
    )
    return {"path": f"/events/{created['id']}/location", "json": {"location": w.point(w.grid_mine)}}


def link(w: World, _r: str) -> dict[str, Any]:
    spot = w.point(w.grid_other)
    original = w.event_other(location=spot, dispatched=False)
    duplicate = w.event_other(location=spot, dispatched=False)
    offered = w.admin("GET", f"/events/{duplicate}")["duplicate_candidates"]
    assert original in [c["event_id"] for c in offered]
    return {"path": f"/events/{duplicate}/duplicate_of", "json": {"event_id": original}}


def unlink(w: World, r: str) -> dict[str, Any]:
    request = link(w, r)
    w.admin("POST", request["path"], json=request["json"])
    return {"path": request["path"]}


def retry(*, own: bool) -> Callable[..., Any]:
    return lambda w, _r: {"path": f"/outbox/{w.dead_message(own=own)}/retry"}


def whistle_step(step: str, department: str = "emergency") -> Callable[..., Any]:
    """报到 / 到场 of ``department`` on a whistle summoning it (and one other department)."""

    def build(w: World, _r: str) -> dict[str, Any]:
        whistle_id = w.whistle(acknowledged=step == "arrive", department=department)
        return {"path": f"/whistles/{whistle_id}/departments/{department}/{step}", "json": {}}

    return build


def positions(*, own: bool) -> Callable[..., Any]:
    def build(w: World, _r: str) -> dict[str, Any]:
        squad_id = w.squad_mine if own else w.squad_other
        return {
            "path": f"/squads/{squad_id}/positions",
            "json": {"lat": VADUZ[1], "lng": VADUZ[0], "timestamp": datetime.now(UTC).isoformat()},
        }

    return build


def grid_id(w: World, _r: str) -> dict[str, Any]:
    found = sql(w.database_url, "SELECT id FROM current_grids WHERE code = $1", w.grid_mine)
    return {"path": f"/grids/{found[0]['id']}"}


def patch_matter(w: World, _r: str) -> dict[str, Any]:
    current = w.admin("GET", f"/matters/{w.matter}")["auto_dispatch"]
    return {"path": f"/matters/{w.matter}", "json": {"auto_dispatch": current}}  # unchanged


def delegation_id(w: World, _r: str) -> dict[str, Any]:
    return {"path": f"/delegations/{w.admin('GET', '/delegations')[0]['id']}"}


def new_delegation(w: World, _r: str) -> dict[str, Any]:
    return {
        "path": "/delegations",
        "json": {"enforcement_code": w.township, "effective_from": "2093-01-01", "matter_codes": [w.matter]},
    }


def calendar_day(*, existing: bool) -> Callable[..., Any]:
    def build(w: World, _r: str) -> dict[str, Any]:
        path = f"/calendar/{w.township}/2093-05-0{1 + len(w.points[w.grid_other]) % 9}"
        if existing:
            w.admin("PUT", path, json={"working": False, "name": "测试"})
        return {"path": path, "json": {"working": False, "name": "劳动节"}}

    return build


def photo_upload(*, mine: bool) -> Callable[..., Any]:
    def build(w: World, r: str) -> dict[str, Any]:
        event_id = w.event_mine(role=r) if mine else w.event_other()
        return {
            "path": f"/events/{event_id}/attachments",
            "files": {"file": ("scene.png", png(), "image/png")},
        }

    return build


def event(*, mine: bool) -> Callable[..., Any]:
    return lambda w, r: {"path": f"/events/{w.event_mine(role=r) if mine else w.event_other()}"}


def reveal(*, mine: bool) -> Callable[..., Any]:
    def build(w: World, r: str) -> dict[str, Any]:
        caller = {"name": "陈立", "phone": "13900001111", "consent_to_contact": True}
        event_id = w.event_mine(role=r, reporter=caller) if mine else w.event_other(reporter=caller)
        return {"path": f"/events/{event_id}/reporter/reveal", "json": {}}

    return build


def handled(w: World) -> int:
    """A hotline work order in the grid head's grid, handled by the squad (ready for 重办)."""
    event_id = w.event_mine()
    for step, body in (("sign_for", {}), ("arrive", {}), ("handle", {"note": "已清理"})):
        w.admin("POST", f"/events/{event_id}/actions/{step}", json=body)
    return event_id


def revisit_callback(w: World, _r: str) -> dict[str, Any]:
    event_id = w.event_mine()
    order_no = w.admin("GET", f"/events/{event_id}")["external_id"]
    body = json.dumps({"work_order_no": order_no, "satisfaction": "满意"}, ensure_ascii=False).encode()
    return {
        "path": "/webhooks/12345/revisits",
        "content": body,
        "headers": signed_headers(w.secret, body, integration=w.integration),
    }


def redo(w: World, _r: str) -> dict[str, Any]:
    return {"path": f"/events/{handled(w)}/redo", "json": {"note": "复核发现未整改到位"}}


def decline_redo(w: World, _r: str) -> dict[str, Any]:
    event_id = handled(w)
    w.admin("POST", f"/events/{event_id}/redo", json={"note": "回访不满意"})
    return {"path": f"/events/{event_id}/redo/decline", "json": {"reason": "诉求超出职责范围，已解释"}}


SCOPED_404 = {"grid_head": 404, "squad": 404, "department": 404}
CASES: list[Case] = [
    # open
    Case("GET", "/health", at("/health"), public(200)),
    Case("GET", "/ready", at("/ready"), public(200)),
    Case("GET", "/metrics", at("/metrics"), public(200)),
    Case("POST", "/webhooks/12345", webhook, public(201), "HMAC-signed, any header"),
    Case("POST", "/webhooks/12345/revisits", revisit_callback, public(201), "HMAC-signed, any header"),
    Case("GET", "/login", at("/login"), public(200)),
    Case(
        "POST",
        "/login",
        login,
        {**public(303), "anonymous": 401, "revoked": 401},
        "with the caller's own token",
    ),
    Case("POST", "/logout", at("/logout"), public(303)),
    *(Case(m, p, at(p), public(200)) for m, p in sorted(DOCS_ROUTES)),
    Case("GET", "/me", at("/me"), expect(200, ANYONE)),
    # accounts
    Case("GET", "/users", at("/users"), expect(200, ADMINS)),
    Case(
        "POST",
        "/users",
        lambda w, r: {
            "path": "/users",
            "json": {"name": f"acc-new-{uuid.uuid4().hex[:8]}", "role": "operator"},
        },
        expect(201, ADMINS),
    ),
    Case(
        "POST",
        "/users/{name}/tokens",
        lambda w, r: {"path": f"/users/{w.user()}/tokens"},
        expect(201, ADMINS),
    ),
    Case(
        "DELETE", "/tokens/{token_id}", lambda w, r: {"path": f"/tokens/{w.token_id()}"}, expect(200, ADMINS)
    ),
    # reference data
    Case("GET", "/grids/lookup", lookup, expect(200, STAFF)),
    Case(
        "POST",
        "/grids/lookup",
        at("/grids/lookup", json={"points": [{"lng": VADUZ[0], "lat": VADUZ[1]}]}),
        expect(200, STAFF),
    ),
    Case("GET", "/grids/{grid_id}", grid_id, expect(200, STAFF)),
    Case("GET", "/layers", at("/layers"), expect(200, STAFF)),
    Case("GET", "/layers/{layer}/versions", at("/layers/enforcement/versions"), expect(200, STAFF)),
    Case("GET", "/layers/{layer}/grids", at("/layers/enforcement/grids"), expect(200, STAFF)),
    Case("GET", "/jurisdictions", at("/jurisdictions"), expect(200, STAFF)),
    Case("GET", "/jurisdictions/{code}", at("/jurisdictions/LI"), expect(200, STAFF)),
    # roads, squads, ETA, coverage
    Case("GET", "/roads", at("/roads?jurisdiction=LI"), expect(200, DESK)),
    Case("GET", "/roads/networks", at("/roads/networks"), expect(200, DESK)),
    Case(
        "GET", "/roads/edges", at("/roads/edges", params={"bbox": "9.50,47.12,9.54,47.15"}), expect(200, DESK)
    ),
    Case("GET", "/squads", at("/squads"), expect(200, DESK)),
    Case(
        "GET",
        "/squads/{squad_id}",
        lambda w, r: {"path": f"/squads/{w.squad_mine}"},
        expect(200, DESK | {"squad"}),
        "own squad",
    ),
    Case(
        "GET",
        "/squads/{squad_id}",
        lambda w, r: {"path": f"/squads/{w.squad_other}"},
        expect(200, DESK, squad=404),
        "another squad",
    ),
    Case(
        "POST",
        "/squads/{squad_id}/status",
        lambda w, r: {"path": f"/squads/{w.squad_mine}/status", "json": {"status": "available"}},
        expect(200, DESK | {"squad"}),
        "own squad",
    ),
    Case(
        "POST",
        "/squads/{squad_id}/status",
        lambda w, r: {"path": f"/squads/{w.squad_other}/status", "json": {"status": "available"}},
        expect(200, DESK, squad=404),
        "another squad",
    ),
    Case(
        "POST",
        "/squads",
        lambda w, r: {
            "path": "/squads",
            "json": {
                "code": f"SQ-ACC-{uuid.uuid4().hex[:8]}",
                "name": "x",
                "station": {"lat": VADUZ[1], "lng": VADUZ[0]},
            },
        },
        expect(201, ADMINS),
    ),
    Case(
        "PATCH",
        "/squads/{squad_id}",
        lambda w, r: {"path": f"/squads/{w.squad_other}", "json": {"phone": "0423-000"}},
        expect(200, ADMINS),
    ),
    Case("DELETE", "/squads/{squad_id}", lambda w, r: {"path": f"/squads/{w.squad()}"}, expect(204, ADMINS)),
    Case(
        "POST",
        "/squads/{squad_id}/positions",
        positions(own=True),
        expect(201, ADMINS | {"squad"}),
        "own squad",
    ),
    Case(
        "POST",
        "/squads/{squad_id}/positions",
        positions(own=False),
        expect(201, ADMINS, squad=404),
        "another squad",
    ),
    Case(
        "GET",
        "/squads/{squad_id}/positions",
        lambda w, r: {"path": f"/squads/{w.squad_mine}/positions"},
        expect(200, DESK),
    ),
    # weekly patrol plans: the desk plans and adjusts; a squad sees and checks in its own
    Case(
        "GET",
        "/patrols",
        at("/patrols", params={"jurisdiction": "LI", "week": "2031-W01"}),
        expect(200, DESK | {"squad"}),
    ),
    Case(
        "POST",
        "/patrols/plan",
        at("/patrols/plan", params={"jurisdiction": "LI", "week": "2031-W01"}),
        expect(201, DESK),
    ),
    Case(
        "GET",
        "/patrols/today",
        lambda w, r: {"path": "/patrols/today", "params": {"squad_id": w.squad_mine}},
        expect(200, DESK | {"squad"}),
    ),
    Case(
        "GET",
        "/patrols/coverage",
        at("/patrols/coverage", params={"jurisdiction": "LI", "week": "2031-W01"}),
        expect(200, DESK | {"squad"}),
    ),
    # no such plan or visit: the allowed roles learn that, the others are refused first
    Case(
        "POST",
        "/patrols/{plan_id}/visits",
        at("/patrols/999999999/visits", json={"grid_code": "LI-VADUZ-01", "day": "2031-01-01"}),
        expect(404, DESK),
    ),
    Case(
        "PATCH",
        "/patrols/visits/{visit_id}",
        at("/patrols/visits/999999999", json={"day": "2031-01-01"}),
        expect(404, DESK),
    ),
    Case(
        "POST",
        "/patrols/visits/{visit_id}/check_in",
        at("/patrols/visits/999999999/check_in", json={"lng": VADUZ[0], "lat": VADUZ[1]}),
        expect(404, ADMINS | {"squad"}),
    ),
    Case(
        "PUT",
        "/patrols/frequencies/{grid_code}",
        at("/patrols/frequencies/LI-VADUZ-01", json={"visits_per_week": 1}),
        expect(200, DESK),
    ),
    # 一店一档 / 综合查一次 / negative list / 首违不罚: the desk and departments; no such object:
    # the allowed roles learn that, the others are refused first
    Case("GET", "/inspection-targets", at("/inspection-targets"), expect(200, DESK | {"department"})),
    Case(
        "POST",
        "/inspection-targets",
        at(
            "/inspection-targets",
            json={
                "name": "权限测试店",
                "credit_code": "91350100MA2Y00000E",
                "type": "shop",
                "point": {"lng": VADUZ[0], "lat": VADUZ[1]},
            },
        ),
        expect(201, DESK | {"department"}),
    ),
    Case(
        "PATCH",
        "/inspection-targets/{target_id}",
        at("/inspection-targets/999999999", json={"name": "x"}),
        expect(404, DESK | {"department"}),
    ),
    Case("GET", "/inspection-matters", at("/inspection-matters"), expect(200, DESK | {"department"})),
    Case(
        "PUT",
        "/inspection-matters/{department}/{target_type}",
        at("/inspection-matters/market/shop", json={"matter_codes": ["SC-食品"]}),
        expect(200, ADMINS),
    ),
    Case(
        "POST",
        "/inspections",
        at(
            "/inspections",
            json={
                "target_id": 999999999,
                "department": DEPARTMENT,
                "matter_codes": ["X"],
                "planned_on": "2040-01-02",
            },
        ),
        expect(422, DESK | {"department"}),
    ),
    Case(
        "GET",
        "/inspections",
        at("/inspections", params={"from": "2040-01-01", "to": "2040-01-31"}),
        expect(200, DESK | {"department"}),
    ),
    Case(
        "GET",
        "/inspections/joint",
        at("/inspections/joint", params={"from": "2040-01-01", "to": "2040-01-31"}),
        expect(200, DESK | {"department"}),
    ),
    Case(
        "GET",
        "/inspections/savings",
        at("/inspections/savings", params={"from": "2040-01-01", "to": "2040-01-31"}),
        expect(200, DESK | LEADER),
    ),
    Case(
        "POST",
        "/inspections/{inspection_id}/result",
        at("/inspections/999999999/result", json={"violation": False}),
        expect(404, DESK | {"department"}),
    ),
    Case(
        "PUT",
        "/events/{event_id}/inspection-target",
        at("/events/999999999/inspection-target", json={"target_id": 999999999}),
        expect(404, DESK),
    ),
    Case("GET", "/negative-list", at("/negative-list"), expect(200, DESK | {"department"} | LEADER)),
    Case("GET", "/lenient-cases", at("/lenient-cases"), expect(200, DESK | {"department"} | LEADER)),
    Case("GET", "/lenient-matters", at("/lenient-matters"), expect(200, DESK | {"department"})),
    Case(
        "POST",
        "/lenient-matters",
        at("/lenient-matters", json={"matter_code": "SC-标价"}),
        expect(201, ADMINS),
    ),
    Case("GET", "/eta", at("/eta", params={"lng": VADUZ[0], "lat": VADUZ[1]}), expect(200, DESK)),
    Case("GET", "/coverage", at("/coverage", params={"jurisdiction": "LI"}), expect(200, STAFF)),
    # matters, delegation lists, calendar
    Case("GET", "/matters", at("/matters", params={"q": "垃圾"}), expect(200, STAFF)),
    Case("GET", "/matters/{code}", lambda w, r: {"path": f"/matters/{w.matter}"}, expect(200, STAFF)),
    Case("PATCH", "/matters/{code}", patch_matter, expect(200, ADMINS)),
    Case("GET", "/departments", at("/departments"), expect(200, DESK)),
    Case("GET", "/delegations", at("/delegations"), expect(200, DESK)),
    Case("GET", "/delegations/{list_id}", delegation_id, expect(200, DESK)),
    Case("POST", "/delegations", new_delegation, expect(201, ADMINS)),
    Case("GET", "/calendar", at("/calendar"), expect(200, DESK)),
    Case("PUT", "/calendar/{jurisdiction_code}/{day}", calendar_day(existing=False), expect(200, ADMINS)),
    Case("DELETE", "/calendar/{jurisdiction_code}/{day}", calendar_day(existing=True), expect(200, ADMINS)),
    # events
    Case(
        "POST",
        "/events",
        lambda w, r: {
            "path": "/events",
            "json": {"title": "巡查发现", "matter_code": w.matter, "location": w.point(w.grid_mine)},
        },
        expect(201, STAFF),
        "with a position (field: 巡查上报)",
    ),
    Case(
        "POST",
        "/events",
        at("/events", json={"title": "只有地址", "address": "瓦杜兹市政厅旁"}),
        expect(201, STAFF, grid_head=422, squad=422),
        "without a position (field: 422)",
    ),
    Case("GET", "/events", at("/events"), expect(200, EVENT_READERS)),
    Case("GET", "/events-export", at("/events-export"), expect(200, STAFF)),
    Case("GET", "/events/{event_id}", event(mine=True), expect(200, EVENT_READERS), "in scope"),
    Case(
        "GET",
        "/events/{event_id}",
        event(mine=False),
        expect(200, EVENT_READERS, **SCOPED_404, integration=404),
        "outside scope",
    ),
    Case(
        "POST",
        "/events/{event_id}/actions/{action}",
        action("sign_for", mine=True),
        expect(200, STAFF),
        "sign_for in scope",
    ),
    Case(
        "POST",
        "/events/{event_id}/actions/{action}",
        action("sign_for", mine=False),
        expect(200, STAFF, **SCOPED_404),
        "sign_for outside scope",
    ),
    Case(
        "POST",
        "/events/{event_id}/actions/{action}",
        action("suspend", mine=True, body={"note": "挂账：等待规划许可"}),
        expect(200, DESK),
        "suspend (desk only) in scope",
    ),
    Case(
        "POST",
        "/events/{event_id}/actions/{action}",
        action("suspend", mine=False, body={"note": "挂账"}),
        expect(200, DESK, **SCOPED_404),
        "suspend outside scope",
    ),
    Case(
        "GET",
        "/events/{event_id}/candidates",
        lambda w, r: {"path": f"/events/{w.event_mine()}/candidates"},
        expect(200, DESK),
    ),
    Case("POST", "/events/{event_id}/location", place, expect(200, DESK)),
    Case("GET", "/geocode", at("/geocode", params={"q": "Städtle 1, 9490 Vaduz"}), expect(200, DESK)),
    Case("POST", "/events/{event_id}/extensions", extension(mine=True), expect(201, STAFF), "in scope"),
    Case(
        "POST",
        "/events/{event_id}/extensions",
        extension(mine=False),
        expect(201, STAFF, **SCOPED_404),
        "outside scope",
    ),
    Case("POST", "/events/{event_id}/extensions/{extension_id}/decision", decision, expect(200, DESK)),
    Case("POST", "/events/{event_id}/duplicate_of", link, expect(200, DESK)),
    Case("DELETE", "/events/{event_id}/duplicate_of", unlink, expect(200, DESK)),
    Case("GET", "/events-counters", at("/events-counters"), expect(200, DESK)),
    Case(
        "POST",
        "/events/{event_id}/reporter/reveal",
        reveal(mine=True),
        expect(200, FIELD),
        "consented caller, in scope",
    ),
    Case(
        "POST",
        "/events/{event_id}/reporter/reveal",
        reveal(mine=False),
        expect(200, FIELD, **SCOPED_404),
        "consented caller, outside scope",
    ),
    # 回访 and 重办
    Case("POST", "/events/{event_id}/redo", redo, expect(200, DESK)),
    Case("POST", "/events/{event_id}/redo/decline", decline_redo, expect(200, DESK)),
    Case(
        "GET",
        "/events/{event_id}/revisits",
        lambda w, r: {"path": f"/events/{w.event_mine(role=r)}/revisits"},
        expect(200, EVENT_READERS),
        "in scope",
    ),
    Case(
        "GET",
        "/events/{event_id}/revisits",
        lambda w, r: {"path": f"/events/{w.event_other()}/revisits"},
        expect(200, EVENT_READERS, **SCOPED_404, integration=404),
        "outside scope",
    ),
    Case("GET", "/revisits", at("/revisits"), expect(200, DESK)),
    # hotline feedback
    Case("GET", "/outbox", at("/outbox"), expect(200, DESK | {"integration"})),
    Case(
        "POST",
        "/outbox/{message_id}/retry",
        retry(own=True),
        expect(200, DESK | {"integration"}),
        "own message",
    ),
    Case(
        "POST",
        "/outbox/{message_id}/retry",
        retry(own=False),
        expect(200, DESK, integration=404),
        "another hotline's message",
    ),
    # whistles
    Case(
        "POST",
        "/whistles",
        lambda w, r: {
            "path": "/whistles",
            "json": {
                "township_code": "LI-VADUZ",
                "title": "吹哨",
                "departments": ["emergency"],
                "matter_code": w.housing_matter,
                "location": w.point(w.grid_mine),
            },
        },
        expect(201, DESK),
    ),
    Case("GET", "/whistles", at("/whistles"), expect(200, DESK | {"department"}), "department: its own"),
    Case("GET", "/whistles-counters", at("/whistles-counters"), expect(200, DESK)),
    Case("GET", "/whistles/scores", at("/whistles/scores"), expect(200, DESK)),
    Case("GET", "/whistles/board", at("/whistles/board"), expect(200, DESK)),
    # leaders' figures: scoped (a township leader its townships, a department its own)
    Case(
        "GET",
        "/reports/summary",
        at("/reports/summary", params={"from": "2026-11-01", "to": "2026-11-02"}),
        expect(200, DESK | LEADER | {"department"}),
    ),
    Case(
        "GET",
        "/reports/export.xlsx",
        at("/reports/export.xlsx", params={"from": "2026-11-01", "to": "2026-11-02"}),
        expect(200, DESK | LEADER | {"department"}),
    ),
    Case(
        "GET",
        "/whistles/{whistle_id}",
        lambda w, r: {"path": f"/whistles/{w.whistle()}"},
        expect(200, DESK | {"department"}),
        "summoning the department",
    ),
    Case(
        "GET",
        "/whistles/{whistle_id}",
        lambda w, r: {"path": f"/whistles/{w.whistle(departments=('emergency',))}"},
        expect(200, DESK, department=404),
        "not summoning it",
    ),
    Case(
        "POST",
        "/whistles/{whistle_id}/departments/{department}/ack",
        whistle_step("ack", DEPARTMENT),
        expect(200, DESK | {"department"}),
        "the department's own",
    ),
    Case(
        "POST",
        "/whistles/{whistle_id}/departments/{department}/ack",
        whistle_step("ack"),
        expect(200, DESK, department=404),
        "another department's",
    ),
    Case(
        "POST",
        "/whistles/{whistle_id}/departments/{department}/arrive",
        whistle_step("arrive", DEPARTMENT),
        expect(200, DESK | {"department"}),
        "the department's own",
    ),
    Case(
        "POST",
        "/whistles/{whistle_id}/departments/{department}/arrive",
        whistle_step("arrive"),
        expect(200, DESK, department=404),
        "another department's",
    ),
    # reports for leaders: scoped figures
    Case(
        "GET",
        "/reports/hotspots",
        at("/reports/hotspots", params={"from": "2026-11-02", "to": "2026-11-08", "res": 8}),
        expect(200, STAFF | LEADER),
    ),
    # the live pages: shells redirect to /login without a valid token, data are scoped
    Case(
        "GET",
        "/ops",
        at("/ops"),
        {**public(303), "admin": 200, "operator": 200},
        "desk page; others to /inbox or /login",
    ),
    Case(
        "GET",
        "/dashboard",
        at("/dashboard"),
        {**public(303), "admin": 200, "operator": 200, "leader": 200, "integration": 403},
        "desk and leaders; field accounts to /inbox, others to /login",
    ),
    Case(
        "GET",
        "/inspection-lists",
        at("/inspection-lists"),
        {**public(303), "admin": 200, "operator": 200, "leader": 200, "department": 200},
        "desk, departments, leaders; others to /inbox or /login",
    ),
    Case(
        "GET",
        "/inbox",
        at("/inbox"),
        {**public(303), **dict.fromkeys(STAFF | LEADER, 200), "integration": 403},
        "field page",
    ),
    Case("GET", "/static/{path}", at("/static/ops/ops.css"), public(200)),
    Case("GET", "/map/layers", at("/map/layers", params={"jurisdiction": "LI"}), expect(200, DESK)),
    Case("GET", "/live/stream", at("/live/stream", stream=True), expect(200, STAFF | LEADER)),
    Case("GET", "/live/events", at("/live/events"), expect(200, STAFF | LEADER)),
    Case("GET", "/live/squads", at("/live/squads"), expect(200, DESK)),
    Case("GET", "/live/counters", at("/live/counters"), expect(200, DESK)),
    Case("GET", "/live/coverage", at("/live/coverage"), expect(200, DESK)),
    # a street tile over Vaduz (the demo imports the base map); the hotline draws no map
    Case("GET", "/tiles/{z}/{x}/{y}.mvt", at("/tiles/15/17250/11506.mvt"), expect(200, STAFF | LEADER)),
    Case("GET", "/notices", at("/notices"), expect(200, ADMINS | FIELD | LEADER)),
    Case("GET", "/notices/secret", at("/notices/secret"), expect(200, ADMINS | FIELD | LEADER), "own"),
    Case(
        "GET",
        "/notices/secret",
        lambda w, r: {"path": "/notices/secret", "params": {"user": w.user()}},
        expect(200, ADMINS | FIELD | LEADER, **SCOPED_404, leader=404),
        "another user's",
    ),
    # 督办: the desk sees and answers all; a recipient (the unit, a leader) its own
    Case("GET", "/duban", at("/duban"), expect(200, DESK | FIELD | LEADER)),
    Case("GET", "/duban/levels", at("/duban/levels"), expect(200, DESK)),
    Case(
        "POST",
        "/duban/{duban_id}/reply",
        lambda w, r: {"path": f"/duban/{w.duban(r, mine=True)}/reply", "json": {"text": "已督促，今日办结"}},
        # the other field units are not its recipients: it does not exist for them
        expect(200, DESK | FIELD | LEADER, **dict.fromkeys(FIELD - {"squad"}, 404)),
        "addressed to the squad (level 1) and the township leader (level 2)",
    ),
    Case(
        "POST",
        "/duban/{duban_id}/reply",
        lambda w, r: {"path": f"/duban/{w.duban(r, mine=False)}/reply", "json": {"text": "已督促"}},
        expect(200, DESK | FIELD | LEADER, **dict.fromkeys(FIELD | LEADER, 404)),
        "addressed to others",
    ),
    Case("POST", "/events/{event_id}/attachments", photo_upload(mine=True), expect(201, STAFF), "in scope"),
    Case(
        "POST",
        "/events/{event_id}/attachments",
        photo_upload(mine=False),
        expect(201, STAFF, **SCOPED_404),
        "outside scope",
    ),
    Case(
        "GET",
        "/events/{event_id}/attachments",
        lambda w, r: {"path": f"/events/{w.photo(mine=True, role=r)[0]}/attachments"},
        expect(200, STAFF),
        "in scope",
    ),
    Case(
        "GET",
        "/events/{event_id}/attachments",
        lambda w, r: {"path": f"/events/{w.photo(mine=False)[0]}/attachments"},
        expect(200, STAFF, **SCOPED_404),
        "outside scope",
    ),
    Case(
        "GET",
        "/attachments/{attachment_id}",
        lambda w, r: {"path": f"/attachments/{w.photo(mine=True, role=r)[1]}"},
        expect(200, STAFF),
        "in scope",
    ),
    Case(
        "GET",
        "/attachments/{attachment_id}",
        lambda w, r: {"path": f"/attachments/{w.photo(mine=False)[1]}"},
        expect(200, STAFF, **SCOPED_404),
        "outside scope",
    ),
]


@pytest.fixture(scope="module")
def world(settings: Settings, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Points are random, so 并单 (duplicate linking) is narrowed to identical points: cells
    # stay independent, and the one case that wants a duplicate makes it on purpose.
    app_settings = settings.model_copy(
        update={"duplicate_radius_m": 0.01, "attachments_dir": tmp_path_factory.mktemp("photos")}
    )
    name = f"hotline-acc-{uuid.uuid4().hex[:6]}"
    secret = in_thread(save_integration, database_url, name=name, callback_url=None)["secret"]
    demo_secret = sql(database_url, "SELECT secret FROM integrations WHERE name = 'hotline-demo'")[0][
        "secret"
    ]
    grid_mine = sql(
        database_url,
        "SELECT code FROM current_grids WHERE layer = 'community' "
        "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
        *VADUZ,
    )
    grid_other = sql(
        database_url,
        "SELECT code FROM current_grids WHERE layer = 'community' "
        "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
        *ESCHEN,
    )
    codes = (grid_mine[0]["code"], grid_other[0]["code"])
    points = {
        code: [
            (r["lng"], r["lat"])
            for r in sql(
                database_url,
                "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump("
                "ST_GeneratePoints(geom, 400))).geom AS p FROM current_grids WHERE layer = "
                "'community' AND code = $1) s",
                code,
            )
        ]
        for code in codes
    }
    matter = sql(
        database_url,
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' AND NOT auto_dispatch ORDER BY code "
        "LIMIT 1",
    )[0]["code"]
    housing = sql(
        database_url,
        "SELECT code FROM matters WHERE owner_department = 'housing' "
        "AND kind = 'event' AND NOT auto_dispatch ORDER BY code LIMIT 1",
    )[0]["code"]
    township = f"ACC-TWN-{uuid.uuid4().hex[:6]}"
    in_thread(
        jurisdictions.upsert,
        database_url,
        code=township,
        name=township,
        level="township",
        boundary=None,
        timezone="Asia/Shanghai",
        source="tests",
    )
    with TestClient(create_app(app_settings)) as client:
        w = World(
            client=client,
            database_url=database_url,
            tokens={"admin": issue_token(database_url, "admin")},
            integration=name,
            secret=secret,
            demo_secret=demo_secret,
            grid_mine=codes[0],
            grid_other=codes[1],
            squad_mine=0,
            squad_other=0,
            matter=matter,
            housing_matter=housing,
            township=township,
            points=points,
            app_factory=lambda: create_app(app_settings),
        )
        w.squad_mine, w.squad_other = w.squad(), w.squad()
        squad_code = w.admin("GET", f"/squads/{w.squad_mine}")["code"]
        leader_name = f"acc-leader-{uuid.uuid4().hex[:6]}"
        w.tokens.update(
            operator=issue_token(database_url, "operator"),
            grid_head=issue_token(database_url, "grid_head", grid_codes=[codes[0]]),
            squad=issue_token(database_url, "squad", squad_code=squad_code),
            integration=issue_token(database_url, "integration", integration=name),
            leader=issue_token(database_url, "leader", name=leader_name),
            department=issue_token(database_url, "department", department_code=DEPARTMENT),
            revoked=issue_token(database_url, "admin"),
        )
        # the leader answers for the township of the "mine" events (Vaduz)
        vaduz_town = sql(
            database_url,
            "SELECT code FROM current_grids WHERE layer = 'enforcement' "
            "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
            *VADUZ,
        )[0]["code"]
        in_thread(set_leader, database_url, name=leader_name, reach="township", township_codes=[vaduz_town])
        assert in_thread(auth.revoke_token, database_url, token=w.tokens["revoked"])
        try:
            yield w
        finally:
            for squad_id in w.created_squads:
                client.delete(f"/squads/{squad_id}", headers=w.headers("admin"))
            if w.server is not None:
                w.server.__exit__()


def test_every_route_has_cases_and_a_rule() -> None:
    """A route the matrix does not cover, or without a policy rule, fails here."""
    app = create_app(Settings(database_url="postgresql://unused/unused"))
    served = set(app_routes(app))
    covered = {(case.method, case.route) for case in CASES}
    assert served - covered == set(), "routes without access cases"
    assert covered - served == set(), "cases for routes the app does not serve"
    assert served - set(RULES) - DOCS_ROUTES == set(), "routes without a policy rule"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_access(world: World, case: Case, role: str) -> None:
    request = dict(case.build(world, role))
    path = request.pop("path")
    if request.pop("stream", False):
        status = world.stream_status(role, path)
        assert status == case.expected[role], f"{role} {case.id}: {status}"
        return
    response = world.call(role, case.method, path, **request)
    assert response.status_code == case.expected[role], (
        f"{role} {case.id}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code in (401, 403, 404) and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        assert response.json()["error"]  # a JSON error body, never an HTML 500 page
    if response.status_code == 201 and case.route == "/squads":
        world.created_squads.append(response.json()["id"])
