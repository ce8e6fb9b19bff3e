"""What several commands share: opening an indexed database, counting rows, stopping on signals.

These are public for the commands other packages add (``dcmx.commands`` entry points).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import ConfigError, StoreError
from ..redaction import redact_url

__all__ = ["counts", "open_existing", "sqlite_path", "stop_on_signals", "tracked"]

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


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM ask the loop to stop after its current step; a second SIGINT exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = {"n": 0}

    def handler(signum: int, _frame: Any) -> None:
        hits["n"] += 1
        if hits["n"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning(
            "%s received: stopping after the current batch", signal.Signals(signum).name,
            extra={"signal": signal.Signals(signum).name},
        )
        stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
