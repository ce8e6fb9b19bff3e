"""Business-event log lines: one JSON object per event a plugin names, written once the batch
that indexed it has committed (never for a batch rolled back), on the ``dcmx.events`` logger.

Off unless the setting ``event_log`` is ``on`` (``setup_logging(events=True)``): while off,
:func:`record` returns at its first line. The lines are JSON whatever ``--log-format`` says,
in the format of :class:`dcmx_core.logs.JsonFormatter`, with ``final`` telling whether the
event's block could still be replaced by a fork (the fork's own warning says what was undone).
Which events and which fields is the application's choice: a plugin calls :func:`record`
from ``dcmx_handle_batch``.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LOGGER", "enabled", "record"]

LOGGER = "dcmx.events"
log = logging.getLogger(LOGGER)
log.setLevel(logging.CRITICAL + 1)  # off by default, also for a library user's root logger
log.propagate = False

# Lines waiting for the commit of their connection's transaction.
_pending: weakref.WeakKeyDictionary[Connection, list[tuple[str, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)
_listening: weakref.WeakSet[Connection] = weakref.WeakSet()


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


def record(conn: Connection, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` once the transaction on ``conn`` commits."""
    if not enabled():
        return
    if conn not in _listening:  # once per connection, however many transactions it runs
        _listening.add(conn)
        sa.event.listen(conn, "commit", _flush)
        sa.event.listen(conn, "rollback", _drop)
    _pending.setdefault(conn, []).append((event, fields))


def _flush(conn: Connection) -> None:
    for event, fields in _pending.pop(conn, ()):
        log.info(event, extra={"event": event, **fields})


def _drop(conn: Connection) -> None:
    _pending.pop(conn, None)
