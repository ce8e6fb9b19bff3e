"""The reads the platform's pages add to the queries (``dcmx_plugins.pages.reads``), on the
simulated platform: the same answers from SQLite and PostgreSQL (ExactInt is text on one,
NUMERIC on the other), and the figures the contracts' views give."""

from __future__ import annotations

import pytest

from dcmx_core.service.jsonenc import plain
from dcmx_plugins.pages import reads

from .conftest import make_indexer, tron


@pytest.fixture(scope="module")
def engines(simulated, tmp_path_factory, module_pg_url):
    out = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path_factory.mktemp('p') / 'i.db'}"),
                      ("postgresql", module_pg_url)):
        indexer = make_indexer(simulated, url)
        indexer.run()
        out[name] = indexer.engine
    yield out
    for engine in out.values():
        engine.dispose()


def both(engines, fn):
    answers = {}
    for name, engine in engines.items():
        with engine.connect() as conn:
            answers[name] = plain(fn(conn))
    assert answers["sqlite"] == answers["postgresql"]
    return answers["sqlite"]


def test_page_reads_agree_across_databases_and_with_the_contracts(engines, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    music, token = p.c["MusicNFT"], p.c["DCMXToken"]
    royalty = p.c["RoyaltyDistributor"]
    total = music.functions.totalSupply().call(tx)
    titles = {t: music.functions.tokenMetadata(t).call(tx)[0] for t in range(1, total + 1)}

    every = both(engines, lambda c: reads.search_nfts(c, q="", artist=None, genre=None,
                                                     limit=1000, offset=0))
    assert [n["token_id"] for n in every["items"]] == sorted(titles)
    word = titles[1].split()[0].lower()
    found = both(engines, lambda c: reads.search_nfts(c, q=word.upper(), artist=None,
                                                     genre=None, limit=1000, offset=0))
    assert {n["token_id"] for n in found["items"]} >= {
        t for t, title in titles.items() if word in title.lower()}

    facets = both(engines, reads.facets)
    for artist in facets["artists"]:
        a = both(engines, lambda c, artist=artist: reads.artist(c, artist))
        assert sum(t["minted"] for t in a["tracks"]) == a["nfts"]
        assert sum(int(x["sales"]) for x in a["series"]) == int(a["sales_volume"])
        assert sum(int(x["credited"]) for x in a["series"]) == int(a["credited"])
        pending = sum(royalty.functions.pendingRoyalties(w).call(tx)
                      for w in p.sim.wallets if tron(w) in a["wallets"])
        assert int(a["pending"]) == pending, artist

    for wallet in p.sim.wallets[:8]:
        w = tron(wallet)
        summary = both(engines, lambda c, w=w: reads.wallet_summary(c, w))
        assert int(summary["balance"]) == token.functions.balanceOf(wallet).call(tx)
        claims = summary["rewards"]["claims"]
        assert sum(int(v) for by in summary["by_pool"].values() for v in by.values()) == sum(
            int(c["amount"]) for c in claims)
        pages, before = [], None
        while True:
            page = both(engines, lambda c, w=w, b=before: reads.wallet_transactions(
                c, w, limit=2, before=b))
            pages += page["items"]
            before = page["before"]
            if before is None:
                break
        everything = both(engines, lambda c, w=w: reads.wallet_transactions(
            c, w, limit=10_000, before=None))
        assert pages == everything["items"]
        both(engines, lambda c, w=w: reads.compliance(c, w))

    top = both(engines, lambda c: reads.trending(c, since=0, limit=5))
    assert top and [t["sales"] for t in top] == sorted((t["sales"] for t in top), reverse=True)
