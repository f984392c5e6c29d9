"""The one translator of database-driver failures into "the database is unavailable".

During an outage (a restart, a crash, a full connection table) the failure reaches a route in
many forms: a refused TCP connection while the pool reconnects, PostgreSQL's "the database
system is starting up / shutting down" (SQLSTATE 57P0x), "too many connections" (53300), a
connection lost in the middle of a query, a closed pool connection, a timeout acquiring one.
All of them mean the same to a caller: try again in a few seconds (503 + Retry-After).
Anything else (a constraint violation, a bad value, a programming error) is not translated.
"""

from __future__ import annotations

import errno
from types import TracebackType

import asyncpg

# Seconds a caller is told to wait before trying again (the Retry-After header).
RETRY_AFTER_S = 5

# SQLSTATEs that mean "the server cannot serve you now", whatever the query:
# class 08 (connection exception), 53300 too_many_connections, 57P01 admin_shutdown,
# 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, recovery).
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOTCONN,
    }
)

# The exception classes an outage can surface as; :func:`is_unavailable` decides per instance.
CANDIDATES: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.InterfaceError,
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError...
)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or cannot serve right now."""
    if isinstance(error, asyncpg.PostgresError):
        state = getattr(error, "sqlstate", None) or ""
        return state.startswith("08") or state in _UNAVAILABLE_STATES
    if isinstance(error, asyncpg.exceptions.ConnectionDoesNotExistError):
        return True  # "connection was closed in the middle of operation"
    if isinstance(error, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing": not "another operation is in progress"
        # (a programming error, which must stay a 500).
        text = str(error)
        return "closed" in text or "closing" in text
    if isinstance(error, OSError):
        # Only network failures raised inside the driver: a full disk or a missing file
        # elsewhere is not a database outage.
        network = (
            isinstance(error, ConnectionError | TimeoutError)
            or error.errno in _NETWORK_ERRNOS
            or str(error).startswith("Multiple exceptions")
        )
        return network and _raised_by_driver(error.__traceback__)
    return False


def _raised_by_driver(trace: TracebackType | None) -> bool:
    while trace is not None:
        module = trace.tb_frame.f_globals.get("__name__", "")
        if module == "asyncpg" or module.startswith("asyncpg."):
            return True
        trace = trace.tb_next
    return False
