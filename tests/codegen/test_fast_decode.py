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
from dcmx_core.addresses import to_evm
from dcmx_core.errors import DecodeError
from dcmx_generated import dcmx_token, music_nft

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
    """Word-by-word decoding with the runtime readers: the semantics before the fast paths."""
    head = 32 * len(params)
    if len(data) < head:
        raise _rt.fail(sig, f"data is {len(data)} bytes, expected at least {head}")
    out = []
    for k, (t, n) in enumerate(params):
        pos = 32 * k
        word = data[pos : pos + 32]
        if t == "string":
            out.append(_rt.read_string(data, pos, sig, n))
        elif t == "bytes":
            out.append(_rt.read_bytes(data, pos, sig, n))
        elif t.startswith("uint"):
            v = int.from_bytes(word, "big")
            if v >> int(t[4:]):
                raise _rt.fail(sig, f"{n}: {t} out of range")
            out.append(v)
        elif t == "int16":
            v = int.from_bytes(word, "big", signed=True)
            if not -(2**15) <= v < 2**15:
                raise _rt.fail(sig, f"{n}: int16 out of range")
            out.append(v)
        elif t == "address":
            if word[:12] != bytes(12):
                raise _rt.fail(sig, f"{n}: address with non-zero padding")
            out.append(to_evm(word[12:]))
        elif t == "bool":
            if word not in (_rt.ZERO32, _rt.TRUE32):
                raise _rt.fail(sig, f"{n}: bool word is neither 0 nor 1")
            out.append(word == _rt.TRUE32)
        else:
            if word[3:] != bytes(29):
                raise _rt.fail(sig, f"{n}: bytes3 with non-zero padding")
            out.append(word[:3])
    return out


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
