"""JsonRpcSource's inline eth_getLogs parser against the reference it must agree with: ``_log``
on every entry, then the range / address / topic0 / block-hash / duplicate checks, on answers
well-formed and mangled in every way a node (or a proxy) can mangle them. Same logs, or the
same error with the same message."""

from __future__ import annotations

import copy
import random

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmx_core.chain import Log
from dcmx_core.http import Inconsistent, Malformed
from dcmx_core.sources import jsonrpc
from dcmx_core.sources.jsonrpc import JsonRpcSource

TOKEN = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
OTHER = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
TRANSFER = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
APPROVAL = bytes.fromhex("8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925")
WANTED = frozenset({TOKEN})
TOPICS = frozenset({TRANSFER})


def reference(result, lo, hi, wanted, topic_set) -> list[Log]:
    """What the source did before it parsed inline: the specification of _parse_logs."""
    if not isinstance(result, list):
        raise Malformed(f"eth_getLogs result is {type(result).__name__}, expected a list")
    logs = [log for i, obj in enumerate(result) if (log := jsonrpc._log(obj, i)) is not None]
    block_hashes: dict[int, bytes] = {}
    for log in logs:
        problem = None
        if not lo <= log.block_number <= hi:
            problem = f"a log of block {log.block_number}, outside the requested {lo}..{hi}"
        elif log.address not in wanted:
            problem = f"a log of 0x{log.address.hex()}, which was not asked for"
        elif topic_set is not None and (not log.topics or log.topics[0] not in topic_set):
            problem = "a log whose topic0 was not asked for"
        elif block_hashes.setdefault(log.block_number, log.block_hash) != log.block_hash:
            problem = f"logs of two different blocks numbered {log.block_number}"
        if problem:
            raise Inconsistent(f"eth_getLogs returned {problem} (the node is mid-reorg or faulty)")
    logs.sort(key=lambda log: (log.block_number, log.log_index))
    for a, b in zip(logs, logs[1:], strict=False):
        if (a.block_number, a.log_index) == (b.block_number, b.log_index):
            raise Inconsistent(
                f"eth_getLogs returned log {a.log_index} of block {a.block_number} twice"
            )
    return logs


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except (Malformed, Inconsistent) as exc:  # Inconsistent is a Malformed: compare the class
        return type(exc).__name__, str(exc)


def answer(rng: random.Random, blocks: int = 4, per_tx: int = 3) -> list[dict]:
    """A well-formed eth_getLogs answer for blocks 100.., a few transactions each."""
    holders = ["0x" + bytes(12).hex() + rng.randbytes(20).hex() for _ in range(5)]
    out = []
    for number in range(100, 100 + blocks):
        block_hash = "0x" + rng.randbytes(32).hex()
        index = 0
        for tx in range(rng.randint(0, 2)):
            tx_hash = "0x" + rng.randbytes(32).hex()
            for _ in range(rng.randint(1, per_tx)):
                out.append(
                    {
                        "address": "0x" + TOKEN.hex(),
                        "topics": ["0x" + TRANSFER.hex(), rng.choice(holders), rng.choice(holders)],
                        "data": "0x" + rng.randbytes(32).hex(),
                        "blockHash": block_hash,
                        "blockNumber": hex(number),
                        "blockTimestamp": hex(1_700_000_000 + number),
                        "transactionHash": tx_hash,
                        "transactionIndex": hex(tx),
                        "logIndex": hex(index),
                        "removed": False,
                    }
                )
                index += 1
    return out


HEX_FIELDS = (
    "address",
    "data",
    "blockHash",
    "transactionHash",
    "blockNumber",
    "transactionIndex",
    "logIndex",
)


