"""HMAC-SHA256 signatures of webhook and callback bodies.

The signature covers ``f"{timestamp}.".encode() + raw_body`` with the integration's secret and
travels as ``X-Signature: sha256=<hex>`` beside ``X-Timestamp: <unix seconds>``; the
timestamp binds the body to a moment, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(
    secret: str, body: bytes, *, integration: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for a signed request (used by the replay tool, callbacks and tests)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "X-Timestamp": str(stamp),
        "X-Signature": sign(secret, stamp, body),
        "Content-Type": "application/json",
    }
    if integration is not None:
        headers["X-Integration"] = integration
    return headers


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip())


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    *,
    secret: str,
    payload: Any,
    idempotency_key: str,
    headers: dict[str, str] | None = None,
) -> str | None:
    """POST ``payload`` as signed JSON; None when the receiver acknowledged (2xx), else why not."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    all_headers = {**signed_headers(secret, body), "Idempotency-Key": idempotency_key, **(headers or {})}
    try:
        response = await client.post(url, content=body, headers=all_headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"
