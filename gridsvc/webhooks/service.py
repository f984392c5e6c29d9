"""Hotline integrations: their secrets and callback URLs."""

from __future__ import annotations

from typing import Any

import asyncpg

from gridsvc.webhooks.signing import new_secret

_BY_NAME = "SELECT id, name, secret, callback_url, active FROM integrations WHERE name = $1"
_UPSERT = """
INSERT INTO integrations (name, secret, callback_url) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET callback_url = EXCLUDED.callback_url,
    secret = CASE WHEN $4 THEN EXCLUDED.secret ELSE integrations.secret END, active = true
RETURNING id, name, secret, callback_url, active
"""
_LIST = "SELECT id, name, callback_url, active, created_at FROM integrations ORDER BY name"
_DEACTIVATE = "UPDATE integrations SET active = false WHERE name = $1 RETURNING id"


async def integration_by_name(
    connection: asyncpg.Connection | asyncpg.Pool, *, name: str
) -> dict[str, Any] | None:
    row = await connection.fetchrow(_BY_NAME, name)
    return dict(row) if row else None


async def save_integration(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    name: str,
    callback_url: str | None,
    secret: str | None = None,
    rotate_secret: bool = False,
) -> dict[str, Any]:
    """Create an integration (new secret) or update its callback URL (secret kept unless
    ``rotate_secret``)."""
    row = await connection.fetchrow(
        _UPSERT, name, secret or new_secret(), callback_url, rotate_secret or secret is not None
    )
    return dict(row)


async def list_integrations(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(_LIST)]


async def deactivate(connection: asyncpg.Connection | asyncpg.Pool, *, name: str) -> bool:
    return await connection.fetchval(_DEACTIVATE, name) is not None
