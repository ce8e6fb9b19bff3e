"""The single-writer lock: a second indexer (or rollback, rebuild) on a database refuses to
start instead of interleaving its writes with the first one's."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import StoreError
from .engine import sqlite_file

__all__ = ["writer_lock"]


@contextmanager
def writer_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's writer lock. The operating system (a file lock for SQLite) or the
    server (an advisory lock for PostgreSQL) releases it when the process dies, even by
    kill -9."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = "dcmx-indexer:"
            got = conn.execute(sa.text(
                "SELECT pg_try_advisory_lock(hashtextextended(:k || current_schema(), 0))"
            ), {"k": key}).scalar()
            conn.commit()
            if not got:
                raise StoreError(
                    "another dcmx indexer is running against this database (it holds the "
                    "advisory lock of this schema); stop it before starting another"
                )
            try:
                yield
            finally:
                conn.execute(sa.text(
                    "SELECT pg_advisory_unlock(hashtextextended(:k || current_schema(), 0))"
                ), {"k": key})
                conn.commit()
        return
    database = sqlite_file(engine.url)
    if database is None:
        yield
        return
    path = f"{database}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise StoreError(
                f"another dcmx indexer (pid {holder}) is running against {database} (it "
                f"holds {path}); stop it before starting another"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
