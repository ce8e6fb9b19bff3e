"""Which database errors are the database's doing, not the SQL's that met them.

A plugin's SQL may fail because it is wrong (the plugin's fault: exit status 5) or because the
database failed under it: a lock another program holds, a deadlock with another session, a
full disk, a server shutting down (exit status 6, and never blamed on the plugin). Some of the
latter pass (a deadlock, a lock wait): the loop tries such a batch again.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["database_fault", "transient_fault"]

# SQLSTATE classes of failures that come from the server or other sessions, never from the SQL
# sent: transaction rollback (deadlock, serialization), insufficient resources, object not in
# prerequisite state (lock not available), operator intervention, system error, connection.
_SERVER_CLASSES = ("40", "53", "55", "57", "58", "08", "XX")
_TRANSIENT_STATES = ("40001", "40P01", "55P03")  # serialization, deadlock, lock not available
# SQLite reports bad SQL and a sick database alike as OperationalError; these are the latter.
_SQLITE_FAULTS = ("database is locked", "database table is locked", "disk i/o error",
                  "database or disk is full", "readonly database", "malformed",
                  "file is not a database", "unable to open")
_SQLITE_TRANSIENT = ("database is locked", "database table is locked")


def _state(exc: sa.exc.DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state if isinstance(state, str) and state else None


def database_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's (or another session's) failure rather than a fault of
    the SQL that met it."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    state = _state(exc)
    if state is not None:
        return state[:2] in _SERVER_CLASSES
    message = str(exc.orig).lower()
    return any(m in message for m in _SQLITE_FAULTS)


def transient_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a database fault that passes by itself (a deadlock, a lock wait)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    state = _state(exc)
    if state is not None:
        return state in _TRANSIENT_STATES
    message = str(exc.orig).lower()
    return any(m in message for m in _SQLITE_TRANSIENT)
