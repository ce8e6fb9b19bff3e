"""``Decoder.decode_rows`` (what the fetch workers run) gives what ``decode`` then ``rows`` give:
the same tables in the same order, the same rows, the same count, on both databases' forms,
and the same answer to logs that are not the contracts', do not decode, or contradict the
headers."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from bench import chainmix
from dcmx_core.batch import Batch
from dcmx_core.chain import Log
from dcmx_core.decode import Decoder
from dcmx_core.errors import InconsistentAnswer
from dcmx_core.sources.memory import TRANSFER_TOPIC, MemoryChain, transfer_log
from dcmx_plugins import platform_contracts

TOKEN = chainmix.ADDRESSES["DCMXToken"]
IMPOSTOR = bytes.fromhex("66" * 20)


@pytest.fixture(scope="module")
def chain() -> MemoryChain:
    chain, _ = chainmix.generate(6_000)
    a, b = bytes([1]) * 20, bytes([2]) * 20
    chain.append_block(
        [
            transfer_log(IMPOSTOR, a, b, 5),  # not a configured address: dropped
            (TOKEN, (TRANSFER_TOPIC, a.rjust(32, b"\0"), b.rjust(32, b"\0")), b"\1" * 7),  # short
            (TOKEN, (b"\7" * 32,), b""),  # no event of the contract: dropped
            transfer_log(TOKEN, a, b, 2**200),
        ]
    )
    return chain


@pytest.mark.parametrize("driver", ["sqlite+pysqlite", "postgresql+psycopg"])
def test_decode_rows_is_decode_then_rows(chain, driver, caplog):
    dialect = sa.engine.make_url(f"{driver}://").get_dialect()()
    decoder = Decoder(platform_contracts(chainmix.ADDRESSES), "tron", dialect)
    addresses = list(decoder.by_address)
    tables = set()
    for start in range(0, chain.head() + 1, 7):
        end = min(start + 6, chain.head())
        headers, logs = chain.headers(start, end), chain.logs(start, end, addresses)
        events = decoder.decode(logs, headers, start)
        expected = (len(events), decoder.rows(Batch(start, end, events, True)))
        with caplog.at_level(logging.WARNING, logger="dcmx.indexer"):
            assert decoder.decode_rows(logs, headers, start) == expected
        tables.update(name for name, _ in expected[1])
    assert len(tables) >= 20  # the mix's events, of all five contracts
    assert caplog.text.count("skipping undecodable log") == 2  # once by each path


def test_decode_rows_refuses_what_decode_refuses(chain):
    dialect = sa.engine.make_url("sqlite://").get_dialect()()
    decoder = Decoder(platform_contracts(chainmix.ADDRESSES), "tron", dialect)
    headers = chain.headers(1, 3)
    good = chain.logs(1, 3, list(decoder.by_address))[0]
    for bad in (good._replace(block_number=9), good._replace(block_hash=b"\0" * 32)):
        logs: list[Log] = [bad]
        with pytest.raises(InconsistentAnswer) as by_decode:
            decoder.decode(logs, headers, 1)
        with pytest.raises(InconsistentAnswer) as by_rows:
            decoder.decode_rows(logs, headers, 1)
        assert str(by_rows.value) == str(by_decode.value)
