"""The fast paths of generated decoders: instances built without ``__init__``, inline
bytes/string reading and the head struct stay exactly as strict as word-by-word decoding."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import eth_abi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from util import module_for

from dcmx_core import abi_runtime as _rt
from dcmx_core.addresses import to_evm, to_tron
from dcmx_core.errors import DecodeError
from dcmx_generated import dcmx_token, music_nft, royalty_distributor

A = bytes(12) + b"\x11" * 20
B = bytes(12) + b"\x22" * 20


def _minted_log():
    data = eth_abi.encode(
        ["string", "string", "string", "uint32", "uint32", "address", "uint96"],
        ["Song ✓", "Some Artist", "", 1, 10, B[12:], 2**96 - 1],
    )
    return [music_nft.Minted.TOPIC0, A, (7).to_bytes(32, "big"), b"\x33" * 32], data


def _same_instance(decoded, cls):
    built = cls(*(getattr(decoded, f.name) for f in dataclasses.fields(cls)))
    assert type(decoded) is cls
    assert decoded == built and built == decoded
    assert hash(decoded) == hash(built)
    assert repr(decoded) == repr(built)
    assert dataclasses.astuple(decoded) == dataclasses.astuple(built)
    assert not hasattr(decoded, "__dict__")
    for f in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(decoded, f.name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(decoded, f.name)
    assert pickle.loads(pickle.dumps(decoded)) == built
    assert copy.deepcopy(decoded) == built
    assert dataclasses.replace(decoded) == built
    assert decoded.sql_values() == built.sql_values() and decoded.args() == built.args()


def test_decoded_instances_are_ordinary_frozen_instances():
    topics, data = _minted_log()
    minted = music_nft.Minted.decode(topics, data)
    assert minted.title == "Song ✓" and minted.genre == "" and minted.royalty_bps == 2**96 - 1
    _same_instance(minted, music_nft.Minted)
    t = dcmx_token.Transfer
    _same_instance(t.decode([t.TOPIC0, A, B], (5).to_bytes(32, "big")), t)


def test_subclass_decode_goes_through_its_constructor():
    class Sub(music_nft.Minted):  # has a __dict__: another layout
        pass

    topics, data = _minted_log()
    sub = Sub.decode(topics, data)
    assert type(sub) is Sub
    assert dataclasses.astuple(sub) == dataclasses.astuple(music_nft.Minted.decode(topics, data))


def test_layout_twin_refuses_other_classes():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    with pytest.raises(TypeError):
        _rt.layout_twin(NoSlots)


# --- strictness: the fast paths against a word-by-word reference --------------------------

PARAMS = [
    ("string", "s"),
    ("bytes", "b"),
    ("uint32", "u"),
    ("address", "a"),
    ("uint96", "big"),
    ("uint256", "x"),
    ("uint8", "small"),
    ("int16", "i"),
    ("bool", "f"),
    ("bytes3", "fb"),
    ("string", "t"),
]
ABI = [
    {
        "type": "event",
        "name": "Probe",
        "anonymous": False,
        "inputs": [{"type": "address", "name": "who", "indexed": True}]
        + [{"type": t, "name": n, "indexed": False} for t, n in PARAMS],
    },
    {
        "type": "event",
        "name": "Single",
        "anonymous": False,
        "inputs": [{"type": "string", "name": "s", "indexed": False}],
    },
]


def _reference(sig: str, params, data: bytes) -> list:
    """Word-by-word decoding with the runtime readers: the semantics before the fast paths.

    Arrays (``T[]`` of one-word ``T``) follow eth-abi's strict decoder, which decoded them
    before: an offset into the head is refused, and so is anything that does not fit in data.
    """
    head = 32 * len(params)
    if len(data) < head:
        raise _rt.fail(sig, f"data is {len(data)} bytes, expected at least {head}")
    out = []
    for k, (t, n) in enumerate(params):
        pos = 32 * k
        if t == "string":
            out.append(_rt.read_string(data, pos, sig, n))
        elif t == "bytes":
            out.append(_rt.read_bytes(data, pos, sig, n))
        elif t.endswith("[]"):
            out.append(_reference_array(sig, t[:-2], n, data, pos, head))
        else:
            out.append(_reference_word(sig, t, n, data[pos : pos + 32]))
    return out


def _reference_array(sig: str, t: str, n: str, data: bytes, pos: int, head: int) -> tuple:
    offset = int.from_bytes(data[pos : pos + 32], "big")
    if not head <= offset <= len(data) - 32:
        raise _rt.fail(sig, f"offset of {n} does not point into the tail of data")
    count = int.from_bytes(data[offset : offset + 32], "big")
    start, end = offset + 32, offset + 32 + 32 * count
    if end > len(data):
        raise _rt.fail(sig, f"{n}: {count} items need {end} bytes of data, got {len(data)}")
    return tuple(_reference_word(sig, t, n, data[i : i + 32]) for i in range(start, end, 32))


def _reference_word(sig: str, t: str, n: str, word: bytes):
    if t.startswith("uint"):
        v = int.from_bytes(word, "big")
        if v >> int(t[4:]):
            raise _rt.fail(sig, f"{n}: {t} out of range")
        return v
    if t.startswith("int"):
        v = int.from_bytes(word, "big", signed=True)
        half = 2 ** (int(t[3:]) - 1)
        if not -half <= v < half:
            raise _rt.fail(sig, f"{n}: {t} out of range")
        return v
    if t == "address":
        if word[:12] != bytes(12):
            raise _rt.fail(sig, f"{n}: address with non-zero padding")
        return to_evm(word[12:])
    if t == "bool":
        if word not in (_rt.ZERO32, _rt.TRUE32):
            raise _rt.fail(sig, f"{n}: bool word is neither 0 nor 1")
        return word == _rt.TRUE32
    size = int(t[5:])  # bytesN
    if word[size:] != bytes(32 - size):
        raise _rt.fail(sig, f"{n}: {t} with non-zero padding")
    return word[:size]


def _outcome(fn):
    try:
        return ("ok", fn())
    except DecodeError as exc:
        return ("error", str(exc))


_VALUES = st.tuples(
    st.text(max_size=40),
    st.binary(max_size=70),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=20, max_size=20),
    st.integers(0, 2**96 - 1),
    st.integers(0, 2**256 - 1),
    st.integers(0, 255),
    st.integers(-(2**15), 2**15 - 1),
    st.booleans(),
    st.binary(min_size=3, max_size=3),
    st.text(max_size=5),
)
# (position, new byte) edits; positions favour the head and the first length words
_EDITS = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 400), st.integers(0, 40).map(lambda i: 31 + 32 * i)),
        st.integers(0, 255),
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, _EDITS, st.integers(-40, 40), st.booleans())
def test_fast_paths_match_word_by_word_decoding(values, edits, resize, single):
    mod = module_for(ABI, "evm", "FastProbe")
    if single:
        cls, params, values = mod.Single, [("string", "s")], values[:1]
        topics = [cls.TOPIC0]
    else:
        cls, params = mod.Probe, PARAMS
        topics = [cls.TOPIC0, A]
    data = bytearray(eth_abi.encode([t for t, _ in params], list(values)))
    for pos, byte in edits:
        if pos < len(data):
            data[pos] = byte
    data = bytes(data[: len(data) + resize] if resize < 0 else data + b"\0" * resize)

    def fast():
        event = cls.decode(topics, data)
        return [getattr(event, f.name) for f in dataclasses.fields(cls)][-len(params) :]

    got = _outcome(fast)
    want = _outcome(lambda: _reference(cls.SIGNATURE, params, data))
    assert got == want
    if not edits and resize >= 0:
        assert got[0] == "ok"


def test_fast_string_path_rejects_each_malformation():
    mod = module_for(ABI, "evm", "FastProbe")
    cls = mod.Single
    good = eth_abi.encode(["string"], ["hello"])
    assert cls.decode([cls.TOPIC0], good).s == "hello"
    word = lambda n: n.to_bytes(32, "big")  # noqa: E731
    bad = {
        "points past the end": word(96) + good[32:],
        "offset of s": word(2**64) + good[32:],
        "needs 96 bytes": good[:64] + b"hello",
        "non-zero padding": good[:-1] + b"\1",
        "not valid UTF-8": word(32) + word(2) + b"\xff\xfe" + bytes(30),
    }
    for why, data in bad.items():
        with pytest.raises(DecodeError, match="Single") as info:
            cls.decode([cls.TOPIC0], data)
        assert why in str(info.value)
    # non-canonical but in bounds: accepted, like the runtime reader does
    back = word(32) + word(0) + word(5) + b"hello" + bytes(27)
    assert cls.decode([cls.TOPIC0], word(64) + back[32:]).s == "hello"


def test_head_struct_checks_the_high_bytes_of_offsets_and_small_ints():
    mod = module_for(ABI, "evm", "FastProbe")
    cls = mod.Probe
    values = ["x", b"y", 1, b"\x01" * 20, 2, 3, 4, -5, True, b"abc", "z"]
    good = eth_abi.encode([t for t, _ in PARAMS], values)
    assert cls.decode([cls.TOPIC0, A], good).t == "z"
    off = int.from_bytes(good[:32], "big")
    cases = {
        "offset of s": (2**64 + off).to_bytes(32, "big") + good[32:],
        "u: uint32 out of range": good[:64] + (2**32 + 1).to_bytes(32, "big") + good[96:],
        "small: uint8 out of range": good[:192] + (256 + 4).to_bytes(32, "big") + good[224:],
        "big: uint96 out of range": good[:128] + (2**96).to_bytes(32, "big") + good[160:],
        "a: address with non-zero padding": good[:96] + b"\1" * 32 + good[128:],
    }
    for why, data in cases.items():
        with pytest.raises(DecodeError, match="Probe") as info:
            cls.decode([cls.TOPIC0, A], data)
        assert why in str(info.value)


# --- dynamic arrays of one-word items ------------------------------------------------------

ARRAY_PARAMS = [
    ("string", "s"),
    ("address[]", "who"),
    ("uint8[]", "small"),
    ("uint24[]", "odd"),  # no struct code for 3 bytes
    ("uint256[]", "big"),
    ("int16[]", "i"),
    ("int256[]", "ib"),
    ("bool[]", "f"),
    ("bytes3[]", "fb"),
    ("bytes32[]", "h"),
    ("bytes", "b"),
    ("uint64", "n"),
]
ARRAY_ABI = [
    {
        "type": "event",
        "name": "Arrays",
        "anonymous": False,
        "inputs": [{"type": t, "name": n, "indexed": False} for t, n in ARRAY_PARAMS],
    },
    {
        "type": "event",
        "name": "OneArray",  # no head struct: the offset comes from its own word
        "anonymous": False,
        "inputs": [{"type": "uint16[]", "name": "xs", "indexed": False}],
    },
]


def _items(values, max_size=4):
    return st.lists(values, max_size=max_size).map(tuple)


_ARRAY_VALUES = st.tuples(
    st.text(max_size=10),
    _items(st.binary(min_size=20, max_size=20)),
    _items(st.integers(0, 255)),
    _items(st.integers(0, 2**24 - 1)),
    _items(st.integers(0, 2**256 - 1)),
    _items(st.integers(-(2**15), 2**15 - 1)),
    _items(st.integers(-(2**255), 2**255 - 1)),
    _items(st.booleans()),
    _items(st.binary(min_size=3, max_size=3)),
    _items(st.binary(min_size=32, max_size=32)),
    st.binary(max_size=40),
    st.integers(0, 2**64 - 1),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ARRAY_VALUES, _EDITS, st.integers(-40, 40), st.booleans())
def test_array_paths_match_word_by_word_decoding(values, edits, resize, single):
    mod = module_for(ARRAY_ABI, "evm", "ArrayProbe")
    if single:
        cls, params, values = mod.OneArray, [("uint16[]", "xs")], (values[2],)
    else:
        cls, params = mod.Arrays, ARRAY_PARAMS
    data = bytearray(eth_abi.encode([t for t, _ in params], list(values)))
    for pos, byte in edits:
        if pos < len(data):
            data[pos] = byte
    data = bytes(data[: len(data) + resize] if resize < 0 else data + b"\0" * resize)

    def fast():
        event = cls.decode([cls.TOPIC0], data)
        return [getattr(event, f.name) for f in dataclasses.fields(cls)]

    got = _outcome(fast)
    want = _outcome(lambda: _reference(cls.SIGNATURE, params, data))
    assert got == want
    if not edits and resize >= 0:
        assert got[0] == "ok"


def test_array_items_at_their_bounds():
    mod = module_for(ARRAY_ABI, "evm", "ArrayProbe")
    cls = mod.Arrays
    types = [t for t, _ in ARRAY_PARAMS]
    edge = [
        "",
        (bytes(20), b"\xff" * 20),
        (0, 255),
        (0, 2**24 - 1),
        (0, 2**256 - 1),
        (-(2**15), 2**15 - 1),
        (-(2**255), 2**255 - 1),
        (False, True),
        (bytes(3), b"\xff" * 3),
        (bytes(32), b"\xff" * 32),
        b"",
        2**64 - 1,
    ]
    empty = ["", (), (), (), (), (), (), (), (), (), b"", 0]
    for values in (edge, empty):
        event = cls.decode([cls.TOPIC0], eth_abi.encode(types, values))
        got = [getattr(event, f.name) for f in dataclasses.fields(cls)]
        assert got[1] == tuple(to_evm(a) for a in values[1])
        assert got[2:] == list(values[2:]) and got[0] == values[0]
        assert all(type(v) is tuple for v, t in zip(got, types, strict=True) if t.endswith("[]"))
    # one past a bound, in the first or the last item: refused, as eth-abi refuses it
    good = eth_abi.encode(types, edge)
    names = [name for _, name in ARRAY_PARAMS]

    def with_item(name: str, index: int, word: bytes) -> bytes:
        k = names.index(name)
        at = int.from_bytes(good[32 * k : 32 * k + 32], "big") + 32 + 32 * index
        return good[:at] + word + good[at + 32 :]

    bad = [
        ("who", 1, b"\1" + bytes(31), "who: address with non-zero padding"),
        ("small", 1, (256).to_bytes(32, "big"), "small: uint8 out of range"),
        ("odd", 0, (2**24).to_bytes(32, "big"), "odd: uint24 out of range"),
        ("i", 1, (2**15).to_bytes(32, "big"), "i: int16 out of range"),
        ("i", 0, (-(2**15) - 1).to_bytes(32, "big", signed=True), "i: int16 out of range"),
        ("f", 1, (2).to_bytes(32, "big"), "f: bool word is neither 0 nor 1"),
        ("fb", 0, bytes(31) + b"\1", "fb: bytes3 with non-zero padding"),
    ]
    for name, index, word, why in bad:
        with pytest.raises(DecodeError, match="Arrays") as info:
            cls.decode([cls.TOPIC0], with_item(name, index, word))
        assert why in str(info.value)


def _splits_log(recipients, bps, version=3):
    cls = royalty_distributor.RoyaltySplitsSet
    topics = [cls.TOPIC0, (7).to_bytes(32, "big"), A]
    data = eth_abi.encode(["uint256", "address[]", "uint16[]"], [version, recipients, bps])
    return topics, data


def test_royalty_splits_decode_to_tron_addresses():
    cls = royalty_distributor.RoyaltySplitsSet
    many = [bytes([i]) * 20 for i in range(40)]
    cases = [
        ([], []),
        ([b"\x11" * 20, b"\xff" * 20, bytes(20)], [0, 65535, 2500]),
        (many, list(range(0, 65536, 65536 // 40))[:40]),
    ]
    for recipients, bps in cases:
        topics, data = _splits_log(recipients, bps)
        event = royalty_distributor.decode_log(topics, data)
        assert type(event) is cls
        # array items are rendered like single address fields (the setter, here)
        assert event.recipients == tuple(to_tron(a) for a in recipients)
        assert all(r.startswith("T") for r in event.recipients)
        assert event.setter == to_tron(A[12:])
        assert event.bps == tuple(bps) and event.version == 3 and event.nft_token_id == 7
        _same_instance(event, cls)
    # not canonical but what eth-abi accepts too: a gap before the tail, arrays in any order
    word = lambda n: n.to_bytes(32, "big")  # noqa: E731
    gap = word(3) + word(192) + word(128) + bytes(32) + word(1) + word(9) + word(1) + A
    event = cls.decode(topics, gap)
    assert event.recipients == (to_tron(A[12:]),) and event.bps == (9,)


def test_royalty_splits_reject_each_malformation():
    topics, good = _splits_log([b"\x11" * 20, b"\x22" * 20], [1, 2])
    # head: version, offset 96 (recipients), offset 192 (bps); 96: 2, a, b; 192: 2, 1, 2
    assert len(good) == 288 and good[64:96] == (192).to_bytes(32, "big")
    word = lambda n: n.to_bytes(32, "big")  # noqa: E731

    def at(pos: int, new: bytes) -> bytes:
        return good[:pos] + new + good[pos + len(new) :]

    tail = "does not point into the tail of data"
    bad = [
        (good[:95], "data is 95 bytes, expected at least 96"),
        (at(32, word(2**64 + 96)), f"offset of recipients {tail}"),  # high bytes of the offset
        (at(32, word(2**256 - 1)), f"offset of recipients {tail}"),
        (at(32, word(64)), f"offset of recipients {tail}"),  # into the head
        (at(64, word(0)), f"offset of bps {tail}"),
        (at(64, word(257)), f"offset of bps {tail}"),  # no room left for the length word
        (at(64, word(288)), f"offset of bps {tail}"),
        (at(192, word(3)), "bps: 3 items need 320 bytes of data, got 288"),
        (at(96, word(2**255)), "recipients: 5789604461865809771178549250434395392663499233282"),
        (good[:-1], "bps: 2 items need 288 bytes of data, got 287"),
        (good[:-32], "bps: 2 items need 288 bytes of data, got 256"),
        (at(128 + 11, b"\x01"), "recipients: address with non-zero padding"),
        (at(160, b"\x80"), "recipients: address with non-zero padding"),
        (at(256, word(65536)), "bps: uint16 out of range"),
        (at(224, b"\x01"), "bps: uint16 out of range"),
    ]
    for data, why in bad:
        with pytest.raises(DecodeError, match="RoyaltySplitsSet") as info:
            royalty_distributor.decode_log(topics, data)
        assert why in str(info.value)
        # eth-abi (the decoder these arrays used before) refuses every one of them too
        with pytest.raises(Exception):  # noqa: B017 - eth-abi raises several types
            eth_abi.decode(["uint256", "address[]", "uint16[]"], data)
