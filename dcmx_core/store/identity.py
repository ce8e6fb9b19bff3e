"""What a database was built from, so that it is never continued from something else.

``dcmx_identity`` holds one row per fact, written with the first tables and batch:

- ``contract``: each contract's name and address (a contract may have several), recorded
  when the contract is first indexed into the database. A run that configures a recorded
  contract at other addresses is refused: its tables would mix two contracts' events (two
  tokens' balances added up). A contract of a new name is recorded beside the others, as its
  tables are made beside theirs.
- ``plugin``: the plugins whose tables the database holds.
- ``anchor``: the number and hash of the newest block the database indexed that is final
  (the ledger's anchor, moved with every step that finalizes blocks). Final blocks never
  change, so a node whose block of that number has another hash follows another chain or
  network, not a fork: the indexer refuses it before its first step rather than taking it
  for a deep reorganisation. Being recent, it is a block any synced node still serves (a
  pruning one included).

The record answers "is this the same chain and the same contracts" without assuming how a
chain names itself (a chain id, a genesis block): any source that serves the blocks the
database indexed can be checked. A database an older dcmx made, without the record, takes
the facts of its next run (its contracts, the anchor of its next step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import ConfigError
from .tables import identity_table

__all__ = ["Anchor", "Origin", "anchor", "check", "contracts", "plugins", "record", "set_anchor"]

_CONTRACT, _PLUGIN, _ANCHOR = "contract", "plugin", "anchor"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A final block the database indexed: its number and hash."""

    number: int
    block_hash: bytes


@dataclass(frozen=True)
class Origin:
    """The contracts (name -> addresses) and plugins a run builds a database from."""

    contracts: Mapping[str, frozenset[bytes]] = field(default_factory=dict)
    plugins: frozenset[str] = frozenset()


def _facts(conn: Connection, fact: str) -> list[tuple[str, str]]:
    c = identity_table.c
    return [(r[0], r[1]) for r in conn.execute(
        sa.select(c.name, c.value).where(c.fact == fact).order_by(c.name, c.value)
    )]


def contracts(conn: Connection) -> dict[str, frozenset[bytes]]:
    """The recorded contracts: name -> addresses."""
    out: dict[str, set[bytes]] = {}
    for name, value in _facts(conn, _CONTRACT):
        out.setdefault(name, set()).add(bytes.fromhex(value))
    return {name: frozenset(a) for name, a in out.items()}


def plugins(conn: Connection) -> set[str]:
    return {name for name, _ in _facts(conn, _PLUGIN)}


def anchor(conn: Connection) -> Anchor | None:
    rows = _facts(conn, _ANCHOR)
    return Anchor(int(rows[0][0]), bytes.fromhex(rows[0][1])) if rows else None


def set_anchor(conn: Connection, number: int, block_hash: bytes) -> None:
    values = {"name": str(number), "value": block_hash.hex()}
    c = identity_table.c
    if not conn.execute(identity_table.update().where(c.fact == _ANCHOR), values).rowcount:
        conn.execute(identity_table.insert(), {"fact": _ANCHOR, **values})


def check(conn: Connection, origin: Origin, render: Callable[[bytes], str]) -> None:
    """Refuse ``origin`` when it contradicts the record: a recorded contract configured at
    other addresses. ``render`` shows an address as the user wrote it."""
    recorded = contracts(conn)
    for name, addresses in sorted(origin.contracts.items()):
        before = recorded.get(name)
        if before is None or before == addresses:
            continue
        raise ConfigError(
            f"contract {name} was indexed into this database at {_show(before, render)}, and "
            f"is configured now at {_show(addresses, render)}: its tables would mix the events "
            f"of both. Index {_show(addresses, render)} into a new database (--db), or "
            f"configure {name} at {_show(before, render)} again"
        )


def record(conn: Connection, origin: Origin) -> None:
    """Add the contracts and plugins of ``origin`` the record does not hold yet (a recorded
    contract keeps its addresses: :func:`check` refuses others)."""
    recorded, known = contracts(conn), plugins(conn)
    rows = [
        {"fact": _CONTRACT, "name": name, "value": a.hex()}
        for name, addresses in sorted(origin.contracts.items()) if name not in recorded
        for a in sorted(addresses)
    ]
    rows += [{"fact": _PLUGIN, "name": p, "value": ""} for p in sorted(origin.plugins - known)]
    if rows:
        conn.execute(identity_table.insert(), rows)


def _show(addresses: Iterable[bytes], render: Callable[[bytes], str]) -> str:
    return ", ".join(render(a) for a in sorted(addresses))
