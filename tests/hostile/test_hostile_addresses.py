"""Invalid TRON addresses never parse: Hypothesis mutates real ones into every kind of wrong.

A changed character (bad checksum), a character that is not base58 (0 O I l, punctuation,
unicode), a character more or less (length), another version byte with a valid checksum
(prefix), a hex form one digit short: :func:`dcmx_core.addresses.parse` raises
:class:`AddressError` naming the input and what is wrong, and never returns 20 bytes that
are not the address typed.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcmx_core import AddressError
from dcmx_core.addresses import _B58, _b58encode, parse, to_tron

REAL = [
    "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",  # USDT on mainnet
    "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
    "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb",  # 20 zero bytes
]
raw20 = st.binary(min_size=20, max_size=20)
addresses = st.one_of(st.sampled_from(REAL), raw20.map(to_tron))
WHY = ("checksum", "base58", "bytes", "prefix", "not an address", "hex", "expected")


def _refused(text: str) -> str:
    with pytest.raises(AddressError) as caught:
        parse(text)
    message = str(caught.value)
    assert repr(text) in message or repr(text)[:40] in message, message
    assert any(w in message for w in WHY), message
    assert "\n" not in message
    return message


@settings(max_examples=300, deadline=None)
@given(addresses, st.data())
def test_one_changed_character_is_refused(address, data):
    i = data.draw(st.integers(1, len(address) - 1))
    c = data.draw(st.sampled_from(_B58).filter(lambda c: c != address[i]))
    mutated = address[:i] + c + address[i + 1 :]
    message = _refused(mutated)
    assert "checksum" in message or "bytes" in message or "prefix" in message


@settings(max_examples=200, deadline=None)
@given(addresses, st.data())
def test_a_character_that_is_not_base58_is_named(address, data):
    i = data.draw(st.integers(1, len(address)))
    bad = data.draw(st.sampled_from("0OIl+/=_-.!é€\x00\u200b"))
    message = _refused(address[:i] + bad + address[i:])
    assert "not base58" in message and repr(bad) in message


@settings(max_examples=200, deadline=None)
@given(addresses, st.data())
def test_wrong_length_is_refused(address, data):
    if data.draw(st.booleans()):
        i = data.draw(st.integers(1, len(address) - 1))
        mutated = address[:i] + address[i + 1 :]
    else:
        i = data.draw(st.integers(1, len(address)))
        mutated = address[:i] + data.draw(st.sampled_from(_B58)) + address[i:]
    _refused(mutated)


@settings(max_examples=100, deadline=None)
@given(raw20, st.integers(0, 255).filter(lambda b: b != 0x41))
def test_another_version_byte_with_a_valid_checksum_is_refused(body, version):
    payload = bytes([version]) + body
    text = _b58encode(payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4])
    if not text.startswith("T"):
        _refused(text)  # not even the TRON alphabet's first letter
        return
    assert "prefix" in _refused(text)


@settings(max_examples=100, deadline=None)
@given(raw20, st.data())
def test_hex_forms_of_the_wrong_size_or_alphabet_are_refused(body, data):
    hexed = body.hex()
    cut = data.draw(st.integers(0, 39))
    for text in ("41" + hexed[:cut], "0x" + hexed[:cut], "41" + hexed[:-1] + "g",
                 "0x" + hexed[:-1] + "z"):
        _refused(text)
    assert parse("41" + hexed) == body and parse("0x" + hexed) == body


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=30).map(lambda b: "T" + b.hex())))
def test_any_text_parses_to_20_bytes_or_raises_address_error(text):
    try:
        raw = parse(text)
    except AddressError:
        return
    assert len(raw) == 20


@pytest.mark.parametrize("value", [None, 41, b"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", ["T"]])
def test_non_strings_are_refused(value):
    with pytest.raises(AddressError, match="must be a string"):
        parse(value)
