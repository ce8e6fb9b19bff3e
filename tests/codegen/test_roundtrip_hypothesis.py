"""Random events across the whole type grammar, encoded by eth-abi, decoded by generated code."""

from __future__ import annotations

import dataclasses

import eth_abi
import hypothesis
import pytest
from eth_abi.grammar import TupleType, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from util import module_for, to_json_value

from dcmx_core.addresses import to_evm, to_tron
from dcmx_core.errors import DecodeError


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


def encoded_log(cls, case) -> tuple[list[bytes], bytes]:
    """The topics and data of a log of ``cls`` carrying an :func:`events` case's values (an
    indexed dynamic value as its drawn hash)."""
    _, types, indexed, values, topic_hashes = case
    topics, data_types, data_values = [cls.TOPIC0], [], []
    for t, ix, v, h in zip(types, indexed, values, topic_hashes, strict=True):
        if ix:
            topics.append(h if _hashed(t) else eth_abi.encode([t], [v]))
        else:
            data_types.append(t)
            data_values.append(v)
    return topics, eth_abi.encode(data_types, data_values)


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


# --- dynamic arrays of one-word items: decoded by generated code, not eth-abi -------------
#
# The generated decoder reads T[] (T a one-word type) itself, and is meant to accept exactly
# what eth-abi's strict decoder accepts. Events here have only words and such arrays in their
# data, so the specialised path is the one under test, and eth-abi is the reference both for
# valid data and for data with edited bytes, cut short or extended.


