"""The demo: the DCMX platform on an in-process devchain, with a fork, indexed into SQLite.

Deploys the five contracts, simulates platform activity on a main branch, stages a fork (a
branch that a longer one replaces), indexes all of it with the built-in plugins, and summarises
what was indexed.
"""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy as sa

from dcmx_core import ForkReport, Indexer
from dcmx_core.cli.common import counts, sqlite_path, tracked
from dcmx_core.errors import DcmxError
from dcmx_core.progress import Progress
from dcmx_core.redaction import redact_url

__all__ = ["DEMO_DB", "demo_summary", "print_demo", "run_demo"]

DEMO_DB = "dcmx-demo.db"


def run_demo(url: str, *, rounds: int = 36, seed: int = 7, window: int = 128,
             bar: Progress | None = None) -> dict[str, Any]:
    """The demo without printing: returns what :func:`print_demo` shows."""
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
