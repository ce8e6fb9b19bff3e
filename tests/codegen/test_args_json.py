"""``args_json()`` is ``json.JSONEncoder(separators=(",", ":")).encode(event.args())``, exactly.

The indexer writes that string into its audit table. The generated ``args_json()`` builds it
without the dict; these tests hold it to the same bytes (or the same exception) as the
encoder for events decoded across the whole type grammar, for events built by hand with any
values of any type in their fields and hostile parameter names, for every event of the five
generated modules, and for the reference log vectors.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from pathlib import Path
from unittest import mock

import eth_abi
import pytest
from eth_abi.grammar import TupleType, parse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_roundtrip_hypothesis import _hashed, encoded_log, events
from util import module_for

from dcmx_codegen.abi import contracts_from_json
from dcmx_core.errors import AbiError
from dcmx_generated import CONTRACTS

DUMPS = json.JSONEncoder(separators=(",", ":")).encode
BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build"


def _outcome(f):
    """What calling ``f`` gives: its value, or the type and text of what it raised."""
    try:
        return "value", f()
    except Exception as e:  # noqa: BLE001 - the reference may raise anything: compare it
        return "raised", type(e), str(e)


def assert_same(event) -> None:
    expected = _outcome(lambda: DUMPS(event.args()))
    assert _outcome(event.args_json) == expected


# --- decoded events, whole type grammar (random ABIs of the round-trip test) --------------


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(events(), st.sampled_from(["evm", "tron"]))
def test_decoded_events_of_random_abis(case, profile):
    mod = module_for(case[0], profile, "Probe")
    (cls,) = mod.EVENTS
    event = mod.decode_log(*encoded_log(cls, case))
    assert isinstance(event, cls)
    assert event.args_json() == DUMPS(event.args())


# --- events built by hand: hostile names, any values --------------------------------------

# word types and arrays of them: the types args_json() writes itself
_WORD_TYPES = ["uint8", "uint256", "int16", "int256", "bool", "address", "bytes1", "bytes32"]
_TYPES = _WORD_TYPES + ["string", "bytes"] + [f"{t}[]" for t in _WORD_TYPES] + [
    "string[]",
    "uint8[2]",
    "address[1]",
    "uint256[][]",  # nested: the general way
]

# names that need escaping in JSON or in a Python literal, or that collide with the names
# the generator falls back on (duplicate keys: the dict keeps one)
hostile_names = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ['"', "\\", "'", "{", "}", "{}", "{{x}}", '\\"', "a\nb", "\x00", "\x7f", "é", "雪",
         "\U0001f600", "\ud800", "", "arg0", "arg1", "p", "p", "from", "self", "_a0", "_dumps"]
    ),
)


class _Str(str):
    def to_json(self):
        return "replaced"


class _Int(int):
    pass


class _Color(enum.IntEnum):
    RED = 1


class _WithToJson:
    def to_json(self):
        return {"k": [1, "é", b"x".hex()]}


strings = st.one_of(
    st.text(),  # any code point but surrogates: control characters, quotes, non-ASCII
    st.sampled_from(['"', "\\", '\\"\n\t\r\b\f', "\x00\x1f\x7f\x80", "é雪\U0001f600", "\ud800",
                     "</script>", "{}", "{x}", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]),
)
ints = st.one_of(
    st.integers(),
    st.integers(-(2**256), 2**256),
    st.sampled_from([0, -1, 2**255, -(2**255), 2**256 - 1, 10**4299, -(10**4299)]),
    # more digits than int -> str allows: both ways raise ValueError (built by map: the
    # repr of a strategy holding the int itself would raise)
    st.just(5000).map(lambda k: 10**k),
)
# anything at all: what a caller could put in a field of any annotation
wrong = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
    strings,
    st.binary(max_size=4),
    st.binary(max_size=4).map(bytearray),
    strings.map(_Str),
    ints.filter(lambda i: abs(i) < 2**64).map(_Int),
    st.just(_Color.RED),
    st.just(_WithToJson()),
    st.lists(ints | st.booleans() | st.binary(max_size=2), max_size=3),
    st.lists(ints | st.booleans() | strings | st.binary(max_size=2), max_size=3).map(tuple),
    st.dictionaries(strings, ints, max_size=2),
    st.just(object()),
)


def _right(t: str):
    """Values of the Python type the generated field has for ABI type ``t``."""
    if t.endswith("]"):
        inner = t[: t.rindex("[")]
        return st.lists(_right(inner), max_size=4).map(tuple)
    if t.startswith(("uint", "int")):
        return ints
    if t == "bool":
        return st.booleans()
    if t in ("address", "string"):
        return strings
    return st.binary(max_size=40)  # bytes, bytesN, hashes: empty ones too


@st.composite
def built_events(draw):
    n = draw(st.integers(0, 5))
    types = [draw(st.sampled_from(_TYPES)) for _ in range(n)]
    names = [draw(hostile_names) for _ in range(n)]
    indexed = [draw(st.booleans()) and not t.endswith("]") for t in types]
    while sum(indexed) > 3:
        indexed[indexed.index(True)] = False
    inputs = [
        {"type": t, "name": name, "indexed": ix}
        for t, name, ix in zip(types, names, indexed, strict=True)
    ]
    event_name = draw(st.sampled_from(["Probe", "Transfer", "X"]))
    abi = [{"type": "event", "name": event_name, "anonymous": False, "inputs": inputs}]
    profile = draw(st.sampled_from(["evm", "tron"]))
    try:
        mod = module_for(abi, profile, "Hostile")
    except AbiError:
        assume(False)
    (cls,) = mod.EVENTS
    values = []
    for t, ix in zip(types, indexed, strict=True):
        right = st.binary(min_size=32, max_size=32) if ix and _hashed(t) else _right(t)
        # mostly values of the right type, which take the specialised path
        values.append(draw(st.one_of(right, right, right, wrong)))
    return cls, values


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(built_events())
def test_built_events_with_any_names_and_values(case):
    cls, values = case
    assert_same(cls(*values))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(built_events())
def test_a_subclass_that_overrides_args_is_followed(case):
    cls, values = case

    class Sub(cls):
        def args(self):
            return {"sub\u00e9": super().args(), "n": 1}

    assert_same(Sub(*values))


def test_the_cases_named_in_the_contract():
    abi = [
        {
            "type": "event",
            "name": "E",
            "anonymous": False,
            "inputs": [
                {"type": "string", "name": 'q"uo\\te\u00e9{x}', "indexed": False},
                {"type": "int256", "name": "n", "indexed": False},
                {"type": "bool", "name": "b", "indexed": False},
                {"type": "bytes", "name": "raw", "indexed": False},
                {"type": "address", "name": "who", "indexed": True},
                {"type": "uint8[]", "name": "xs", "indexed": False},
            ],
        }
    ]
    mod = module_for(abi, "tron", "Named")
    ev = mod.E('a"\\\x00\n\u2028é\U0001f600', -(2**255), True, b"", "T\"x", (0, 255))
    assert ev.args_json() == DUMPS(ev.args())
    assert ev.args_json() == (
        '{"q\\"uo\\\\te\\u00e9{x}":"a\\"\\\\\\u0000\\n\\u2028\\u00e9\\ud83d\\ude00",'
        '"n":-57896044618658097711785492504343953926634992332820282019728792003956564819968,'
        '"b":true,"raw":"0x","who":"T\\"x","xs":[0,255]}'
    )
    # an int field holding a bool, a bool field holding an int: the encoder's way
    for odd in (mod.E("", True, 1, b"", "", ()), mod.E("", 1, 1, b"", "", (True,))):
        assert odd.args_json() == DUMPS(odd.args())
        assert '"n":true' in odd.args_json() or '"xs":[true]' in odd.args_json()
    # a nameless parameter's key is its field name, which another parameter may have as its
    # ABI name: the fallback takes a suffix, so that no value is lost from the JSON
    dup = module_for(
        [
            {
                "type": "event",
                "name": "Dup",
                "anonymous": False,
                "inputs": [
                    {"type": "uint8", "name": "", "indexed": False},
                    {"type": "uint8", "name": "arg0", "indexed": False},
                ],
            }
        ],
        "evm",
        "Dup",
    )
    (dup_event,) = dup.EVENTS
    assert dup_event(1, 2).args_json() == '{"arg0_2":1,"arg0":2}' == DUMPS(dup_event(1, 2).args())
    empty = module_for(
        [{"type": "event", "name": "Nothing", "anonymous": False, "inputs": []}], "evm", "Empty"
    )
    (nothing,) = empty.EVENTS
    assert nothing().args_json() == "{}" == DUMPS(nothing().args())


# --- the five generated modules -----------------------------------------------------------


def _values(node):
    """eth-abi values of a parsed ABI type."""
    if node.arrlist:
        length = node.arrlist[-1]
        item = _values(node.item_type)
        if length:
            return st.lists(item, min_size=length[0], max_size=length[0]).map(tuple)
        return st.lists(item, max_size=4).map(tuple)
    if isinstance(node, TupleType):
        return st.tuples(*(_values(c) for c in node.components))
    base, sub = node.base, node.sub
    if base == "uint":
        return st.one_of(st.integers(0, 2**sub - 1), st.just(2**sub - 1))
    if base == "int":
        return st.integers(-(2 ** (sub - 1)), 2 ** (sub - 1) - 1)
    if base == "address":
        return st.binary(min_size=20, max_size=20)
    if base == "bool":
        return st.booleans()
    if base == "bytes":
        return st.binary(min_size=sub, max_size=sub) if sub else st.binary(max_size=70)
    assert base == "string", base
    return strings.filter(lambda s: "\ud800" not in s)  # eth-abi encodes UTF-8


def _generated_events():
    out = []
    for path in sorted(BUILD.glob("*.json")):
        for c in contracts_from_json(json.loads(path.read_text()), path.stem, path.name, ""):
            mod = CONTRACTS.get(c.name)
            if mod is None:
                continue
            by_sig = {cls.SIGNATURE: cls for cls in mod.EVENTS}
            for e in c.events:
                out.append((mod, by_sig[e.signature], e))
    return out


GENERATED = _generated_events()


def test_every_generated_event_is_covered():
    assert {cls for _, cls, _ in GENERATED} == {
        cls for mod in CONTRACTS.values() for cls in mod.EVENTS
    }


@pytest.mark.parametrize(
    "mod, cls, abi_event", GENERATED, ids=[f"{m.__name__}.{c.__name__}" for m, c, _ in GENERATED]
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_modules_decoded_logs(mod, cls, abi_event, data):
    topics = [cls.TOPIC0] if cls.TOPIC0 else []
    data_types, data_values = [], []
    for p in abi_event.inputs:
        t = p.type.canonical
        if p.indexed and p.type.is_hashed_when_indexed:
            topics.append(data.draw(st.binary(min_size=32, max_size=32)))
            continue
        value = data.draw(_values(parse(t)))
        if p.indexed:
            topics.append(eth_abi.encode([t], [value]))
        else:
            data_types.append(t)
            data_values.append(value)
    event = mod.decode_log(topics, eth_abi.encode(data_types, data_values))
    assert type(event) is cls
    expected = DUMPS(event.args())
    # the five contracts have no nested arrays or structs in their events: all specialised,
    # the general way (the module's _dumps) is never taken
    with mock.patch.object(mod, "_dumps", None):
        assert event.args_json() == expected


def test_reference_log_vectors(reference):
    vectors = json.loads((reference / "abis" / "log_vectors.json").read_text())["vectors"]
    for v in vectors:
        doc = json.loads((reference / "abis" / v["abi_file"]).read_text())
        for profile in ("evm", "tron"):
            name = v["abi_file"].removesuffix(".json").removesuffix(".abi")
            mod = module_for(doc, profile, name)
            topics = [bytes.fromhex(t[2:]) for t in v["log"]["topics"]]
            event = mod.decode_log(topics, bytes.fromhex(v["log"]["data"][2:]))
            assert event.args_json() == DUMPS(event.args()), v["signature"]
            assert dataclasses.is_dataclass(event)