def _with_bounds(lo: int, hi: int):
    """Integers in [lo, hi], the bounds and their neighbours drawn often."""
    edges = sorted({x for x in (lo, lo + 1, 0, 1, hi - 1, hi) if lo <= x <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _word_type():
    uint = st.sampled_from(_SIZES).map(lambda n: (f"uint{n}", _with_bounds(0, 2**n - 1)))
    int_ = st.sampled_from(_SIZES).map(
        lambda n: (f"int{n}", _with_bounds(-(2 ** (n - 1)), 2 ** (n - 1) - 1))
    )
    fixed = st.integers(1, 32).map(
        lambda n: (
            f"bytes{n}",
            st.one_of(st.just(b"\xff" * n), st.binary(min_size=n, max_size=n)),
        )
    )
    other = st.sampled_from(
        [
            (
                "address",
                st.one_of(st.just(b"\xff" * 20), st.binary(min_size=20, max_size=20)),
            ),
            ("bool", st.booleans()),
        ]
    )
    return st.one_of(uint, int_, fixed, other)


@st.composite
def word_array_events(draw):
    """(types, indexed, values): 1-5 parameters, at least one of them an unindexed T[]."""
    n = draw(st.integers(1, 5))
    types, indexed, values = [], [], []
    for _ in range(n):
        t, v = draw(_word_type())
        if draw(st.integers(0, 3)):  # mostly arrays, 0 to 6 items (empty ones often)
            t, v = t + "[]", st.lists(v, max_size=6).map(tuple)
            ix = False  # an indexed array is only its hash: nothing to decode
        else:
            ix = draw(st.booleans()) and sum(indexed) < 3
        types.append(t)
        indexed.append(ix)
        values.append(draw(v))
    if not any(t.endswith("[]") for t in types):
        types[0], indexed[0] = "uint8[]", False
        values[0] = draw(st.lists(_with_bounds(0, 255), max_size=6).map(tuple))
    return types, indexed, values


def _word_array_module(types, indexed, profile):
    inputs = [
        {"type": t, "name": f"p{i}", "indexed": ix}
        for i, (t, ix) in enumerate(zip(types, indexed, strict=True))
    ]
    abi = [{"type": "event", "name": "Arrays", "anonymous": False, "inputs": inputs}]
    mod = module_for(abi, profile, "Arrays")
    # the specialised decoder, not the eth-abi fallback (an attribute _DATA_<n>)
    assert not [name for name in vars(mod) if name.startswith("_DATA_")]
    return mod


def _rendered(node, v, profile):
    """eth-abi's decoded value (hex addresses) as the generated code renders it."""
    if profile == "evm":
        return _checksummed(node, v)
    if node.arrlist:
        return tuple(_rendered(node.item_type, x, profile) for x in v)
    if node.base == "address":
        return to_tron(bytes.fromhex(v[2:]))
    return v


def _log(mod, types, indexed, values):
    """topics, data and the unindexed types of a log of the event, encoded by eth-abi."""
    (cls,) = mod.EVENTS
    topics = [cls.TOPIC0]
    topics += [
        eth_abi.encode([t], [v]) for t, ix, v in zip(types, indexed, values, strict=True) if ix
    ]
    data_types = [t for t, ix in zip(types, indexed, strict=True) if not ix]
    data_values = [v for v, ix in zip(values, indexed, strict=True) if not ix]
    return topics, eth_abi.encode(data_types, data_values), data_types


def _data_fields(event, indexed):
    values = [getattr(event, f.name) for f in dataclasses.fields(event)]
    return [v for v, ix in zip(values, indexed, strict=True) if not ix]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word_array_events(), st.sampled_from(["evm", "tron"]))
def test_word_arrays_decode_like_eth_abi(case, profile):
    types, indexed, values = case
    mod = _word_array_module(types, indexed, profile)
    topics, data, data_types = _log(mod, types, indexed, values)
    event = mod.decode_log(topics, data)
    expected = [
        _rendered(parse(t), v, profile)
        for t, v in zip(data_types, eth_abi.decode(data_types, data), strict=True)
    ]
    assert _data_fields(event, indexed) == expected
    assert len(event.sql_values()) == len(types)


def _edited(data: bytes, edits, resize: int) -> bytes:
    out = bytearray(data)
    for pos, byte in edits:
        if pos < len(out):
            out[pos] = byte
    return bytes(out[: len(out) + resize] if resize < 0 else out + b"\0" * resize)


# (position, new byte): anywhere, or the low / high bytes of a word, where offsets, lengths,
# small values and paddings live; new bytes are often small, so offsets stay plausible
_ARRAY_EDITS = st.lists(
    st.tuples(
        st.one_of(
            st.integers(0, 600),
            st.integers(0, 20).map(lambda i: 31 + 32 * i),
            st.integers(0, 20).map(lambda i: 30 + 32 * i),
            st.integers(0, 20).map(lambda i: 32 * i),
        ),
        st.one_of(st.integers(0, 8), st.sampled_from([0x20, 0x40, 0x60, 0x80, 0xFF])),
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    word_array_events(),
    _ARRAY_EDITS,
    st.one_of(st.just(0), st.integers(-64, 40), st.sampled_from([-32, -1, 32])),
)
def test_malformed_word_arrays_fail_like_eth_abi(case, edits, resize):
    """Whatever the bytes: the same value as eth-abi, or a DecodeError where eth-abi fails.

    Any other exception (IndexError, struct.error, MemoryError...) fails the test as it is.
    """
    types, indexed, values = case
    mod = _word_array_module(types, indexed, "evm")
    topics, data, data_types = _log(mod, types, indexed, values)
    data = _edited(data, edits, resize)
    try:
        expected = [
            _rendered(parse(t), v, "evm")
            for t, v in zip(data_types, eth_abi.decode(data_types, data), strict=True)
        ]
    except Exception:  # noqa: BLE001 - eth-abi raises several types; any means "invalid"
        expected = None
    hypothesis.event("eth-abi rejects" if expected is None else "eth-abi accepts")
    if expected is None:
        with pytest.raises(DecodeError, match="Arrays"):
            mod.decode_log(topics, data)
    else:
        assert _data_fields(mod.decode_log(topics, data), indexed) == expected
