"""A database remembers what it was built from and refuses to continue from something else:
a contract configured at another address (two tokens' events would mix in one table), a node
of another chain (reported as a deep fork before). The same chain and contracts continue,
a new contract is added beside the others, and a database an older dcmx made takes the facts
of its next run. SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from dcmx_core import ConfigError, Contract, Indexer
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import Store, create_engine
from dcmx_generated import dcmx_token, music_nft
from dcmx_plugins import token as token_plugin

from .snapshot import dump_tables

TOKEN = bytes.fromhex("22" * 20)
OTHER_TOKEN = bytes.fromhex("33" * 20)
NFT = bytes.fromhex("44" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 5)]
WINDOW = 6


def _chain(blocks: int, salt: bytes = b"") -> MemoryChain:
    chain = MemoryChain(finality_depth=WINDOW, salt=salt)
    for i in range(blocks):
        chain.append_block([
            transfer_log(TOKEN, WALLETS[i % 4], WALLETS[(i + 1) % 4], 5 + i),
            transfer_log(OTHER_TOKEN, WALLETS[(i + 2) % 4], WALLETS[i % 4], 1_000 + i),
        ])
    return chain


def _indexer(chain, url, *contracts: Contract) -> Indexer:
    contracts = contracts or (Contract("DCMXToken", dcmx_token, (TOKEN,)),)
    return Indexer(chain, url, list(contracts), plugins=[token_plugin], window=WINDOW,
                   profile="evm")


def _dump(url: str) -> dict:
    engine = create_engine(url)
    try:
        return dump_tables(engine)
    finally:
        engine.dispose()


def _facts(url: str) -> tuple[dict, set, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        facts = (Store.recorded_contracts(conn), Store.recorded_plugins(conn), Store.anchor(conn))
    engine.dispose()
    return facts


def test_what_a_database_is_built_from_is_recorded(db_url):
    chain = _chain(30)
    indexer = _indexer(chain, db_url)
    indexer.run()
    contracts, plugins, anchor = _facts(db_url)
    assert contracts == {"DCMXToken": frozenset({TOKEN})}
    assert plugins == {"token"}
    # the newest final block indexed (the ledger's anchor): on the chain, below the window
    assert anchor is not None and anchor.number == chain.head() - WINDOW
    assert chain.headers(anchor.number, anchor.number)[0].hash == anchor.block_hash
    with indexer.engine.connect() as conn:
        assert min(Store.recent_blocks(conn)) == anchor.number
    chain.extend(10)
    indexer.run()
    assert _facts(db_url)[2].number == chain.head() - WINDOW  # it moves with finality


@pytest.mark.parametrize("addresses", [(OTHER_TOKEN,), (TOKEN, OTHER_TOKEN)],
                         ids=["moved", "added"])
def test_a_contract_at_another_address_is_refused(addresses, db_url):
    chain = _chain(30)
    _indexer(chain, db_url).run()
    before = _dump(db_url)
    chain.extend(10)
    moved = _indexer(chain, db_url, Contract("DCMXToken", dcmx_token, addresses))
    with pytest.raises(ConfigError) as refused:
        moved.run()
    message = str(refused.value)
    assert f"contract DCMXToken was indexed into this database at 0x{'22' * 20}" in message
    assert "its tables would mix the events of both" in message
    assert "into a new database (--db)" in message
    assert _dump(db_url) == before  # nothing indexed, nothing mixed


def test_the_same_contracts_continue_and_a_new_one_is_added(db_url):
    chain = _chain(30)
    _indexer(chain, db_url).run()
    chain.extend(10)
    both = _indexer(chain, db_url, Contract("DCMXToken", dcmx_token, (TOKEN,)),
                    Contract("MusicNFT", music_nft, (NFT,)))
    assert both.run() == chain.head()
    contracts, _, _ = _facts(db_url)
    assert contracts == {"DCMXToken": frozenset({TOKEN}), "MusicNFT": frozenset({NFT})}
    again = _indexer(chain, db_url)  # MusicNFT left out: not a contradiction
    chain.extend(3)
    assert again.run() == chain.head()


def test_a_node_of_another_chain_is_refused_not_taken_for_a_deep_fork(db_url):
    chain = _chain(30)
    _indexer(chain, db_url).run()
    before = _dump(db_url)
    other = _chain(40, salt=b"another network")
    stranger = _indexer(other, db_url)
    with pytest.raises(ConfigError) as refused:
        stranger.run()
    message = str(refused.value)
    assert "the node follows another chain than the one this database was built from" in message
    assert "or index this one into a new database (--db)" in message
    assert "rollback" not in message
    assert _dump(db_url) == before

    # the same chain, seen through another MemoryChain object, continues
    same = _chain(40)
    assert _indexer(same, db_url).run() == same.head()


def test_a_node_behind_the_anchor_is_checked_once_it_gets_there(db_url):
    chain = _chain(30)
    _indexer(chain, db_url).run()
    anchor = _facts(db_url)[2]
    other = _chain(anchor.number - 1, salt=b"another network")  # behind the anchor block
    stranger = _indexer(other, db_url)
    assert not stranger.run_once()  # nothing to do yet, nothing refused
    for _ in range(40):
        other.append_block()
    with pytest.raises(ConfigError, match="another chain"):
        stranger.run_once()


def test_a_database_an_older_dcmx_made_takes_the_facts_of_its_next_run(db_url, caplog):
    chain = _chain(30)
    _indexer(chain, db_url).run()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dcmx_identity")
    engine.dispose()
    chain.extend(20)
    assert _indexer(chain, db_url).run() == chain.head()
    contracts, plugins, anchor = _facts(db_url)
    assert contracts == {"DCMXToken": frozenset({TOKEN})} and plugins == {"token"}
    assert anchor is not None and anchor.number == chain.head() - WINDOW  # of its next run

    # a plugin left out is said: its tables fall behind
    chain.extend(3)
    with caplog.at_level(logging.WARNING, logger="dcmx.indexer"):
        Indexer(chain, db_url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], window=WINDOW,
                profile="evm").run()
    assert "plugin(s) token built tables in this database and are not loaded" in caplog.text
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dcmx_identity")).scalar() == 3
    engine.dispose()
