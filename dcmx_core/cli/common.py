"""What several commands share: opening an indexed database, counting rows, stopping on signals.

These are public for the commands other packages add (``dcmx.commands`` entry points).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import ConfigError, StoreError
from ..redaction import redact_url

__all__ = [
    "Interrupted",
    "Stopping",
    "counts",
    "open_existing",
    "sqlite_path",
    "stop_on_signals",
    "tracked",
]

log = logging.getLogger("dcmx.cli")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    db = sa.engine.make_url(url).database
    return None if db in (None, "", ":memory:") else Path(db)


def open_existing(url: str) -> sa.Engine:
    """An engine on a database dcmx has indexed into; a clear error otherwise."""
    from ..store import create_engine

    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise ConfigError(f"no database at {path}: run `dcmx run` (or `dcmx demo`) first")
    engine = create_engine(url)
    if not sa.inspect(engine).has_table("dcmx_cursor"):
        raise StoreError(
            f"{redact_url(url)} holds no dcmx index (no dcmx_cursor table); check --db"
        )
    return engine


def tracked(engine: sa.Engine) -> list[tuple[str, str]]:
    """(table, owner) of every table dcmx tracks in this database, in creation order."""
    from ..store import schema_table

    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(
            sa.select(schema_table.c.table_name, schema_table.c.owner)
        )]


def counts(engine: sa.Engine, tables: list[str]) -> dict[str, int]:
    """Rows per table (or view)."""
    out = {}
    with engine.connect() as conn:
        for name in tables:
            t = sa.table(name)
            out[name] = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    return out


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`stop_on_signals`' handler to end a wait at once (exit status 130)."""


@dataclass
class Stopping:
    """What :func:`stop_on_signals` gives its block: the signal received, if any."""

    signal: str | None = None


@contextmanager
def stop_on_signals(
    stop: Callable[[], None], interruptible: Callable[[], bool] | None = None
) -> Iterator[Stopping]:
    """SIGINT/SIGTERM stop the loop within moments, leaving the database as last committed.

    The first signal calls ``stop`` (the loop's waits end, and it stops after the current
    step); when ``interruptible()`` says no write transaction is open, it also raises
    :class:`Interrupted` at once, which ends a wait on a slow node or a retry's back-off.
    Inside a transaction the loop stops once it has committed. A second signal ends the
    process at once: a transaction still open is rolled back by the database itself (SQLite's
    journal, PostgreSQL's closed connection), so nothing is half-written either way.
    """
    state = Stopping()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if state.signal is not None:
            os.write(2, f"{name} received again: exiting now, the database keeps what was "
                        "last committed\n".encode())
            os._exit(130)
        state.signal = name
        # The interpreter's last steps reset Python's handlers to the default, which would end
        # the process by the signal itself; ignored then, it ends with its own status.
        atexit.register(_ignore_signals)
        stop()
        if interruptible is not None and interruptible():
            log.warning("%s received: stopping now", name, extra={"signal": name})
            raise Interrupted(f"stopped by {name}")
        log.warning(
            "%s received: stopping once the current batch has committed (again: at once)", name,
            extra={"signal": name},
        )

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        if state.signal is None:
            for s, h in old.items():
                signal.signal(s, h)
        # else the handler stays: the program is ending, and a second signal while it does
        # must still end it at once (with 130, not killed by the signal itself).


def _ignore_signals() -> None:
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
