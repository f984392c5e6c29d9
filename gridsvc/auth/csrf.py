"""Where a browser request came from: the check that keeps other pages from posting with
the login cookie (CSRF) or logging a browser in to another account (login CSRF).

SameSite=Strict alone is not enough (D8): a page on another *port* of the same host is the
same *site*, so the browser sends the cookie along with its form post. Browsers say where a
request comes from in ``Sec-Fetch-Site`` (Chrome 76+, Firefox 90+, Safari 16.4+) and
``Origin`` (every POST/PUT/PATCH/DELETE), else ``Referer``; pages cannot forge them. A state
change with the cookie is accepted only from this server's own origin (the ``Host`` it was
asked for) or one listed in ``GRIDSVC_TRUSTED_ORIGINS``. Requests with
``Authorization: Bearer`` carry no ambient credential and are not checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from gridsvc.errors import APIError

__all__ = ["SAFE_METHODS", "check_origin", "cross_site_reason"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin or URL; None for ``null`` or garbage."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def _same_host(origin: tuple[str, str, int], host_header: str) -> bool:
    """Whether ``origin`` is the server the browser addressed (its ``Host`` header).

    The scheme is not compared: behind a TLS-terminating proxy the app sees http while the
    page is https; one host and port never serves both.
    """
    parsed = _origin_of(f"http://{host_header}")
    if parsed is None:
        return False
    _, host, port = parsed
    explicit = ":" in host_header.rsplit("]", 1)[-1]
    if explicit:
        return origin[1] == host and origin[2] == port
    return origin[1] == host and origin[2] == _DEFAULT_PORTS[origin[0]]


def _trusted(origin: tuple[str, str, int], trusted_setting: str) -> bool:
    listed = (_origin_of(item) for item in trusted_setting.split(",") if item.strip())
    return origin in {o for o in listed if o is not None}


def cross_site_reason(
    connection: HTTPConnection, *, trusted: str = "", require_evidence: bool = True
) -> str | None:
    """Why this request must be treated as coming from another site, or None if it comes
    from this server's own pages (or a trusted origin).

    ``require_evidence``: a request that names no origin at all (no ``Sec-Fetch-Site``,
    ``Origin`` nor ``Referer``) is refused too; every current browser names one on a state
    change, so only a non-browser client would send the cookie without them, and such a
    client can use a bearer token.
    """
    headers = connection.headers
    host = headers.get("host", "")
    fetch_site = headers.get("sec-fetch-site", "").lower()
    origin_header = headers.get("origin")
    referer = headers.get("referer")
    claimed = origin_header if origin_header is not None else referer
    origin = _origin_of(claimed) if claimed else None
    if fetch_site in ("same-origin", "none"):  # "none": typed or bookmarked by the user
        return None
    if origin is not None and _trusted(origin, trusted):
        return None
    if fetch_site in ("same-site", "cross-site"):
        return f"the browser reports a {fetch_site} request (from {claimed or 'an unnamed page'})"
    if claimed is not None:
        if origin is not None and _same_host(origin, host):
            return None
        return f"it comes from {claimed!r}, not from this server ({host})"
    if require_evidence:
        return "it names no origin (no Origin, Referer or Sec-Fetch-Site header)"
    return None


def check_origin(connection: HTTPConnection, *, what: str, require_evidence: bool = True) -> None:
    """Refuse (403 ``cross_site_request``) a request :func:`cross_site_reason` objects to."""
    trusted = connection.app.state.settings.trusted_origins
    reason = cross_site_reason(connection, trusted=trusted, require_evidence=require_evidence)
    if reason is not None:
        raise APIError(
            403,
            "cross_site_request",
            f"{what} refused: {reason}. Pages of another origin must be listed in "
            "GRIDSVC_TRUSTED_ORIGINS; scripts send Authorization: Bearer <token>.",
        )
