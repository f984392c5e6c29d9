"""HTTP serving that idle or slow clients cannot take down (D10).

A process may hold as many open files as its ``RLIMIT_NOFILE`` soft limit (often 1,024), and
every accepted connection is one. Left alone, about a thousand idle sockets (a port scan, a
load balancer's pre-opened connections, a slow-loris client) use them all: ``accept()`` fails,
the database pool cannot reconnect and ``/health`` and the webhook stop answering. So:

* at start the soft limit is raised to the hard limit (:func:`raise_file_limit`);
* at most ``http_max_connections`` connections are kept (default: the file limit minus a
  reserve for the database pool, log files and the like). When a new one comes in over it,
  the oldest *idle* connections (no request in flight) are closed to make room; when every
  connection is busy, uvicorn answers 503 (``limit_concurrency``) and past a small margin a
  new connection is closed at once;
* a client must finish a request's headers within ``http_header_timeout_s`` of connecting (or
  of its previous response); a connection that sends nothing or dribbles bytes is closed.
  uvicorn itself only times out *between* requests (``timeout_keep_alive``), and any byte
  received cancels that timer.

The protocol class is named to uvicorn by import string (``PROTOCOL``), so every worker process
builds its own, with the limits read from its own settings.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gridsvc.settings import Settings, get_settings

log = logging.getLogger("gridsvc.serving")

PROTOCOL = "gridsvc.serving:GuardedHttpProtocol"
# Connections over the cap that are tolerated before a new one is refused outright: the
# closes just made take effect at the next turn of the event loop.
SPARE = 8
# Linux refuses a soft limit above fs.nr_open (1,048,576 by default) even when the hard
# limit is "unlimited".
NR_OPEN_DEFAULT = 1_048_576


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; returns the (soft, hard) in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NR_OPEN_DEFAULT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning("cannot raise the open-file limit from %s to %s: %s", soft, target, error)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def file_reserve(soft_limit: int) -> int:
    """Files kept free for everything but client connections (pool, logs, libraries)."""
    return max(64, soft_limit // 8)


def connection_cap(settings: Settings, soft_limit: int | None = None) -> int:
    """How many client connections one process keeps open at most."""
    if settings.http_max_connections is not None:
        return settings.http_max_connections
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit == resource.RLIM_INFINITY:
        soft_limit = NR_OPEN_DEFAULT
    return max(16, soft_limit - file_reserve(soft_limit))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
    return {
        "http": PROTOCOL,
        # uvicorn counts open connections and running requests against it: past the cap
        # (every connection busy, none idle to close) a request gets a quick 503.
        "limit_concurrency": connection_cap(settings),
        "timeout_keep_alive": max(1, round(settings.http_keep_alive_s)),
    }


@cache
def _limits() -> tuple[int, float]:
    settings = get_settings()
    return connection_cap(settings), settings.http_header_timeout_s


def _idle(connection: Any) -> bool:
    cycle = getattr(connection, "cycle", None)
    return cycle is None or bool(cycle.response_complete)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and idle-first connection shedding."""

    _header_timer: asyncio.TimerHandle | None = None
    _opened_at = 0.0
    _last_shed_warning = -1e9

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened_at = self.loop.time()
        self._arm_header_timer()
        self._keep_within_cap()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not _idle(self):  # a request's headers are complete: its deadline is met
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and _idle(self):
            self._arm_header_timer()  # the next request's headers are due in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    # -- the header deadline ----------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(_limits()[1], self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if _idle(self) and not self.transport.is_closing():
            self.transport.close()

    # -- the connection cap -----------------------------------------------------------

    def _keep_within_cap(self) -> None:
        cap = _limits()[0]
        live = [c for c in self.connections if not c.transport.is_closing()]
        excess = len(live) - (cap - SPARE)
        if excess <= 0:
            return
        idle = sorted(
            (c for c in live if c is not self and _idle(c)), key=lambda c: getattr(c, "_opened_at", 0.0)
        )
        for connection in idle[:excess]:
            connection.transport.close()
        shed = min(excess, len(idle))
        now = self.loop.time()
        if now - GuardedHttpProtocol._last_shed_warning > 60:  # one line a minute at most
            GuardedHttpProtocol._last_shed_warning = now
            log.warning("%s client connections open (cap %s): closed %s idle ones", len(live), cap, shed)
        if len(live) - shed > cap + SPARE:
            self.transport.close()  # every connection busy: no room for this one
