"""Who acts in a request, as the audit trail records it."""

from __future__ import annotations

from starlette.requests import Request


def actor_of(request: Request) -> str:
    """Set by the auth layer when present (the account name), else the X-Actor header."""
    return getattr(request.state, "actor", None) or request.headers.get("x-actor", "operator")
