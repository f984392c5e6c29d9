"""Accounts and bearer tokens: create, issue, revoke, and resolve a token to a principal.

Tokens are ``gs_`` + 43 url-safe characters (256 random bits), shown once when issued; only
their SHA-256 is stored. Resolving a token is cached in-process for
:data:`TOKEN_CACHE_SECONDS` so that intake does not pay a database round trip per request:
a revocation or a disabled account therefore takes effect within that many seconds in every
process (at once in the process that made the change).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg
from cachetools import LRUCache

from gridsvc.auth import queries
from gridsvc.auth.models import ROLES, Principal
from gridsvc.clock import SYSTEM, Clock

log = logging.getLogger("gridsvc.auth")

TOKEN_PREFIX = "gs_"
PREFIX_LENGTH = 8  # "gs_" + 5 random characters: enough to tell tokens apart in a list
TOKEN_CACHE_SECONDS = 5.0
LAST_USED_RESOLUTION_S = 60.0  # last_used_at is written at most once a minute per token
_CACHE_LIMIT = 10_000

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class UserError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class UserNotFound(LookupError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# -- accounts ----------------------------------------------------------------------------


async def create_user(
    connection: Connection,
    *,
    name: str,
    role: str,
    grid_codes: tuple[str, ...] | list[str] = (),
    squad_code: str | None = None,
    integration: str | None = None,
    webhook_url: str | None = None,
    display_name: str | None = None,
    department_code: str | None = None,
    station_codes: tuple[str, ...] | list[str] = (),
    township_codes: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Create an account. Its scope must fit its role: a grid head names community grids that
    exist, a squad account its squad, an integration account its integration, a department
    account its department (optionally limited to some of its stations, i.e. grids of layer
    ``specialist:<department>``, and/or townships, i.e. enforcement grids); other roles take
    no scope. Raises :class:`UserError` (and asyncpg's UniqueViolationError for a name that is
    taken)."""
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    codes = sorted(set(grid_codes))
    stations, townships = sorted(set(station_codes)), sorted(set(township_codes))
    given = {
        "grid codes": bool(codes),
        "squad": squad_code is not None,
        "integration": integration is not None,
        "department": department_code is not None,
        "stations": bool(stations),
        "townships": bool(townships),
    }
    needed = {
        "grid_head": "grid codes",
        "squad": "squad",
        "integration": "integration",
        "department": "department",
    }.get(role)
    optional = {"stations", "townships"} if role == "department" else set()
    extra = [option for option, present in given.items() if present and option != needed]
    extra = [option for option in extra if option not in optional]
    if extra:
        raise UserError(f"role {role} takes no {', '.join(extra)}")
    if needed is not None and not given[needed]:
        raise UserError(f"role {role} needs {needed}")
    if webhook_url is not None and urlsplit(webhook_url).scheme not in {"http", "https"}:
        raise UserError(f"webhook_url {webhook_url!r}: an http or https URL")
    squad_id = integration_id = None
    if codes:
        unknown = [r["code"] for r in await connection.fetch(queries.UNKNOWN_COMMUNITY_GRIDS, codes)]
        if unknown:
            raise UserError(f"not a current community grid: {', '.join(unknown)}")
    if squad_code is not None:
        squad_id = await connection.fetchval(queries.SQUAD_BY_CODE, squad_code)
        if squad_id is None:
            raise UserError(f"no squad with code {squad_code!r}")
    if integration is not None:
        integration_id = await connection.fetchval(queries.INTEGRATION_BY_NAME, integration)
        if integration_id is None:
            raise UserError(f"no integration named {integration!r}")
    if department_code is not None:
        await _check_department_scope(connection, department_code, stations, townships)
    await connection.fetchval(
        queries.INSERT_USER,
        name,
        role,
        codes,
        squad_id,
        integration_id,
        webhook_url,
        display_name,
        department_code,
        stations,
        townships,
    )
    user = await get_user(connection, name=name)
    assert user is not None
    return user


async def _check_department_scope(
    connection: Connection, department: str, stations: list[str], townships: list[str]
) -> None:
    """The department exists; its stations are current grids of its specialist layer and its
    townships current enforcement grids."""
    if not await connection.fetchval(queries.DEPARTMENT_EXISTS, department):
        raise UserError(f"no department {department!r} (see GET /departments)")
    layer = f"specialist:{department}"
    unknown = [r["code"] for r in await connection.fetch(queries.UNKNOWN_GRIDS, stations, layer)]
    if unknown:
        raise UserError(f"not a current grid of layer {layer} (a station's area): {', '.join(unknown)}")
    unknown = [r["code"] for r in await connection.fetch(queries.UNKNOWN_GRIDS, townships, "enforcement")]
    if unknown:
        raise UserError(f"not a current enforcement grid (a township): {', '.join(unknown)}")


