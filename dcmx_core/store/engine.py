"""Engines for SQLite and PostgreSQL, tuned for indexing, and the SQLite file's own modes.

SQLAlchemy Core on one connection per transaction, on the indexer's thread: no per-call thread
hops (a driver that hands every call to another thread caps an indexer at a few thousand rows
a second on a 2-core machine).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from ..errors import ConfigError, StoreError
from ..sqltypes import install_exact_aggregates

__all__ = ["POOLS", "Pool", "create_engine", "sqlite_file"]

log = logging.getLogger("dcmx.indexer")

# Page size of a new SQLite file. 8 KiB instead of 4: 1M events without plugins 143,000-145,000
# -> 149,000-153,000 events/s, with them +3% and 9 MB less RSS. A rollback deletes index
# entries at random places, dirtying a page for each: undoing 10 blocks on 2M rows stays within
# 1.4x of 20k rows (16 KiB: 2.35x; it was 4.35x while SQLite copied each page it changed to a
# statement journal, see journal.Journal._shadow).
SQLITE_PAGE_SIZE = 8_192
# SQLite page cache per connection, KiB (see create_engine), and while building indexes.
SQLITE_CACHE_KIB = 16_384
SQLITE_BUILD_CACHE_KIB = 2_048
# WAL pages after which a commit copies the log into the database itself (SQLite's default is
# 1,000); below it the indexer does so while it waits for new blocks (checkpoint).
SQLITE_WAL_AUTOCHECKPOINT = 10_000


@dataclass(frozen=True)
class Pool:
    """A connection pool's sizes and times (the settings ``pool_size``, ``max_overflow``,
    ``pool_timeout`` and ``pool_recycle``; :meth:`dcmx_core.settings.Settings.pool`)."""

    size: int
    max_overflow: int
    timeout: float  # seconds a caller waits for a free connection
    recycle: int  # seconds after which a connection is replaced; -1: never

    def options(self) -> dict[str, Any]:
        return {"pool_size": self.size, "max_overflow": self.max_overflow,
                "pool_timeout": self.timeout, "pool_recycle": self.recycle}


#: Each command's pool unless the settings say otherwise. The indexer holds one connection at
#: a time, beside a few short reads (status, metrics); a serve worker one per request in its
#: thread pool, and answers 503 after a short wait rather than queue requests.
POOLS = {
    "run": Pool(size=4, max_overflow=4, timeout=30.0, recycle=-1),
    "serve": Pool(size=8, max_overflow=8, timeout=5.0, recycle=300),
}


def sqlite_file(url: sa.URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def set_synchronous(dbapi: Any, journal_mode: str) -> None:  # a DB-API cursor or connection
    """NORMAL cannot corrupt a SQLite database in WAL mode; with a rollback journal FULL is
    what can never do so."""
    dbapi.execute(f"PRAGMA synchronous={'NORMAL' if journal_mode == 'wal' else 'FULL'}")


def create_engine(url: str, pool: Pool | None = None) -> Engine:
    """An engine tuned for indexing: SQLite in WAL mode, PostgreSQL through psycopg 3, with
    ``pool``'s sizes (an in-memory SQLite database has one connection per thread instead)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types here
        raise ConfigError(
            f"database URL {url!r} is not valid ({exc}); use e.g. sqlite:///dcmx.db or "
            "postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        file = sqlite_file(parsed)
        if file is not None and Path(file).is_dir():
            raise StoreError(
                f"{file} is a folder, not a SQLite database; dcmx leaves it as it is: give --db "
                "the path of a new file or of a dcmx database"
            )
        # How long a writer waits for another one to finish (seconds; ``?timeout=`` in the URL).
        given = parsed.query.get("timeout", "30")
        timeout = float(given if isinstance(given, str) else given[-1])
        parsed = parsed.difference_update_query(["timeout"])
        sized = (pool or POOLS["run"]).options() if sqlite_file(parsed) else {}
        engine = sa.create_engine(parsed, connect_args={"timeout": timeout}, **sized)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # a DB-API connection
            # The sqlite3 module's own transaction handling would begin late; let SQLAlchemy
            # issue BEGIN so that a batch really is one transaction.
            dbapi_conn.isolation_level = None
            install_exact_aggregates(dbapi_conn)
            cur = dbapi_conn.cursor()
            try:
                mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            except sqlite3.DatabaseError as exc:  # read before anything is written
                raise StoreError(
                    f"{parsed.database} is not a SQLite database ({exc}); dcmx leaves it as it "
                    "is: give --db the path of a new file or of a dcmx database"
                ) from None
            if sqlite_file(parsed):
                # WAL for a new file; an existing one keeps its mode, which the indexer sets
                # (set_journal_mode: a rollback journal while a backfill runs).
                if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
                    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
                    mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            set_synchronous(cur, mode)
            # 16 MiB of page cache instead of SQLite's 2 MB: a rollback deletes rows at random
            # places of the secondary indexes, and with 2 MB it spilled and re-read index pages
            # (undoing 10 blocks on 3M rows: 53 -> 40 ms; 32 MiB 38 ms, for 16 MiB more RSS).
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
            cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, **(pool or POOLS["run"]).options())
    raise ConfigError(f"unsupported database {backend!r}: dcmx stores into SQLite or PostgreSQL")



