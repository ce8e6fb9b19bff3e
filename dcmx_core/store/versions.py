"""Table versions: a counter per tracked table that moves whenever the table's rows may have.

A reader that caches an answer ties it to the versions of the tables it read; the answer is
good for exactly as long as those versions stay (:mod:`dcmx_core.service.cache`). So every
change of a tracked table bumps its version in the same transaction as the change:

- a step of final blocks (nothing journaled there): every tracked table, coarse but cheap
  (one statement) and only while catching up, when no cache is warm anyway;
- a step inside the unfinalized window: the tables the undo journal recorded writes of in
  that step (:meth:`~dcmx_core.store.journal.Journal.changed_after`), so a block that only
  moves balances leaves the NFT answers cached;
- a rollback: the tables whose journal entries it undoes, found before undoing them;
- making or rebuilding tables: every table made.

``dcmx_cursor`` has a version too, bumped by every step and rollback, for answers about the
cursor itself (is a transaction indexed yet?).

Versions only grow, also across a rollback: the table is framework bookkeeping, outside the
undo journal. A journaled counter would return to an old value after a fork, and the next
change on the new branch would give the abandoned branch's version to different rows. So
(table, version) names one content of the table, and a cache keyed by it never needs purging.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables import versions_table

__all__ = ["CURSOR", "INSTANCE", "bump", "ensure", "read"]

#: The pseudo-table whose version moves with the cursor (every committed step and rollback).
CURSOR = "dcmx_cursor"
#: A random number drawn when the database got its versions: a database made again (a demo
#: run anew, a reindex) starts its counters over, and a cache shared between the two must
#: tell them apart.
INSTANCE = "dcmx_instance"


def ensure(conn: Connection, names: Iterable[str]) -> None:
    """Give every table of ``names`` (and the cursor) a version row, keeping existing ones."""
    present = set(conn.execute(sa.select(versions_table.c.table_name)).scalars())
    missing = sorted({*names, CURSOR} - present)
    if missing:
        conn.execute(versions_table.insert(), [{"table_name": n, "version": 1} for n in missing])
    if INSTANCE not in present:
        conn.execute(versions_table.insert(), {"table_name": INSTANCE,
                                               "version": secrets.randbits(62)})


def bump(conn: Connection, names: Iterable[str]) -> None:
    """Move the versions of ``names`` and of the cursor, in the caller's transaction."""
    wanted = sorted({*names, CURSOR})
    conn.execute(
        versions_table.update()
        .where(versions_table.c.table_name.in_(wanted))
        .values(version=versions_table.c.version + 1)
    )


def read(conn: Connection, names: Iterable[str] | None = None) -> Mapping[str, int]:
    """table -> version, of ``names`` (default: all); a table never versioned is absent."""
    stmt = sa.select(versions_table.c.table_name, versions_table.c.version)
    if names is not None:
        stmt = stmt.where(versions_table.c.table_name.in_(sorted(set(names))))
    return dict(conn.execute(stmt).all())
