"""Consistent snapshots of an index, taken while the indexer runs, and putting them back.

A backup is a file: for SQLite a SQLite database (the online backup API copies it page by page
inside one read transaction), for PostgreSQL a ``pg_dump`` archive in custom format of the
index's schema (``pg_dump`` reads everything in one repeatable-read snapshot). Neither takes
dcmx's writer lock nor holds up the indexer's writes (see :mod:`.sqlite` for the one case
where a commit waits). A restored index resumes at the snapshot's cursor; the indexer's
reorg check rolls back first whatever the chain has since replaced.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ..errors import ConfigError
from . import postgres, sqlite
from .common import Snapshot

__all__ = ["Snapshot", "backup", "describe", "restore"]


def backup(url: str, to: str | Path) -> Snapshot:
    """Snapshot the index at ``url`` into the new file ``to`` (never overwritten)."""
    target = Path(to)
    if target.exists() or target.is_symlink():
        raise ConfigError(
            f"{target} already exists; give a new path to --to (a backup never overwrites a file)"
        )
    if not target.parent.is_dir():
        raise ConfigError(f"directory {target.parent} does not exist; create it first")
    if _backend(url) == "sqlite":
        return sqlite.backup(url, target)
    return postgres.backup(url, target)


def describe(path: str | Path) -> Snapshot:
    """What backup file ``path`` holds; a clear error unless it is a dcmx backup."""
    source = Path(path)
    kind = sqlite.kind_of(source)
    if kind == "sqlite":
        return sqlite.describe(source)
    return postgres.describe(source)


def restore(path: str | Path, url: str, replace: bool = False) -> Snapshot:
    """Put backup ``path`` into the database at ``url``. An index already there, or anything
    else, is only replaced when ``replace`` is given (a SQLite file is then kept aside)."""
    snapshot = describe(path)
    backend = _backend(url)
    if snapshot.kind == "sqlite" and backend == "sqlite":
        return sqlite.restore(snapshot, url, replace)
    if snapshot.kind == "pg_dump" and backend == "postgresql":
        return postgres.restore(snapshot, url, replace)
    raise ConfigError(
        f"{snapshot.path} is a {snapshot.kind} backup and cannot go into a {backend} database; "
        f"restore it into {'a SQLite file' if snapshot.kind == 'sqlite' else 'PostgreSQL'}"
    )


def _backend(url: str) -> str:
    try:
        name = sa.engine.make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several types here
        name = ""
    if name not in ("sqlite", "postgresql"):
        raise ConfigError("the database URL is not a SQLite or PostgreSQL URL; check --db")
    return name