def _driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy one (held by the pool: never closed)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def checkpoint(engine: Engine) -> None:
    """SQLite in WAL mode: copy the log into the database now; called when the indexer has
    caught up, before it waits for new blocks.

    Otherwise the commit that takes the log past SQLite's threshold does it, inside a step:
    a fork's step at 1M events took 70 ms, 37 of them checkpointing the pages of the steps
    before. ``PASSIVE``: readers and writers are not waited for, what they hold is left for
    the next time; past ``SQLITE_WAL_AUTOCHECKPOINT`` pages a commit still does it.
    """
    if not sqlite_file(engine.url):
        return
    with engine.connect() as conn:
        try:
            _driver(conn).execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError as exc:
            # "database table is locked" right after the journal mode changed: a checkpoint
            # is only ever early work, which the next one (or a commit) does.
            log.debug("checkpoint left for later (%s)", exc)


def set_journal_mode(engine: Engine, backfilling: bool) -> None:
    """SQLite: write a backfill through a rollback journal, everything else through WAL.

    In WAL mode every page is written twice: to the log at the commit, to the database at
    the checkpoint that follows. A backfill only appends, so a rollback journal has almost
    nothing to hold and each page is written once, as safely (a commit is still atomic,
    with ``synchronous=FULL``): 1M events without plugins, 160,000 -> 176,000 events/s.
    The price while it runs: a reader's open transaction holds up the next commit (which
    waits for it, up to the busy timeout), where WAL lets both go on. So the switch is
    made only when no other connection has the database open (it needs that, and it is
    not waited for), and undone when the backfill ends (waiting for readers as a commit
    does). A switch that cannot be made leaves the mode as it was, which is as correct.
    """
    if not sqlite_file(engine.url):
        return
    want = "delete" if backfilling else "wal"
    with engine.connect() as conn:
        # The DB-API connection: the mode cannot change inside the transaction SQLAlchemy
        # would begin.
        raw = _driver(conn)
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
        if mode == want:
            return
        timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        if backfilling:
            raw.execute("PRAGMA busy_timeout=0")
        try:
            mode = raw.execute(f"PRAGMA journal_mode={want}").fetchone()[0]
        except sqlite3.OperationalError as exc:  # "database is locked": others have it open
            log.info("journal mode left as %s (%s)", mode, exc, extra={"journal": mode})
        finally:
            raw.execute(f"PRAGMA busy_timeout={timeout}")
        set_synchronous(raw, mode)
    if mode != want and not backfilling:
        log.warning(
            "the database stays in %s journal mode, readers held it; the next start tries "
            "WAL again",
            mode,
            extra={"journal": mode},
        )
