"""A string with a NUL in an event (any minter can put one in a title) is indexed on both
databases: PostgreSQL text cannot hold a NUL, so there it becomes U+FFFD instead of stopping
the indexer for good."""

from __future__ import annotations

import eth_abi
import sqlalchemy as sa

from dcmx_core import Contract, Indexer
from dcmx_core.sources.memory import MemoryChain
from dcmx_generated import music_nft

NFT = b"\x44" * 20


def test_a_nul_in_an_event_string_does_not_stop_indexing(db_url):
    chain = MemoryChain(finality_depth=2)
    uris = [f"ipfs://x\x00{i}" for i in range(200)]  # enough rows for PostgreSQL's COPY path
    for k in range(0, len(uris), 50):
        chain.append_block([
            (NFT, (music_nft.BaseURIUpdated.TOPIC0,), eth_abi.encode(["string"], [u]))
            for u in uris[k : k + 50]
        ])
    chain.append_block([
        (NFT, (music_nft.BaseURIUpdated.TOPIC0,), eth_abi.encode(["string"], ["tail\x00"]))
    ])  # a block inside the window: a single row, the executemany path and the journal
    indexer = Indexer(chain, db_url, [Contract("MusicNFT", music_nft, (NFT,))], plugins=(),
                      window=2)
    indexer.run()
    table = music_nft.BaseURIUpdated.TABLE
    with indexer.engine.connect() as conn:
        stored = conn.execute(
            sa.select(table.c.base_uri).order_by(table.c.block_number, table.c.log_index)
        ).scalars().all()
        shown = conn.exec_driver_sql("SELECT count(*) FROM blockchain_events").scalar()
    sent = [*uris, "tail\x00"]
    if indexer.engine.dialect.name == "postgresql":
        sent = [u.replace("\x00", "\ufffd") for u in sent]
    assert stored == sent and shown == len(sent)
