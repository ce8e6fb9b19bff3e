"""Trending from the per-hour and all-time sales counts equals a query over every sale, after
forks and a rebuild, for windows that start on an hour, inside one, before every sale and after
all of them."""

from __future__ import annotations

import sqlalchemy as sa

from dcmx_plugins import queries
from dcmx_plugins.nft import HOUR, nft_index, track_sales, track_sales_hourly
from dcmx_plugins.royalty import royalty_sales

from .conftest import make_indexer, make_platform

WINDOW = 120


def _spread(p, rounds: int) -> None:
    """Simulate ``rounds`` rounds, each 40 minutes after the last: sales in several hours."""
    for _ in range(rounds):
        p.sim.run(1)
        block = p.chain.w3.eth.get_block("latest")
        p.chain.tester.time_travel(block["timestamp"] + 2400)


def reference(conn: sa.Connection, since: int, limit: int) -> list[queries.TrendingTrack]:
    """Trending as it was computed before the per-hour counts: over every sale since."""
    s, n = royalty_sales.c, nft_index.c
    tracks: dict[bytes, list[int]] = {}
    for h, amount in conn.execute(
        sa.select(n.content_hash, s.amount)
        .select_from(royalty_sales)
        .join(nft_index, n.token_id == s.nft_token_id)
        .where(s.sold_at >= since)
    ):
        tracks.setdefault(bytes(h), []).append(amount)
    names = _names(conn)
    top = sorted(tracks.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    return [queries.TrendingTrack(h, *names[h], len(v), sum(v)) for h, v in top]


def _names(conn: sa.Connection) -> dict[bytes, tuple[str, str]]:
    n = nft_index.c
    return {
        bytes(h): (t, a)
        for h, t, a in conn.execute(
            sa.select(n.content_hash, sa.func.min(n.title), sa.func.min(n.artist))
            .group_by(n.content_hash)
        )
    }


def assert_trending_exact(engine: sa.Engine) -> int:
    """trending_tracks equals the reference for windows of every kind; the sales counted."""
    s = royalty_sales.c
    with engine.connect() as conn:
        sold = sorted(conn.execute(sa.select(s.sold_at)).scalars())
        assert len({t // HOUR for t in sold}) >= 2  # whole hours and a partial one both count
        mid = sold[len(sold) // 2]
        hour = mid // HOUR * HOUR
        windows = {0, sold[0], hour, hour + 1, mid, mid + 1, hour + HOUR, sold[-1],
                   sold[-1] + 1, sold[-1] + 10 * HOUR, hour - 1}
        for since in sorted(windows):
            for limit in (1, 5, 1000):
                want = reference(conn, since, limit)
                assert queries.trending_tracks(conn, since=since, limit=limit) == want, since
    return len(sold)


def assert_counts_are_sales(engine: sa.Engine) -> None:
    """track_sales_hourly and track_sales equal a GROUP BY over the sales joined to their
    tracks (by hour and track, by track)."""
    s, n = royalty_sales.c, nft_index.c
    want: dict[tuple[int, bytes], list[int]] = {}
    with engine.connect() as conn:
        for sold_at, h, amount in conn.execute(
            sa.select(s.sold_at, n.content_hash, s.amount)
            .select_from(royalty_sales)
            .join(nft_index, n.token_id == s.nft_token_id)
        ):
            per = want.setdefault((sold_at // HOUR * HOUR, bytes(h)), [0, 0])
            per[0] += 1
            per[1] += amount
        got = {
            (hour, bytes(h)): [sales, volume]
            for hour, h, sales, volume in conn.execute(sa.select(track_sales_hourly))
        }
    assert got == want
    totals: dict[bytes, list[int]] = {}
    for (_hour, h), (sales, volume) in want.items():
        total = totals.setdefault(h, [0, 0])
        total[0] += sales
        total[1] += volume
    with engine.connect() as conn:
        stored = {bytes(h): [n, v] for h, n, v in conn.execute(sa.select(track_sales))}
    assert stored == totals


def test_trending_equals_every_sale_after_forks_and_rebuild(db_url):
    p = make_platform(seed=7, rounds=0, wallets=12)
    _spread(p, 8)
    indexer = make_indexer(p, db_url, window=WINDOW, confirmations=WINDOW)
    indexer.run()
    assert_counts_are_sales(indexer.engine)
    assert assert_trending_exact(indexer.engine) > 10
    with indexer.engine.connect() as conn:  # some track sold twice in an hour: counts add up
        assert conn.execute(sa.select(sa.func.max(track_sales_hourly.c.sales))).scalar() > 1

    base = p.chain.head
    snapshot = p.chain.snapshot()
    other = p.sim.branch(32)
    p.sim = p.sim.branch(31)
    _spread(p, 1)  # branch A, indexed: its sales counted, then rolled back
    head_a = p.chain.head
    assert indexer.run() == head_a
    with indexer.engine.connect() as conn:
        on_a = conn.execute(sa.select(sa.func.count()).select_from(royalty_sales)).scalar()
    p.chain.revert(snapshot)
    p.sim = other
    while p.chain.head <= head_a:  # branch B: other sales, longer
        _spread(p, 1)
    assert head_a - base < WINDOW
    indexer.run()
    assert indexer.cursor() == p.chain.head
    with indexer.engine.connect() as conn:
        on_b = conn.execute(sa.select(sa.func.count()).select_from(royalty_sales)).scalar()
    assert on_a != on_b  # the fork changed the sales: the counts had something to undo
    assert_counts_are_sales(indexer.engine)
    assert_trending_exact(indexer.engine)

    indexer.rebuild()
    assert_counts_are_sales(indexer.engine)
    assert_trending_exact(indexer.engine)
