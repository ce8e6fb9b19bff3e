"""The address renderers' cache: the same text as an uncached renderer, bounded memory.

Generated decoders render every address through ``renderer(profile)``, a dict lookup on a hit.
Whatever bytes come in, the text is what base58check (``base58``) and EIP-55
(``eth_utils``) give, the first time and every time after; the cache never holds more than
its ``size`` (``CACHE_SIZE``) entries; input that is not bytes raises as it did with
``functools.lru_cache``.
"""

from __future__ import annotations

import hashlib
import re

import base58
import eth_utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcmx_core import AddressError, addresses
from dcmx_core.addresses import parse, render, renderer, to_evm, to_tron


def _tron_reference(raw: bytes) -> str:
    return base58.b58encode_check(b"\x41" + raw).decode()


def _evm_reference(raw: bytes) -> str:
    return eth_utils.to_checksum_address(raw)


raw20 = st.one_of(
    st.binary(min_size=20, max_size=20),
    st.sampled_from([bytes(20), b"\xff" * 20, b"\x00" * 19 + b"\x01", b"\x01" + bytes(19)]),
)


@settings(max_examples=300, deadline=None)
@given(raw20)
def test_every_way_in_renders_like_an_uncached_renderer(raw):
    tron, evm = _tron_reference(raw), _evm_reference(raw)
    for _ in range(2):  # a miss, then a hit
        assert to_tron(raw) == renderer("tron")(raw) == render(raw, "tron") == tron
        assert to_evm(raw) == renderer("evm")(raw) == render(raw, "evm") == evm
        assert renderer("tron")(bytes(raw)) == tron  # an equal key, another object
        assert renderer("tron")(memoryview(raw)) == tron  # equal and hashable: same entry
    assert parse(tron) == raw == parse(evm)


def test_known_addresses():
    for text in ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"):
        assert to_tron(parse(text)) == text
    # EIP-55's own examples
    for text in (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ):
        assert to_evm(parse(text)) == renderer("evm")(bytes.fromhex(text[2:])) == text


def test_the_cache_stays_bounded(monkeypatch):
    for cache in (addresses._TRON_CACHE, addresses._EVM_CACHE):
        monkeypatch.setattr(cache, "size", 8)
    for profile, reference in (("tron", _tron_reference), ("evm", _evm_reference)):
        f = renderer(profile)
        cache = f.__self__
        sizes = []
        for i in range(100):
            raw = hashlib.sha256(i.to_bytes(2, "big")).digest()[:20]
            assert f(raw) == reference(raw)
            assert f(raw) == reference(raw)  # kept: a hit
            sizes.append(len(cache))
        assert max(sizes) <= 8 and min(sizes) >= 1


@pytest.mark.parametrize(
    "render_fn, uncached",
    [
        (to_tron, addresses._render_tron),
        (renderer("tron"), addresses._render_tron),
        (to_evm, addresses._render_evm),
        (renderer("evm"), addresses._render_evm),
    ],
)
def test_bad_input_raises_as_before_and_is_not_kept(render_fn, uncached):
    cache = (addresses._TRON_CACHE, addresses._EVM_CACHE)
    before = [len(c) for c in cache]
    # unhashable: refused by the lookup, as lru_cache refused it when making its key
    with pytest.raises(TypeError, match="unhashable type: 'bytearray'"):
        render_fn(bytearray(20))
    # hashable but not bytes: the renderer's own error, as lru_cache let it through
    for value in ("T" * 20, None, 5):
        with pytest.raises(Exception) as expected:
            uncached(value)
        with pytest.raises(type(expected.value), match="^" + re.escape(str(expected.value))):
            render_fn(value)
    assert [len(c) for c in cache] == before


def test_unknown_profile():
    with pytest.raises(AddressError, match="unknown chain profile"):
        renderer("btc")  # type: ignore[arg-type]