async def get_user(connection: Connection, *, name: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(queries.USER_BY_NAME, name)
    if row is None:
        return None
    return (await _with_tokens(connection, [dict(row)]))[0]


async def list_users(connection: Connection) -> list[dict[str, Any]]:
    return await _with_tokens(connection, [dict(r) for r in await connection.fetch(queries.LIST_USERS)])


async def _with_tokens(connection: Connection, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tokens: dict[int, list[dict[str, Any]]] = {}
    for row in await connection.fetch(queries.TOKENS_OF_USERS, [u["id"] for u in users]):
        data = dict(row)
        tokens.setdefault(data.pop("user_id"), []).append(data)
    for user in users:
        user["grid_codes"] = list(user["grid_codes"] or [])
        user["station_codes"] = list(user["station_codes"] or [])
        user["township_codes"] = list(user["township_codes"] or [])
        user["tokens"] = tokens.get(user["id"], [])
    return users


async def set_disabled(connection: Connection, *, name: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account: all its tokens stop (within the cache time)."""
    if await connection.fetchval(queries.SET_DISABLED, name, disabled) is None:
        raise UserNotFound(f"no user named {name!r}")
    forget_cached()


# -- tokens ------------------------------------------------------------------------------


async def issue_token(connection: Connection, *, user_name: str, label: str | None = None) -> str:
    """A new token for the account (returned once; only its hash is stored)."""
    return (await issue_token_row(connection, user_name=user_name, label=label))["token"]


async def issue_token_row(
    connection: Connection, *, user_name: str, label: str | None = None
) -> dict[str, Any]:
    """:func:`issue_token` with the stored row: ``{id, user, token, token_prefix, label}``."""
    user = await connection.fetchrow(queries.USER_BY_NAME, user_name)
    if user is None:
        raise UserNotFound(f"no user named {user_name!r}")
    token = new_token()
    row = await connection.fetchrow(
        queries.INSERT_TOKEN, user["id"], hash_token(token), token[:PREFIX_LENGTH], label
    )
    return {
        "id": row["id"],
        "user": user_name,
        "token": token,
        "token_prefix": row["token_prefix"],
        "label": row["label"],
    }


async def revoke_token(connection: Connection, *, token: int | str) -> dict[str, Any] | None:
    """Revoke a token by its id, or by the start of the token (its prefix as listed, or the
    whole token). Revoking twice keeps the first time. None when no such token; a prefix
    that fits several live tokens is refused (:class:`UserError`)."""
    if isinstance(token, int) or token.isdigit():
        token_id = int(token)
    else:
        matches = await connection.fetch(queries.TOKENS_BY_PREFIX, token[:PREFIX_LENGTH])
        if len(token) > PREFIX_LENGTH:  # a whole token: its hash says which one
            row = await connection.fetchrow(
                "SELECT id FROM api_tokens WHERE token_hash = $1", hash_token(token)
            )
            matches = [m for m in matches if row is not None and m["id"] == row["id"]]
        if not matches:
            return None
        if len(matches) > 1:
            listed = ", ".join(f"{m['id']} ({m['user']})" for m in matches)
            raise UserError(f"{token!r} fits several live tokens: {listed}; give the id")
        token_id = matches[0]["id"]
    row = await connection.fetchrow(queries.REVOKE_TOKEN, token_id)
    forget_cached()
    return dict(row) if row else None


# -- resolving a token -------------------------------------------------------------------

# Bounded by least-recent use, so a flood of random tokens cannot grow it; entries carry
# their own expiry because the clock that ages them is given per call (tests freeze it).
_cache: LRUCache[str, tuple[float, Principal | None]] = LRUCache(maxsize=_CACHE_LIMIT)


def forget_cached() -> None:
    """Drop every cached token lookup (after a revocation or a disabled account)."""
    _cache.clear()


async def principal_for_token(
    connection: Connection, token: str, *, clock: Clock = SYSTEM
) -> Principal | None:
    """The account behind ``token``, or None when the token is unknown or revoked, the
    account disabled, or its scope gone (a squad or integration account whose squad or
    integration was deleted, or an inactive integration).

    Answers (also "no") are cached for :data:`TOKEN_CACHE_SECONDS`; ``last_used_at`` is
    written at most once a minute. ``clock``: whose monotonic seconds age the cache (tests
    advance a FrozenClock instead of waiting).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None  # not one of ours: no need to ask the database
    digest = hash_token(token)
    now = clock.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = await connection.fetchrow(queries.PRINCIPAL_BY_TOKEN, digest, LAST_USED_RESOLUTION_S)
    principal = _principal(row) if row is not None else None
    _cache[digest] = (now + TOKEN_CACHE_SECONDS, principal)
    return principal


def _principal(row: asyncpg.Record) -> Principal | None:
    if row["revoked_at"] is not None or row["disabled"]:
        return None
    role = row["role"]
    if role == "squad" and row["squad_id"] is None:
        log.warning("account %s: squad role without a squad (deleted?); refused", row["name"])
        return None
    if role == "integration" and (row["integration_id"] is None or not row["integration_active"]):
        log.warning("account %s: integration missing or inactive; refused", row["name"])
        return None
    if role == "department" and row["department_code"] is None:
        log.warning("account %s: department role without a department (deleted?); refused", row["name"])
        return None
    return Principal(
        user_id=row["user_id"],
        name=row["name"],
        role=role,
        grid_codes=tuple(row["grid_codes"] or ()),
        squad_id=row["squad_id"],
        integration=row["integration"],
        webhook_url=row["webhook_url"],
        integration_id=row["integration_id"],
        display_name=row["display_name"],
        token_id=row["token_id"],
        department_code=row["department_code"],
        station_codes=tuple(row["station_codes"] or ()),
        township_codes=tuple(row["township_codes"] or ()),
    )
