"""Random events across the whole type grammar, encoded by eth-abi, decoded by generated code."""

from __future__ import annotations

import eth_abi
from eth_abi.grammar import TupleType, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from util import module_for, to_json_value

from dcmx_core.addresses import to_evm


def _checksummed(node, v):
    """eth-abi decodes addresses to lower-case hex; the evm profile renders EIP-55."""
    if node.arrlist:
        return tuple(_checksummed(node.item_type, x) for x in v)
    if isinstance(node, TupleType):
        return tuple(_checksummed(c, x) for c, x in zip(node.components, v, strict=True))
    if node.base == "address":
        return to_evm(bytes.fromhex(v[2:]))
    return v


_SIZES = list(range(8, 257, 8))


def _elementary():
    uint = st.sampled_from(_SIZES).map(
        lambda n: ({"type": f"uint{n}"}, f"uint{n}", st.integers(0, 2**n - 1))
    )
    int_ = st.sampled_from(_SIZES).map(
        lambda n: ({"type": f"int{n}"}, f"int{n}", st.integers(-(2 ** (n - 1)), 2 ** (n - 1) - 1))
    )
    fixed = st.integers(1, 32).map(
        lambda n: ({"type": f"bytes{n}"}, f"bytes{n}", st.binary(min_size=n, max_size=n))
    )
    simple = st.sampled_from(
        [
            ({"type": "address"}, "address", st.binary(min_size=20, max_size=20)),
            ({"type": "bool"}, "bool", st.booleans()),
            ({"type": "bytes"}, "bytes", st.binary(max_size=70)),
            ({"type": "string"}, "string", st.text(max_size=20)),
        ]
    )
    return st.one_of(uint, int_, fixed, simple)


def _array(inner):
    def build(args):
        (entry, canon, values), length = args
        suffix = "[]" if length is None else f"[{length}]"
        lo, hi = (0, 3) if length is None else (length, length)
        return (
            {**entry, "type": entry["type"] + suffix},
            canon + suffix,
            st.lists(values, min_size=lo, max_size=hi).map(tuple),
        )

    return st.tuples(inner, st.one_of(st.none(), st.integers(1, 3))).map(build)


def _tuple(inner):
    def build(members):
        comps = [{**e, "name": f"m{i}"} for i, (e, _, _) in enumerate(members)]
        return (
            {"type": "tuple", "components": comps},
            "(" + ",".join(c for _, c, _ in members) + ")",
            st.tuples(*(v for _, _, v in members)),
        )

    return st.lists(inner, min_size=1, max_size=3).map(build)


def _types(depth: int):
    if depth == 0:
        return _elementary()
    inner = _types(depth - 1)
    return st.one_of(_elementary(), _array(inner), _tuple(inner))


# depth 3 gives structs nested three deep (and arrays of them)
TYPES = _types(3)


def _hashed(t: str) -> bool:
    return t in ("bytes", "string") or t.endswith("]") or t.startswith("(")


@st.composite
def events(draw):
    n = draw(st.integers(1, 5))
    params = [draw(TYPES) for _ in range(n)]
    indexed = [draw(st.booleans()) for _ in range(n)]
    while sum(indexed) > 3:
        indexed[indexed.index(True)] = False
    inputs = [
        {**entry, "name": f"p{i}", "indexed": ix}
        for i, ((entry, _, _), ix) in enumerate(zip(params, indexed, strict=True))
    ]
    abi = [{"type": "event", "name": "Probe", "anonymous": False, "inputs": inputs}]
    values = [draw(v) for _, _, v in params]
    topic_hashes = [draw(st.binary(min_size=32, max_size=32)) for _ in range(n)]
    return abi, [c for _, c, _ in params], indexed, values, topic_hashes


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(events())
def test_generated_decoder_matches_eth_abi(case):
    abi, types, indexed, values, topic_hashes = case
    mod = module_for(abi, "evm", "Probe")
    (cls,) = mod.EVENTS
    topics = [cls.TOPIC0]
    expected = []
    data_types, data_values = [], []
    for t, ix, v, h in zip(types, indexed, values, topic_hashes, strict=True):
        if not ix:
            data_types.append(t)
            data_values.append(v)
            expected.append(None)
            continue
        hashed = _hashed(t)
        word = h if hashed else eth_abi.encode([t], [v])
        topics.append(word)
        expected.append(word if hashed else eth_abi.decode([t], word)[0])
    data = eth_abi.encode(data_types, data_values)
    decoded_data = list(eth_abi.decode(data_types, data))
    expected = [
        decoded_data.pop(0) if e is None and not ix else e
        for e, ix in zip(expected, indexed, strict=True)
    ]

    event = mod.decode_log(topics, data)
    assert isinstance(event, cls)
    expected = [
        e
        if ix and not isinstance(e, str | int | bool) and len(e) == 32 and _hashed(t)
        else _checksummed(parse(t), e)
        for t, ix, e in zip(types, indexed, expected, strict=True)
    ]
    assert to_json_value(event) == to_json_value(expected)
    # JSON-safe views never raise and keep big ints exact
    assert len(event.sql_values()) == len(types)
    assert list(event.args()) == [f"p{i}" for i in range(len(types))]
