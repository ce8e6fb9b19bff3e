"""The demo: the DCMX platform on an in-process devchain, with a fork, indexed into SQLite.

Deploys the five contracts, simulates platform activity on a main branch, stages a fork (a
branch that a longer one replaces), indexes all of it with the built-in plugins, and summarises
what was indexed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from dcmx_core import ForkReport, Indexer
from dcmx_core.cli.common import counts, sqlite_path, tracked
from dcmx_core.errors import ConfigError, DcmxError
from dcmx_core.progress import Progress
from dcmx_core.redaction import redact_url
from dcmx_core.store import create_engine

__all__ = ["DEMO_DB", "MARKER", "demo_summary", "is_demo_database", "prepare", "print_demo",
           "run_demo"]

DEMO_DB = "dcmx-demo.db"

# How a demo database is recognised: this table, with this one row, written into the new file
# before anything else. ``dcmx demo`` deletes an existing file only when it carries it: a file
# the demo made itself, never a user's database (a dcmx index of theirs included) or any other
# file.
MARKER = "dcmx_demo"
_MARK = "made by dcmx demo; dcmx demo deletes and recreates this file"
_COMPANIONS = ("-wal", "-shm", "-journal")


def is_demo_database(path: Path) -> bool:
    """Whether the file at ``path`` is a SQLite database ``dcmx demo`` made (its marker)."""
    if not path.is_file():
        return False
    try:
        # Read-only: a file that is not a database is never written to, not even its header.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(f"SELECT note FROM {MARKER}").fetchone()
    except sqlite3.Error:  # not a database, or one without the marker
        return False
    finally:
        conn.close()
    return row is not None and row[0] == _MARK


def prepare(url: str) -> None:
    """Make ``url`` a new demo database carrying the marker.

    A SQLite file the demo made before is deleted and made again; any other existing file (or
    a stray ``-wal``/``-shm``/``-journal`` of one) is refused, left as it is. Another database
    (PostgreSQL) is used when it holds no dcmx index: the demo indexes a new chain each run and
    deletes nothing there.
    """
    path = sqlite_path(url)
    if path is not None:
        others = [p for p in (path, *(Path(f"{path}{s}") for s in _COMPANIONS)) if p.exists()]
        if others and not is_demo_database(path):
            raise ConfigError(
                f"{others[0]} exists and is not a database dcmx demo made (it deletes and "
                "recreates only those): choose another --db path, or delete it yourself"
            )
        for p in others:
            p.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table("dcmx_cursor"):
                raise ConfigError(
                    f"{redact_url(url)} already holds a dcmx index; dcmx demo indexes a new "
                    "chain each run: give it a new SQLite file or an empty PostgreSQL database "
                    "or schema"
                )
            conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {MARKER} (note VARCHAR(100))")
            conn.exec_driver_sql(f"DELETE FROM {MARKER}")
            conn.execute(sa.text(f"INSERT INTO {MARKER} (note) VALUES (:n)"), {"n": _MARK})
    finally:
        engine.dispose()


def run_demo(url: str, *, rounds: int = 36, seed: int = 7, window: int = 128,
             bar: Progress | None = None) -> dict[str, Any]:
    """The demo without printing: returns what :func:`print_demo` shows. ``url`` is made a new
    demo database first (:func:`prepare`)."""
    prepare(url)
    from dcmx_core.sources.devchain import DevchainSource
    from dcmx_core.store.ledger import last_fork

    from . import platform_contracts
    from .devchain import Devchain
    from .simulator import Simulator

    # Main branch in three parts; the fork: 2 rounds on a branch that is then abandoned
    # for 3 rounds of different activity on a longer one.
    first, fork_old, fork_new = max(1, rounds - 8), 2, 3
    after = max(1, rounds - first)
    bar = bar or Progress(total=first + fork_old + fork_new + after + 12)
    bar.phase("starting the devchain and deploying the five contracts")
    chain = Devchain()
    sim = Simulator.on_devchain(chain, seed=seed, wallets=24)
    addresses = sim.deploy()
    bar.advance(2)
    forks: list[ForkReport] = []
    indexer = Indexer(
        DevchainSource(chain, confirmations=window),
        url,
        platform_contracts(addresses),
        entry_points=True,
        window=window,
        poll_interval=0.2,
        on_fork=forks.append,
    )
    txs = refused = 0

    def simulate(s: Simulator, n: int, what: str) -> None:
        nonlocal txs, refused
        bar.phase(f"{what}: {n} rounds of platform activity")
        report = s.run(n, on_round=lambda r, _rep: bar.advance(1, f"{what}: round {r + 1}/{n}"))
        txs += report.transactions
        refused += report.refused

    def index(what: str) -> None:
        bar.phase(f"indexing {what}")
        indexer.run()
        bar.advance(2, f"indexed up to block {indexer.cursor()}")

    simulate(sim, first, "main branch")
    index("the main branch")
    snapshot = chain.snapshot()
    other = sim.branch(seed + 1_000)
    simulate(sim, fork_old, "branch A (to be abandoned)")
    index("branch A")
    abandoned_head = chain.head
    chain.revert(snapshot)
    simulate(other, fork_new, "branch B (longer: the chain reorganises)")
    index("branch B (the indexer rolls back branch A)")
    simulate(other, after, "main branch, after the fork")
    index("the rest")
    bar.finish()
    if not forks:
        raise DcmxError("the demo staged a fork but the indexer saw none; please report this")
    return {
        "url": url,
        "engine": indexer.engine,
        "head": chain.head,
        "cursor": indexer.cursor(),
        "transactions": txs,
        "refused": refused,
        "abandoned_head": abandoned_head,
        "fork": forks[-1],
        "last_fork": last_fork(indexer.engine),
        "addresses": addresses,
        # what `dcmx demo --serve` keeps running
        "chain": chain, "sim": other, "indexer": indexer,
    }


def _coin(amount: int) -> str:
    return f"{amount / 10**18:,.2f}"


def demo_summary(engine: sa.Engine) -> dict[str, Any]:
    """Rows per table, top artists and reward totals of an indexed platform database."""
    from .nft import nft_index
    from .royalty import royalty_sales
    from .vault import reward_claims_index

    tables = [name for name, _ in tracked(engine)]
    rows = counts(engine, tables)
    n, s, c = nft_index.c, royalty_sales.c, reward_claims_index.c
    with engine.connect() as conn:
        artists: dict[str, dict[str, int]] = {}
        for artist, nfts in conn.execute(
            sa.select(n.artist, sa.func.count()).group_by(n.artist)
        ):
            artists[artist] = {"nfts": nfts, "sales": 0, "volume": 0}
        # Sums in Python: exact on any engine (see queries.trending_tracks).
        for artist, amount in conn.execute(
            sa.select(n.artist, s.amount).join(royalty_sales, s.nft_token_id == n.token_id)
        ):
            artists[artist]["sales"] += 1
            artists[artist]["volume"] += int(amount)
        rewards: dict[str, dict[str, int]] = {}
        for pool, status, amount in conn.execute(sa.select(c.pool, c.status, c.amount)):
            by = rewards.setdefault(pool, {})
            by[status] = by.get(status, 0) + int(amount)
    top = sorted(artists.items(), key=lambda kv: (-kv[1]["sales"], -kv[1]["volume"], kv[0]))
    return {"counts": rows, "top_artists": top[:5], "rewards": dict(sorted(rewards.items()))}


def print_demo(r: dict[str, Any]) -> None:
    summary = demo_summary(r["engine"])
    echo = click.echo
    fork = r["fork"]
    echo(f"dcmx demo: indexed the DCMX platform from an in-process devchain in "
         f"{r['seconds']:.1f} s")
    echo("")
    echo(f"chain       blocks 0..{r['head']}, {r['transactions']} transactions "
         f"({r['refused']} refused on purpose), indexed to block {r['cursor']}")
    echo(f"database    {r['url']}")
    echo("")
    echo("rows per table")
    width = max(len(t) for t in summary["counts"])
    for table, count in summary["counts"].items():
        echo(f"  {table:<{width}}  {count:>8}")
    echo(f"  {'total':<{width}}  {sum(summary['counts'].values()):>8}")
    echo("")
    echo("top artists (by sales)")
    for artist, a in summary["top_artists"]:
        echo(f"  {artist:<16} {a['nfts']:>3} NFTs  {a['sales']:>3} sales  "
             f"{_coin(a['volume'])} in sales volume")
    echo("")
    echo("reward totals (DCMX, by pool and claim status)")
    for pool, by in summary["rewards"].items():
        parts = ", ".join(f"{status} {_coin(v)}" for status, v in sorted(by.items()))
        echo(f"  {pool:<10} {parts}")
    echo("")
    echo("fork survived")
    echo(f"  branch A (blocks up to {r['abandoned_head']}) was replaced by a longer branch B")
    echo(f"  detected at block {fork.detected_at}, common ancestor block "
         f"{fork.common_ancestor}, depth {fork.depth} blocks, {fork.undone_writes} writes undone")
    echo("")
    path = sqlite_path(r["url"])
    if path is not None:
        echo(f"query it:    sqlite3 {path} 'select artist, title, owner from nft_index limit 5'")
    echo(f"status:      dcmx status --db {path or redact_url(r['url'])}")
