"""``encode()`` is the exact inverse of ``decode``: every event of every real-world ABI, with
random values, round-trips through a log built independently by eth-abi, on both profiles."""

from __future__ import annotations

import json
from pathlib import Path

import eth_abi
import pytest
from eth_abi.grammar import BasicType, TupleType, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reference import _abi_files, _stem
from test_roundtrip_hypothesis import encoded_log, events
from util import module_for

from dcmx_core.addresses import to_tron
from dcmx_core.errors import EncodeError

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
ABIS = {_stem(p.name): json.loads(p.read_text()) for p in _abi_files(REFERENCE)}


def _values(node):
    """eth-abi input values of one parsed ABI type."""
    if node.arrlist:
        dims = node.arrlist[-1]
        item = _values(node.item_type)
        size = (0, 3) if not dims else (dims[0], dims[0])
        return st.lists(item, min_size=size[0], max_size=size[1]).map(tuple)
    if isinstance(node, TupleType):
        return st.tuples(*(_values(c) for c in node.components))
    assert isinstance(node, BasicType)
    base, sub = node.base, node.sub
    if base == "uint":
        return st.integers(0, 2**sub - 1)
    if base == "int":
        return st.integers(-(2 ** (sub - 1)), 2 ** (sub - 1) - 1)
    if base == "address":
        return st.binary(min_size=20, max_size=20)
    if base == "bool":
        return st.booleans()
    if base == "bytes":
        return st.binary(max_size=70) if sub is None else st.binary(min_size=sub, max_size=sub)
    if base == "string":
        return st.text(max_size=24)
    raise AssertionError(f"type {node.to_type_str()} not covered")


def _hashed(node) -> bool:
    """Indexed values stored as a hash: dynamic ones, arrays and tuples."""
    return bool(node.arrlist) or isinstance(node, TupleType) or (
        node.base in ("bytes", "string") and node.sub is None
    )


def _canonical(param) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param["components"])
        return f"({inner}){param['type'][len('tuple'):]}"
    return param["type"]


CASES = [
    (name, entry)
    for name, doc in sorted(ABIS.items())
    for entry in (doc["abi"] if isinstance(doc, dict) else doc)
    if entry.get("type") == "event"
]


@st.composite
def logs(draw, entry):
    """(topics, data) of a log of ``entry`` with random values, encoded by eth-abi."""
    topics = [] if entry.get("anonymous") else [None]  # topic0 filled in by the test
    data_types, data_values = [], []
    for p in entry["inputs"]:
        t = _canonical(p)
        node = parse(t)
        if p.get("indexed"):
            if _hashed(node):
                topics.append(draw(st.binary(min_size=32, max_size=32)))
            else:
                topics.append(eth_abi.encode([t], [draw(_values(node))]))
        else:
            data_types.append(t)
            data_values.append(draw(_values(node)))
    return topics, eth_abi.encode(data_types, data_values)


@pytest.mark.parametrize(
    ("abi", "entry"), CASES, ids=[f"{n}-{e['name']}-{i}" for i, (n, e) in enumerate(CASES)]
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), profile=st.sampled_from(["evm", "tron"]))
def test_every_reference_event_round_trips(abi, entry, data, profile):
    mod = module_for(ABIS[abi], profile, abi)
    signature = f"{entry['name']}({','.join(_canonical(p) for p in entry['inputs'])})"
    (cls,) = [c for c in mod.EVENTS if c.SIGNATURE == signature and c.ANONYMOUS ==
              bool(entry.get("anonymous"))]
    topics, raw = data.draw(logs(entry))
    if not cls.ANONYMOUS:
        topics[0] = cls.TOPIC0
    event = cls.decode(topics, raw)
    assert event.encode() == (tuple(topics), raw)  # the log back, byte for byte
    assert cls.decode(*event.encode()) == event  # and the event from it


def test_the_log_vectors_encode_back_exactly(reference):
    vectors = json.loads((reference / "abis" / "log_vectors.json").read_text())["vectors"]
    for v in vectors:
        mod = module_for(ABIS[_stem(v["abi_file"])], "evm", _stem(v["abi_file"]))
        topics = tuple(bytes.fromhex(t[2:]) for t in v["log"]["topics"])
        data = bytes.fromhex(v["log"]["data"][2:])
        assert mod.decode_log(topics, data).encode() == (topics, data), v["signature"]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(events())
def test_random_events_of_the_whole_type_grammar_round_trip(case):
    abi, *_ = case
    mod = module_for(abi, "evm", "Probe")
    (cls,) = mod.EVENTS
    topics, data = encoded_log(cls, case)
    event = cls.decode(topics, data)
    assert event.encode() == (tuple(topics), data)


def test_values_that_do_not_fit_are_refused_with_the_field_named():
    erc20 = module_for(ABIS["oz-5.7.0_ERC20"], "tron", "ERC20")
    holder = to_tron(b"\x01" * 20)
    with pytest.raises(EncodeError, match=r"Transfer\(address,address,uint256\): value"):
        erc20.Transfer(holder, holder, -1).encode()
    with pytest.raises(EncodeError, match=r"from_ \(address\): 'nope' is not an address"):
        erc20.Transfer("nope", holder, 1).encode()
    reader = module_for(ABIS["chainlink-1.5.0_ChainReaderTester"], "evm", "CRT")
    with pytest.raises(EncodeError, match="field_hash must be 32 bytes .*keccak hash"):
        reader.TriggeredEventWithDynamicTopic("the value, not its hash", "x").encode()
