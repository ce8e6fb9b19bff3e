"""Business-event lines (``event_log = "on"``): after a simulation, one JSON line per minted
NFT, reward claim, sale and acceptance, equal to the indexed rows; none while off (the
default), none for a batch that was rolled back, and nothing but the declared fields."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import PluginError
from dcmx_core.logs import setup_logging
from dcmx_core.settings import load
from dcmx_generated import compliance_registry, music_nft, reward_vault, royalty_distributor
from dcmx_plugins import eventlog

from .conftest import PLUGINS, make_indexer

# line name -> (raw event table, its columns in the line's fields order, the line's fields)
EXPECTED = {
    "nft_minted": (music_nft.Minted, ("token_id", "artist", "to_"),
                   ("token_id", "artist", "owner")),
    "reward_claimed": (reward_vault.RewardsClaimed, ("claim_id", "user_", "amount"),
                       ("claim_id", "wallet", "amount")),
    "nft_sold": (royalty_distributor.SaleRecorded, ("sale_id", "nft_token_id", "amount"),
                 ("sale_id", "token_id", "amount")),
    "terms_accepted": (compliance_registry.AcceptanceRecorded, ("user_", "version"),
                       ("wallet", "version")),
}


@pytest.fixture
def captured():
    stream = io.StringIO()
    yield stream
    setup_logging("human", "info")  # events off again for the tests that follow


def lines(stream: io.StringIO) -> list[dict]:
    out = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [o for o in out if o["logger"] == "dcmx.events"]


def indexed(engine: sa.Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for name, (cls, columns, _) in EXPECTED.items():
            t = cls.TABLE
            rows = conn.execute(sa.select(
                *(t.c[c] for c in columns), t.c.tx_hash, t.c.block_number, t.c.log_index
            )).all()
            out[name] = sorted(
                (*(str(v) if c == "amount" else v for c, v in zip(columns, r, strict=False)),
                 "0x" + bytes(r[-3]).hex(), r[-2], r[-1])
                for r in rows
            )
    return out


def logged(found: list[dict]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {name: [] for name in EXPECTED}
    for o in found:
        fields = EXPECTED[o["event"]][2]
        out[o["event"]].append(
            (*(o[f] for f in fields), o["tx"], o["block"], o["log_index"])
        )
    return {k: sorted(v) for k, v in out.items()}


def test_one_line_per_business_event_equal_to_the_indexed_rows(simulated, db_url, captured):
    setup_logging("human", "warning", stream=captured, events=True)  # JSON whatever the format
    indexer = make_indexer(simulated, db_url, plugins=[*PLUGINS, eventlog])
    indexer.run()
    found = lines(captured)
    want = indexed(indexer.engine)
    indexer.engine.dispose()
    assert all(want.values()), {k: len(v) for k, v in want.items()}  # each kind happened
    assert logged(found) == want
    allowed = {"ts", "level", "logger", "msg", "event", "contract", "tx", "block", "log_index",
               "block_time", "final"}
    for o in found:
        assert set(o) == allowed | set(eventlog.LINES[_cls(o["event"])][1]), o
        assert o["msg"] == o["event"] and isinstance(o["final"], bool)
    minted = next(o for o in found if o["event"] == "nft_minted")
    assert minted["artist"] and minted["title"] and minted["token_id"] >= 0


def _cls(event: str) -> type:
    return next(c for c, (name, _) in eventlog.LINES.items() if name == event)


def test_off_by_default(simulated, sqlite_url, captured):
    assert load(env={}).event_log == "off"
    setup_logging("json", "debug", stream=captured)
    make_indexer(simulated, sqlite_url, plugins=[*PLUGINS, eventlog]).run()
    assert captured.getvalue()  # the indexer's own lines, in JSON
    assert lines(captured) == []


class FailAt:
    """Fails the batch holding block ``n`` (after eventlog has recorded its lines)."""

    def __init__(self, n: int) -> None:
        self.n = n

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("failat", consumes=[music_nft.Minted], after=["eventlog"])

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        if batch.start <= self.n <= batch.end:
            raise RuntimeError("simulated failure")


def test_a_rolled_back_batch_logs_nothing(simulated, sqlite_url, captured):
    setup_logging("json", "info", stream=captured, events=True)
    engine = sa.create_engine(sqlite_url)
    probe = make_indexer(simulated, f"{sqlite_url}.probe", plugins=PLUGINS)
    probe.run()
    with probe.engine.connect() as conn:
        first_mint = conn.execute(
            sa.select(sa.func.min(music_nft.Minted.TABLE.c.block_number))).scalar_one()
    probe.engine.dispose()
    with pytest.raises(PluginError):
        make_indexer(simulated, sqlite_url,
                     plugins=[*PLUGINS, eventlog, FailAt(first_mint)]).run()
    assert all(o["block"] < first_mint for o in lines(captured))
    make_indexer(simulated, sqlite_url, plugins=[*PLUGINS, eventlog]).run()
    found = lines(captured)
    assert logged(found) == indexed(engine)  # each event once: none from the failed batch
    engine.dispose()
