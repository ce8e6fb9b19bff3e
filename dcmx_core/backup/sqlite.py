"""SQLite backups through the online backup API (``sqlite3.Connection.backup``).

In WAL mode (the indexer's mode except during a backfill) the copy is one step: one read
transaction, a consistent snapshot that the indexer's commits never wait for. With a rollback
journal (a backfill) a reader holds up the writer's commit, so the copy goes in short steps,
each a brief wait at most; a commit between steps makes SQLite start over, and after a few
restarts the rest is copied in one step (the indexer's next commit then waits for it, within
its busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from ..errors import ConfigError, StoreError
from ..store.engine import sqlite_file
from ..store.lock import writer_lock
from .common import Snapshot, partial, publish

__all__ = ["backup", "describe", "kind_of", "restore"]

MAGIC = b"SQLite format 3\x00"
# Pages per step with a rollback journal (8 KiB pages: 16 MiB), and restarts before one step.
STEP_PAGES = 2_048
RESTARTS = 3


class _Restarted(Exception):
    """The source changed during a stepped copy more often than is worth trying again."""


def kind_of(path: Path) -> str:
    """``sqlite`` for a SQLite file, ``pg_dump`` for a custom-format archive."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise ConfigError(f"no backup at {path}; check --from") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if head == MAGIC:
        return "sqlite"
    if head.startswith(b"PGDMP"):
        return "pg_dump"
    raise ConfigError(f"{path} is not a dcmx backup (neither a SQLite file nor a pg_dump archive)")


def _cursor(conn: sqlite3.Connection, what: str) -> int | None:
    try:
        row = conn.execute("SELECT block_number FROM dcmx_cursor").fetchone()
    except sqlite3.DatabaseError:
        raise ConfigError(f"{what} is not a dcmx index (it has no dcmx_cursor table)") from None
    return None if row is None else int(row[0])


def _open(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None)
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def describe(path: Path) -> Snapshot:
    with closing(_open(path, read_only=True)) as conn:
        return Snapshot(path, "sqlite", _cursor(conn, str(path)))


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """The whole of ``source`` into the new file ``target``, as one self-contained file."""
    with closing(sqlite3.connect(target, isolation_level=None)) as out:
        if source.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            source.backup(out)
        else:
            seen = {"restarts": 0, "remaining": -1}

            def watch(_status: int, remaining: int, _total: int) -> None:
                if remaining > seen["remaining"] >= 0:  # SQLite started over
                    seen["restarts"] += 1
                    if seen["restarts"] > RESTARTS:
                        raise _Restarted
                seen["remaining"] = remaining

            try:
                source.backup(out, pages=STEP_PAGES, progress=watch)
            except _Restarted:
                source.backup(out)
        # The copy carries the source's WAL flag; a backup is one file, without -wal or -shm.
        out.execute("PRAGMA journal_mode=DELETE")
        problem = out.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StoreError(f"the copy failed SQLite's check ({problem}); nothing was written")


def backup(url: str, target: Path) -> Snapshot:
    import sqlalchemy as sa

    database = sqlite_file(sa.engine.make_url(url))
    if database is None or not Path(database).is_file():
        raise ConfigError(f"no SQLite database at {database or url}; check --db")
    written = partial(target)
    try:
        with closing(_open(Path(database))) as source:
            _cursor(source, database)  # refuse anything but a dcmx index before copying
            _copy(source, written)
        snapshot = describe(written)
        publish(written, target)
    finally:
        written.unlink(missing_ok=True)
    return Snapshot(target, snapshot.kind, snapshot.cursor)


def restore(snapshot: Snapshot, url: str, replace: bool) -> Snapshot:
    import sqlalchemy as sa

    from ..store import create_engine

    database = sqlite_file(sa.engine.make_url(url))
    if database is None:
        raise ConfigError("restore into a SQLite file: give --db sqlite:///PATH")
    target = Path(database)
    if not target.parent.is_dir():
        raise ConfigError(f"directory {target.parent} does not exist; create it first")
    if not replace and target.exists() and target.stat().st_size > 0:
        _set_aside(target, replace)  # refused before the lock adds its file beside the user's
    engine = create_engine(url)
    try:
        # Beside a running indexer the file is not touched: its lock says so.
        with writer_lock(engine):
            engine.dispose()
            kept = _set_aside(target, replace)
            written = partial(target)
            try:
                with closing(_open(snapshot.path, read_only=True)) as source:
                    _copy(source, written)
                publish(written, target)
            finally:
                written.unlink(missing_ok=True)
    finally:
        engine.dispose()
    return Snapshot(target, "sqlite", snapshot.cursor, kept=kept)


def _set_aside(target: Path, replace: bool) -> Path | None:
    """Move a file already at ``target`` (with its -wal and -shm) aside when ``replace`` says
    so; nothing is ever deleted. None when there was none (or only an empty file)."""
    if not target.exists() or (target.stat().st_size == 0 and not _companions(target)):
        target.unlink(missing_ok=True)  # an empty file: nothing of the user's is lost
        return None
    if not replace:
        try:
            with closing(_open(target, read_only=True)) as conn:
                cursor = _cursor(conn, str(target))
            what = f"a dcmx index at block {cursor}"
        except (ConfigError, sqlite3.DatabaseError):
            what = "a file that is not a dcmx index"
        raise ConfigError(
            f"{target} already holds {what}; restore into a new path, or give --replace to "
            "replace it (it is kept beside, renamed)"
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = target.with_name(f"{target.name}.before-restore-{stamp}")
    for suffix in ("", *_companions(target)):
        os.rename(f"{target}{suffix}", f"{kept}{suffix}")
    return kept


def _companions(target: Path) -> list[str]:
    return [s for s in ("-wal", "-shm") if Path(f"{target}{s}").exists()]
