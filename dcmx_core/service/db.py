"""Reading the indexer's database without ever holding it up.

- Read-only connections: SQLite opened ``mode=ro`` with ``PRAGMA query_only``; PostgreSQL
  sessions with ``default_transaction_read_only`` (a write fails in the server itself).
- One short transaction per read: the versions of the tables read and the rows, in one
  snapshot (WAL / REPEATABLE READ), so an answer is always tagged with the versions it
  belongs to (:mod:`.cache`).
- A time budget per read (``statement_timeout`` on PostgreSQL, a progress handler on
  SQLite): a scan that a missing index (during a backfill) would make long ends with 503
  instead of holding a lock the indexer's next commit waits for.
- Versions without a query on SQLite: ``PRAGMA data_version`` moves only when another
  connection commits, so the versions read last stay current until it does (a few us on
  the event loop, instead of a transaction in a thread).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from ..errors import ConfigError
from ..redaction import redact_url
from ..sqltypes import install_exact_aggregates
from ..store import versions as store_versions
from ..store.engine import POOLS, Pool, sqlite_file
from .errors import ApiError

__all__ = ["ReadDB"]

log = logging.getLogger("dcmx.api")
T = TypeVar("T")

#: Longest a read may take, milliseconds.
READ_BUDGET_MS = 2_000


def _unavailable(exc: BaseException) -> ApiError:
    text = str(getattr(exc, "orig", exc))
    if "interrupted" in text or "statement timeout" in text:
        return ApiError(503, "query_timeout", "the query took longer than its time budget "
                        f"({READ_BUDGET_MS} ms); the index may still be catching up: try "
                        "again later", headers={"Retry-After": "5"})
    log.warning("database unavailable: %s", text[:300])
    return ApiError(503, "database_unavailable", "the database is unavailable; try again "
                    "shortly", headers={"Retry-After": "1"})


class ReadDB:
    """Read-only access to an indexed database, with its table versions."""

    def __init__(self, url: str, pool: Pool | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.path = sqlite_file(parsed) if self.sqlite else None
        sized = (pool or POOLS["serve"]).options()
        self.engine = (_sqlite_engine(parsed, sized) if self.sqlite
                       else _postgres_engine(parsed, sized))
        self._probe: sqlite3.Connection | None = None
        self._probe_owner: int | None = None
        self._data_version: int | None = None
        self._versions: Mapping[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReadDB({redact_url(self.url)!r})"

    # -- reads ------------------------------------------------------------------------------

    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one short read-only transaction; 503 when the database fails."""
        try:
            with self.engine.connect() as conn:
                deadline = time.monotonic() + READ_BUDGET_MS / 1000
                if self.sqlite:
                    raw: Any = conn.connection.driver_connection
                    raw.set_progress_handler(lambda: time.monotonic() > deadline, 2_000)
                try:
                    with conn.begin():
                        return fn(conn)
                finally:
                    if self.sqlite:
                        raw.set_progress_handler(None, 0)
        except sa.exc.DBAPIError as exc:
            raise _unavailable(exc) from None
        except sa.exc.TimeoutError:  # every pooled connection busy for pool_timeout
            log.warning("no free database connection within the pool's timeout")
            raise ApiError(503, "database_busy", "every database connection is busy; try "
                           "again shortly", headers={"Retry-After": "1"}) from None

    def read_versioned(
        self, names: Iterable[str], fn: Callable[[Connection], T]
    ) -> tuple[Mapping[str, int], T]:
        """(versions of ``names``, ``fn(conn)``), both from one snapshot."""
        wanted = sorted(set(names))

        def both(conn: Connection) -> tuple[Mapping[str, int], T]:
            return store_versions.read(conn, wanted), fn(conn)

        return self.read(both)

    def versions(self, names: Iterable[str]) -> Mapping[str, int]:
        """The current versions of ``names``.

        SQLite: from the probe connection, read again only when ``data_version`` says another
        connection committed since (the probe is used by one thread, the event loop's).
        PostgreSQL: one query.
        """
        wanted = sorted(set(names))
        if not self.sqlite:
            return self.read(lambda conn: store_versions.read(conn, wanted))
        try:
            probe = self._probe_connection()
            moved = probe.execute("PRAGMA data_version").fetchone()[0]
            if moved != self._data_version:
                rows = probe.execute("SELECT table_name, version FROM dcmx_versions").fetchall()
                self._versions, self._data_version = dict(rows), moved
        except sqlite3.Error as exc:
            self._drop_probe()
            raise _unavailable(exc) from None
        return {n: self._versions[n] for n in wanted if n in self._versions}

    def _probe_connection(self) -> sqlite3.Connection:
        me = threading.get_ident()
        if self._probe is None or self._probe_owner != me:
            self._drop_probe()
            self._probe = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=0.2, isolation_level=None,
                check_same_thread=False,
            )
            self._probe.execute("PRAGMA query_only=1")
            self._probe_owner, self._data_version = me, None
        return self._probe

    def _drop_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
        self._probe, self._data_version = None, None

    # -- what is there ------------------------------------------------------------------------

    def table_names(self) -> set[str]:
        """Tables and views of the database (for routes that need some to exist)."""
        try:
            inspector = sa.inspect(self.engine)
            return set(inspector.get_table_names()) | set(inspector.get_view_names())
        except sa.exc.DBAPIError as exc:
            raise _unavailable(exc) from None

    def dispose(self) -> None:
        self._drop_probe()
        self.engine.dispose()


def _sqlite_engine(url: sa.URL, pool: dict[str, Any]) -> Engine:
    path = sqlite_file(url)
    if path is None:
        raise ConfigError("dcmx serve reads a SQLite file or PostgreSQL; an in-memory SQLite "
                          "database has nothing in it")
    # mode=ro: this process can never write; the file must exist (the indexer makes it).
    engine = sa.create_engine(
        f"sqlite:///file:{path}?mode=ro&uri=true",
        connect_args={"timeout": 5, "check_same_thread": False}, **pool,
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below, not the module's
        dbapi_conn.execute("PRAGMA query_only=1")
        install_exact_aggregates(dbapi_conn)
        dbapi_conn.execute("PRAGMA cache_size=-8192")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # DEFERRED: a read lock from the first SELECT to the end of this (short) transaction
        conn.exec_driver_sql("BEGIN")

    return engine


def _postgres_engine(url: sa.URL, pool: dict[str, Any]) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    session = (f"-c default_transaction_read_only=on -c statement_timeout={READ_BUDGET_MS} "
               "-c idle_in_transaction_session_timeout=10000")
    url = url.update_query_dict({"options": f"{options} {session}".strip()})
    return sa.create_engine(
        url, **pool,
        isolation_level="REPEATABLE READ",  # the versions and the rows: one snapshot
        connect_args={"connect_timeout": 3},
    )
