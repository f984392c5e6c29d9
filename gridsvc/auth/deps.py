"""FastAPI dependencies: who is calling (:func:`principal`) and whether they may (:func:`require`,
:func:`authorise`).

The token comes from ``Authorization: Bearer <token>``, else from the ``gridsvc_token``
cookie that ``POST /login`` sets for the pages; a state change (POST, PUT, PATCH, DELETE)
with the cookie must come from this server's own pages (:mod:`gridsvc.auth.csrf`).
Lookups are cached in-process for
:data:`gridsvc.auth.service.TOKEN_CACHE_SECONDS` (5 s): a revoked token or a disabled
account is refused within 5 s in every process, at once in the process that revoked it.

Every route of the app passes :func:`authorise` (installed in :func:`gridsvc.app.create_app`),
which applies the rule of :mod:`gridsvc.auth.policy` for the route. It leaves
``request.state.principal`` and ``request.state.actor`` (``"<role>:<name>"``, what the audit
trail records) for the handlers.

``GRIDSVC_AUTH_ENABLED=false`` opens everything, for local experiments only: every caller is
an admin and the audit trail names the ``X-Actor`` header (or ``operator``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection

from gridsvc.auth import policy, service
from gridsvc.auth.csrf import SAFE_METHODS, check_origin
from gridsvc.auth.models import ROLES, Principal
from gridsvc.errors import APIError

__all__ = [
    "TOKEN_COOKIE",
    "Principal",
    "authorise",
    "current",
    "principal",
    "principal_or_none",
    "require",
    "token_of",
]

log = logging.getLogger("gridsvc.auth")

TOKEN_COOKIE = "gridsvc_token"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gridsvc"'}


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def token_of(connection: HTTPConnection) -> str | None:
    """The bearer token of the request, else the login cookie's."""
    return _bearer(connection) or connection.cookies.get(TOKEN_COOKIE) or None


def _open_principal(connection: HTTPConnection) -> Principal:
    # Auth switched off: everyone is an admin; actor_of() keeps reading X-Actor.
    return Principal(user_id=0, name=connection.headers.get("x-actor", "operator"), role=policy.ADMIN)


async def principal_or_none(connection: HTTPConnection) -> Principal | None:
    """The caller, or None without a valid token (for pages that redirect to /login)."""
    known: Principal | None = getattr(connection.state, "principal", None)
    if known is not None:
        return known
    changes = connection.scope["type"] == "http" and connection.scope["method"] not in SAFE_METHODS
    if not connection.app.state.settings.auth_enabled:
        if changes:  # everything is open: still no state change from another site's page
            check_origin(
                connection, what=f"{connection.scope['method']} from a browser", require_evidence=False
            )
        connection.state.principal = _open_principal(connection)
        return connection.state.principal
    token = token_of(connection)
    if token is None:
        return None
    if changes and not _bearer(connection):
        # the cookie rides along with any request the browser makes: check who asked (D8)
        check_origin(connection, what=f"{connection.scope['method']} with the login cookie")
    found = await service.principal_for_token(connection.app.state.pool, token)
    if found is not None:
        connection.state.principal = found
        connection.state.actor = found.actor
    return found


async def principal(connection: HTTPConnection) -> Principal:
    """The caller; 401 without a token, or with an unknown or revoked one."""
    found = await principal_or_none(connection)
    if found is not None:
        return found
    if token_of(connection) is None:
        raise APIError(
            401,
            "unauthenticated",
            "a token is needed: Authorization: Bearer <token> (or log in at /login)",
            headers=_CHALLENGE,
        )
    raise APIError(
        401,
        "invalid_token",
        "the token is unknown or revoked, or its account is disabled",
        headers=_CHALLENGE,
    )


def _forbidden(who: Principal, method: str, path: str) -> APIError:
    return APIError(403, "forbidden", f"role {who.role} may not {method} {path}")


def require(*roles: str) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency admitting only ``roles`` (403 for the others, 401 without a token)::

        @router.get("/inbox", dependencies=[Depends(require("grid_head", "squad"))])

    The route still needs its row in :data:`gridsvc.auth.policy.RULES`.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; roles: {', '.join(ROLES)}")
    allowed = frozenset(roles)

    async def dependency(connection: HTTPConnection) -> Principal:
        who = await principal(connection)
        if who.role not in allowed:
            method, path = _route_of(connection)
            raise _forbidden(who, method, path)
        return who

    return dependency


def _route_of(connection: HTTPConnection) -> tuple[str, str]:
    """(method, path template) of the matched route, e.g. ("GET", "/events/{event_id}")."""
    route = connection.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    method = "WS" if connection.scope["type"] == "websocket" else connection.scope["method"]
    return method, path or connection.url.path


async def authorise(connection: HTTPConnection) -> Principal | None:
    """The app-wide check: the route's rule from :mod:`gridsvc.auth.policy`.

    No rule: 403 for everyone. Public rule: no token needed (None). Otherwise the caller's
    role must be listed (401 without a valid token, 403 for another role).
    """
    method, path = _route_of(connection)
    rule = policy.rule_for(method, path)
    if rule is None:
        log.error("no access rule for %s %s: refused; add one to gridsvc/auth/policy.py", method, path)
        raise APIError(403, "forbidden", f"no access rule for {method} {path}")
    roles = rule.roles
    if path == "/metrics" and not connection.app.state.settings.metrics_public:
        roles = policy.DESK
    if roles is None:
        return None
    who = await principal(connection)
    if who.role not in roles:
        raise _forbidden(who, method, path)
    return who


def current(connection: HTTPConnection) -> Principal:
    """The principal :func:`authorise` found (handlers of non-public routes)."""
    found: Principal | None = getattr(connection.state, "principal", None)
    if found is None:  # a handler of a public route asked: a programming error
        raise APIError(401, "unauthenticated", "a token is needed", headers=_CHALLENGE)
    return found