def mangle(rng: random.Random, logs: list[dict]) -> list:
    """One of the ways an answer goes wrong, or is merely unusual but valid."""
    logs = copy.deepcopy(logs)
    if not logs:
        return logs
    i = rng.randrange(len(logs))
    entry = logs[i]
    key = rng.choice(HEX_FIELDS)
    kind = rng.randrange(24)
    try:  # earlier mangling may have left no dict, key or string here
        if kind == 0:
            entry[key] = "0X" + entry[key][2:].upper()  # 0X prefix, upper-case digits
        elif kind == 1:
            entry[key] = entry[key][2:]  # no prefix (TRON's HTTP API style)
        elif kind == 2:
            entry[key] = entry[key] + "0"  # odd length
        elif kind == 3:
            entry[key] = entry[key][:-2]  # a byte short
        elif kind == 4:
            entry[key] = entry[key][:-1] + "g"  # not hex
        elif kind == 5:
            del entry[key]
        elif kind == 6:
            entry[key] = rng.choice([None, 7, 1.5, True, [], {}, ["0x00"]])
        elif kind == 7:
            entry["removed"] = rng.choice([True, "false", None, 0, 1])
        elif kind == 8:
            entry["blockNumber"] = hex(rng.choice([99, 100 + 50, 100]))  # maybe outside the range
        elif kind == 9:
            entry["address"] = "0x" + rng.choice([OTHER, TOKEN]).hex()
        elif kind == 10:
            entry["topics"][0] = "0x" + rng.choice([APPROVAL, TRANSFER]).hex()
        elif kind == 11:
            entry["blockHash"] = "0x" + rng.randbytes(32).hex()  # a second hash for the block
        elif kind == 12:
            logs.insert(rng.randrange(len(logs) + 1), copy.deepcopy(entry))  # the same log twice
        elif kind == 13:
            rng.shuffle(logs)
        elif kind == 14:
            entry["topics"] = entry["topics"] + ["0x" + bytes(32).hex()] * rng.randint(1, 2)
        elif kind == 15:
            entry["topics"] = rng.choice([[], None, "0x00", {"0": 1}, [None], [7], [[]]])
        elif kind == 16:
            entry["topics"][rng.randrange(len(entry["topics"]))] = rng.choice(
                [
                    "0x" + bytes(20).hex(),
                    "0X" + TRANSFER.hex().upper(),
                    TRANSFER.hex(),
                    "0x",
                    "0xzz",
                ]
            )
        elif kind == 17:
            logs[i] = rng.choice([None, [], "log", 3])
        elif kind == 18:
            entry[key] = entry[key][:2] + " " + entry[key][2:]  # whitespace fromhex skips
        elif kind == 19:
            entry["blockNumber"] = rng.choice(["0x", "0x_1", "0x6_4", "0x64 ", "0x+64", "64"])
        elif kind == 20:
            entry["data"] = rng.choice(["0x", "0x" + "00" * 96, "0x0"])
        elif kind == 21:
            entry["logIndex"] = entry["logIndex"].replace("0x", "0x0")  # leading zero: same number
        elif kind == 22:
            # the first block's hash text here: a run of equal text breaks, or a block gets two
            entry["blockHash"] = logs[0]["blockHash"]
        else:
            pass  # unchanged
    except (TypeError, KeyError, AttributeError, IndexError, ValueError):
        pass
    return logs


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    mangles=st.integers(0, 3),
    topics=st.booleans(),
    span=st.sampled_from([(100, 103), (100, 101), (101, 150), (0, 10**9)]),
)
def test_inline_parser_agrees_with_the_reference(seed, mangles, topics, span):
    rng = random.Random(seed)
    logs = answer(rng)
    for _ in range(mangles):
        logs = mangle(rng, logs)
    topic_set = TOPICS if topics else None
    source = JsonRpcSource("http://127.0.0.1:1")
    expected = outcome(reference, logs, *span, WANTED, topic_set)
    # Twice on one source: the second time through the caches the first one filled.
    assert outcome(source._parse_logs, logs, *span, WANTED, topic_set) == expected
    assert outcome(source._parse_logs, logs, *span, WANTED, topic_set) == expected


@pytest.mark.parametrize("key", [*HEX_FIELDS, "topics", "removed"])
def test_every_field_of_every_type_at_the_start_and_inside_a_run(key):
    """The inline parser reuses a conversion while a field's text stays the same: a JSON null
    (or any non-text) in the first entry, or after a valid one, must not pass for it."""
    base = answer(random.Random(4), blocks=2, per_tx=3)
    source = JsonRpcSource("http://127.0.0.1:1")
    for position in (0, 1, len(base) - 1):
        for value in (None, 0, 7, 1.5, True, False, [], {}, "", "0x", "0x0", "0x00"):
            logs = copy.deepcopy(base)
            logs[position][key] = value
            expected = outcome(reference, logs, 0, 10**9, WANTED, None)
            assert outcome(source._parse_logs, logs, 0, 10**9, WANTED, None) == expected, (
                position,
                value,
            )


def test_a_malformed_entry_is_reported_before_an_inconsistent_one():
    logs = answer(random.Random(1), blocks=3)
    logs[0]["address"] = "0x" + OTHER.hex()  # inconsistent: not asked for
    del logs[-1]["data"]  # malformed, later in the answer
    source = JsonRpcSource("http://127.0.0.1:1")
    with pytest.raises(Malformed, match="lacks 'data'") as caught:
        source._parse_logs(logs, 0, 10**9, WANTED, None)
    assert not isinstance(caught.value, Inconsistent)


def test_values_are_shared_not_copied_and_the_caches_stay_bounded(monkeypatch):
    monkeypatch.setattr(jsonrpc, "_HEX_CACHE", 8)
    rng = random.Random(2)
    logs = answer(rng, blocks=40, per_tx=5)
    source = JsonRpcSource("http://127.0.0.1:1")
    got = source._parse_logs(logs, 0, 10**9, WANTED, None)
    assert got == reference(logs, 0, 10**9, WANTED, None)
    assert len({id(log.address) for log in got}) == 1
    assert len({id(log.topics[0]) for log in got}) <= 2  # once more after a cache clearing
    assert len(source._addresses) <= 8 and len(source._topics) <= 8


def test_bloom_masks_match_the_yellow_paper_definition():
    """M3:2048: the low 11 bits of each of the first three byte pairs of the keccak; bit b of
    the bloom is bit (b % 8) of byte 255 - b // 8."""
    rng = random.Random(3)
    for item in [TOKEN, TRANSFER, *(rng.randbytes(rng.choice([20, 32])) for _ in range(200))]:
        digest = keccak(item)
        bloom = bytearray(256)
        for i in (0, 2, 4):
            bit = int.from_bytes(digest[i : i + 2], "big") & 2047
            bloom[255 - bit // 8] |= 1 << (bit % 8)
        as_int = int.from_bytes(bloom, "big")
        assert jsonrpc._bloom_mask(item) == as_int
        assert jsonrpc._in_bloom(as_int, item)
        assert jsonrpc._in_bloom(as_int | (1 << rng.randrange(2048)), item)
        assert not jsonrpc._in_bloom(as_int & ~(1 << (as_int.bit_length() - 1)), item)
