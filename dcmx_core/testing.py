"""Testing plugins: a chain built from typed events, an indexer over it, tables read as rows.

A plugin author writes tests against the real indexing loop, with no node and no EVM: the
chain is a :class:`~dcmx_core.sources.memory.MemoryChain` filled with the events of the
bindings ``dcmx-codegen`` generated (each event class has ``encode()``, the inverse of its
``decode``), the database is a SQLite file in a temporary folder (or the PostgreSQL database
given), and the indexer is :class:`dcmx_core.Indexer` itself, with the plugin registered::

    from dcmx_core.testing import TestChain, TestIndexer

    from my_plugin import plugin
    from my_plugin.bindings.erc20 import Transfer

    TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    ALICE, BOB = "0x" + "a1" * 20, "0x" + "b0" * 20

    def test_transfers_are_counted():
        chain = TestChain()
        chain.block((TOKEN, Transfer(from_=ALICE, to_=BOB, value=5)))   # block 1
        chain.block((TOKEN, Transfer(from_=ALICE, to_=BOB, value=7)))   # block 2
        with TestIndexer(chain, plugins=[plugin]) as indexer:
            indexer.run()                                  # to the chain's head
            assert indexer.rows("transfer_totals") == [
                {"wallet": ALICE, "events": 2, "total": 12, "last_block": 2}
            ]
            chain.fork(1, [(TOKEN, Transfer(from_=ALICE, to_=BOB, value=1))])
            indexer.run()                                  # sees the fork, rolls back, goes on
            assert indexer.forks[-1].depth == 1
            assert indexer.rows("transfer_totals")[0]["total"] == 6

What each piece does:

- :class:`TestChain` — blocks of logs, each log ``(address, event)`` (an address as text in
  either profile's form, or 20 bytes; an event of generated bindings, or ``(topics, data)``),
  or ``(address, event, tx_index)`` to put several logs in one transaction. ``fork(depth,
  *blocks)`` replaces the newest ``depth`` blocks. Blocks older than ``finality_depth`` below
  the head are final, as a node would say; a fork must stay above them (and within the
  indexer's ``window``) to be rolled back rather than refused.
- :class:`TestIndexer` — an :class:`~dcmx_core.Indexer` over a chain. By default it indexes
  every contract whose events the chain holds (its module and name taken from the event
  classes: one generated module per address); ``contracts=`` names them explicitly
  (:func:`contract` builds one). ``run()`` indexes to the head, ``forks`` lists the forks it
  rolled back, ``rows()`` / ``tuples()`` read a table, ``engine`` is the database.
- :func:`rows` / :func:`tuples` — the same reads on any engine or URL (after ``dcmx run``).

Rows come back ordered by the table's primary key (by every column when it has none: a
view), each value typed by the table's declaration when the table is one the plugins or the
contracts declare (a uint256 column gives Python ints on SQLite too), else as the database
returns it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import sqlalchemy as sa

from .addresses import Profile
from .addresses import parse as parse_address
from .chain import Header, Log
from .contracts import Contract
from .errors import ConfigError
from .indexing import ForkReport, Indexer, Tuning
from .plugins import PluginHost
from .sources.memory import LogSpec, MemoryChain
from .store import create_engine

__all__ = ["LogEntry", "TestChain", "TestIndexer", "contract", "rows", "tuples"]

# A log of a test chain: (address, event) or (address, event, tx_index); the event is an
# instance of a generated event class (anything with encode() -> (topics, data)) or a
# (topics, data) pair.
LogEntry = tuple[str | bytes, Any] | tuple[str | bytes, Any, int]


class TestChain:
    """A chain source whose blocks hold the logs of typed events (see the module docstring).

    Block 0 is an empty genesis block; each :meth:`block` appends one. Hashes, transaction
    hashes and timestamps are derived, the same on every run.
    """

    __test__ = False  # a helper, not a test class for pytest to collect
    in_process = True  # answers are computed here (see dcmx_core.chain.Source)

    def __init__(
        self, *, finality_depth: int = 12, block_time: int = 3, genesis_time: int = 1_700_000_000
    ) -> None:
        self.memory = MemoryChain(
            finality_depth=finality_depth, block_time=block_time, genesis_time=genesis_time
        )
        # address -> the generated modules of the events it emitted, for TestIndexer
        self.emitters: dict[bytes, set[ModuleType]] = {}

    # -- building -----------------------------------------------------------------------------

    def block(self, *logs: LogEntry, timestamp: int | None = None) -> Header:
        """Append one block holding ``logs`` in order (each its own transaction unless given
        a ``tx_index``); returns its header."""
        return self.memory.append_block(self._specs(logs), timestamp=timestamp)

    def blocks(self, n: int) -> list[Header]:
        """Append ``n`` empty blocks (time passing, finality moving on)."""
        return self.memory.extend(n)

    def fork(self, depth: int, *blocks: Sequence[LogEntry]) -> list[Header]:
        """Replace the newest ``depth`` blocks by ``blocks`` (each a sequence of logs), padded
        with empty blocks to at least ``depth``: the new branch is never shorter than the old
        one, so the next :meth:`TestIndexer.run` meets the fork at once."""
        if depth < 1:
            raise ValueError(f"a fork replaces at least one block, got depth {depth}")
        specs = [self._specs(b) for b in blocks]
        specs += [[] for _ in range(depth - len(specs))]
        return self.memory.fork(depth, length=len(specs), logs=specs)

    def _specs(self, logs: Iterable[LogEntry]) -> list[LogSpec]:
        out: list[LogSpec] = []
        for entry in logs:
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                raise TypeError(
                    f"a log is (address, event) or (address, event, tx_index), got {entry!r:.80}"
                )
            address = _address(entry[0])
            event = entry[1]
            if isinstance(event, tuple) and len(event) == 2:
                topics, data = event
            elif hasattr(type(event), "SIGNATURE") and callable(getattr(event, "encode", None)):
                topics, data = event.encode()
                module = sys.modules.get(type(event).__module__)
                if module is not None and hasattr(module, "decode_log"):
                    self.emitters.setdefault(address, set()).add(module)
            else:
                raise TypeError(
                    f"{type(event).__name__} is no generated event (it has no encode()) and no "
                    "(topics, data) pair"
                )
            if len(entry) == 3:
                out.append((address, tuple(topics), bytes(data), entry[2]))
            else:
                out.append((address, tuple(topics), bytes(data)))
        return out

    # -- the Source protocol (dcmx_core.chain.Source) --------------------------------------------

    def head(self) -> int:
        return self.memory.head()

    def finalized(self) -> int:
        return self.memory.finalized()

    def headers(self, start: int, end: int) -> list[Header]:
        return self.memory.headers(start, end)

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        return self.memory.logs(start, end, addresses, topics0)

    def close(self) -> None:
        pass


def contract(
    module: ModuleType, *addresses: str | bytes, name: str | None = None, start_block: int = 0
) -> Contract:
    """A contract to index: generated ``module`` at ``addresses`` (named like the module's
    contract unless ``name`` is given)."""
    if not addresses:
        raise ConfigError(f"contract {name or module.__name__}: give at least one address")
    return Contract(
        name or str(getattr(module, "CONTRACT_NAME", module.__name__.rpartition(".")[2])),
        module,
        tuple(_address(a) for a in addresses),
        start_block,
    )


class TestIndexer:
    """:class:`~dcmx_core.Indexer` over a :class:`TestChain` (or any source), with the given
    plugins, into a temporary SQLite file unless ``database`` names another (a URL or an
    engine: PostgreSQL). A context manager; :meth:`close` removes the temporary database."""

    __test__ = False

    def __init__(
        self,
        chain: TestChain | Any,
        plugins: Iterable[object] = (),
        *,
        contracts: Sequence[Contract] | None = None,
        database: str | sa.Engine | None = None,
        profile: Profile | None = None,
        window: int = 19,
        start_block: int = 0,
        tuning: Tuning | None = None,
    ) -> None:
        if contracts is None:
            if not isinstance(chain, TestChain):
                raise ConfigError("give contracts= for a source that is not a TestChain")
            contracts = _emitting(chain)
        if profile is None:
            profiles = {getattr(c.module, "PROFILE", "tron") for c in contracts}
            profile = "evm" if profiles == {"evm"} else "tron"
        self._folder: Path | None = None
        if database is None:
            self._folder = Path(tempfile.mkdtemp(prefix="dcmx-test-"))
            database = f"sqlite:///{self._folder / 'index.db'}"
        self.engine = create_engine(database) if isinstance(database, str) else database
        self._own_engine = isinstance(database, str)
        self.forks: list[ForkReport] = []
        host = PluginHost(plugins)
        self.indexer = Indexer(
            chain,
            self.engine,
            contracts,
            host,
            profile=profile,
            window=window,
            start_block=start_block,
            tuning=tuning,
            on_fork=self.forks.append,
        )
        self._tables = {t.name: t for t in host.tables()}
        self._tables.update((v.name, v) for v, _ in host.owned_views())
        self._tables.update(
            (cls.TABLE.name, cls.TABLE) for c in contracts for cls in c.module.EVENTS
        )

    def run(self, to_block: int | None = None) -> int:
        """Index up to ``to_block`` (default: the head), rolling back any fork met; returns
        the last indexed block."""
        return self.indexer.run(to_block)

    def cursor(self) -> int | None:
        """The last indexed block, None before the first."""
        return self.indexer.cursor()

    def rows(self, table: str | sa.Table) -> list[dict[str, Any]]:
        """Every row of ``table`` (a name or a table), as dicts, in primary-key order."""
        return rows(self.engine, self._tables.get(table, table) if isinstance(table, str)
                    else table)

    def tuples(self, table: str | sa.Table) -> list[tuple[Any, ...]]:
        """Every row of ``table`` as tuples, in primary-key order."""
        return tuples(self.engine, self._tables.get(table, table) if isinstance(table, str)
                      else table)

    def close(self) -> None:
        self.indexer.source.close()
        if self._own_engine:
            self.engine.dispose()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> TestIndexer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def rows(database: str | sa.Engine, table: str | sa.Table) -> list[dict[str, Any]]:
    """Every row of ``table`` in ``database`` as dicts, in primary-key order (every column's
    order for a table without one). A name is read as the database describes the table; a
    :class:`sqlalchemy.Table` (a plugin's, ``Event.TABLE``) converts values as it declares."""
    with _reading(database, table) as (conn, select):
        return [dict(r) for r in conn.execute(select).mappings()]


def tuples(database: str | sa.Engine, table: str | sa.Table) -> list[tuple[Any, ...]]:
    """Every row of ``table`` in ``database`` as tuples (see :func:`rows`)."""
    with _reading(database, table) as (conn, select):
        return [tuple(r) for r in conn.execute(select)]


class _reading:
    """A connection and the ordered select of a whole table (its engine disposed after when
    it was made here)."""

    def __init__(self, database: str | sa.Engine, table: str | sa.Table) -> None:
        self.engine = create_engine(database) if isinstance(database, str) else database
        self.own = isinstance(database, str)
        self.table = table

    def __enter__(self) -> tuple[sa.Connection, sa.Select[Any]]:
        self.conn = self.engine.connect()
        table = self.table
        if isinstance(table, str):
            if not sa.inspect(self.conn).has_table(table) and table not in sa.inspect(
                self.conn
            ).get_view_names():
                self.__exit__(None, None, None)
                raise ConfigError(f"no table or view {table!r} in the database")
            table = sa.Table(table, sa.MetaData(), autoload_with=self.conn)
        key = list(table.primary_key.columns) or list(table.columns)
        return self.conn, sa.select(table).order_by(*key)

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
        if self.own:
            self.engine.dispose()


def _address(value: str | bytes) -> bytes:
    if isinstance(value, bytes | bytearray):
        if len(value) != 20:
            raise ConfigError(f"an address is 20 bytes, got {len(value)}")
        return bytes(value)
    return parse_address(value)


def _emitting(chain: TestChain) -> list[Contract]:
    """A contract per generated module whose events the chain holds, at the addresses that
    emitted them."""
    by_module: dict[ModuleType, list[bytes]] = {}
    for address, modules in chain.emitters.items():
        if len(modules) > 1:
            names = ", ".join(sorted(m.__name__ for m in modules))
            raise ConfigError(
                f"address 0x{address.hex()} emitted events of several bindings ({names}); give "
                "contracts= to TestIndexer"
            )
        by_module.setdefault(next(iter(modules)), []).append(address)
    if not by_module:
        raise ConfigError(
            "the chain holds no event of generated bindings yet; add blocks with events "
            "before making the TestIndexer, or give it contracts="
        )
    return [contract(module, *addresses) for module, addresses in by_module.items()]
