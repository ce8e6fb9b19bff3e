"""Real-world ABIs: every one generates and imports; every log vector decodes exactly."""

from __future__ import annotations

import json

import pytest
from util import module_for, to_json_value

from dcmx_core.addresses import to_tron
from dcmx_core.errors import DecodeError

VECTOR_FILES = {"log_vectors.json", "eth-abi_correct_encodings.json"}


def _abi_files(reference):
    return sorted(
        p
        for p in (reference / "abis").glob("*.json")
        if p.name not in VECTOR_FILES and not p.name.startswith("ethereum-tests")
    )


def _stem(name: str) -> str:
    return name.removesuffix(".json").removesuffix(".abi")


def test_every_reference_abi_generates_and_imports(reference):
    for path in _abi_files(reference):
        for profile in ("evm", "tron"):
            mod = module_for(json.loads(path.read_text()), profile, _stem(path.name))
            assert mod.EVENTS or mod.DISPATCH == {}
            for ev in mod.EVENTS:
                assert ev.TABLE.primary_key.columns.keys() == ["block_number", "log_index"]


def test_log_vectors_decode_to_expected_args(reference):
    vectors = json.loads((reference / "abis" / "log_vectors.json").read_text())["vectors"]
    assert len(vectors) == 68
    for v in vectors:
        doc = json.loads((reference / "abis" / v["abi_file"]).read_text())
        mod = module_for(doc, "evm", _stem(v["abi_file"]))
        topics = [bytes.fromhex(t[2:]) for t in v["log"]["topics"]]
        data = bytes.fromhex(v["log"]["data"][2:])
        event = mod.decode_log(topics, data)
        assert event is not None, v["signature"]
        assert event.SIGNATURE == v["signature"]
        expected = [v["expected_args"][k] for k in v["expected_args_order"]]
        assert to_json_value(event) == expected, v["signature"]
        # args() is keyed by ABI names and JSON-safe
        assert json.loads(json.dumps(event.args())) == event.args()
        assert list(event.args()) == v["expected_args_order"]


def test_erc20_and_erc721_transfer_never_confused(reference):
    erc20 = module_for(
        json.loads((reference / "abis/oz-5.7.0_ERC20.json").read_text()), "evm", "ERC20"
    )
    erc721 = module_for(
        json.loads((reference / "abis/oz-5.7.0_ERC721Royalty.json").read_text()), "evm", "ERC721"
    )
    t0 = erc20.Transfer.TOPIC0
    assert erc721.Transfer.TOPIC0 == t0
    a, b = bytes(12) + b"\x11" * 20, bytes(12) + b"\x22" * 20
    three = [t0, a, b]
    four = [t0, a, b, (7).to_bytes(32, "big")]
    assert erc20.decode_log(three, (5).to_bytes(32, "big")).value == 5
    assert erc20.decode_log(four, b"") is None
    assert erc721.decode_log(four, b"").token_id == 7
    assert erc721.decode_log(three, (5).to_bytes(32, "big")) is None


def test_decode_is_strict(reference):
    mod = module_for(
        json.loads((reference / "abis/oz-5.7.0_ERC20.json").read_text()), "tron", "ERC20"
    )
    t0 = mod.Transfer.TOPIC0
    a = bytes(12) + b"\x11" * 20
    ok = mod.Transfer.decode([t0, a, a], (1).to_bytes(32, "big"))
    assert ok.from_ == to_tron(b"\x11" * 20) and ok.from_.startswith("T")
    bad_cases = [
        ([t0, a], (1).to_bytes(32, "big"), "expected 3 topics"),
        ([t0, a, a], b"\0" * 31, "data is 31 bytes"),
        ([t0, b"\1" + a[1:], a], bytes(32), "non-zero padding"),
        ([t0, a, a[1:]], bytes(32), "32 bytes"),
        ([bytes(32), a, a], bytes(32), "topic0"),
    ]
    for topics, data, why in bad_cases:
        with pytest.raises(DecodeError, match="Transfer") as info:
            mod.Transfer.decode(topics, data)
        assert why in str(info.value)


def test_anonymous_dispatch(reference):
    mod = module_for(
        json.loads((reference / "abis/pymaker_DSToken.abi.json").read_text()), "evm", "DSToken"
    )
    assert mod.LogNote.TOPIC0 is None and mod.LogNote.ANONYMOUS
    assert mod.ANONYMOUS_DISPATCH == {4: mod.LogNote}
    # a 4-topic log that is not a LogNote (bad address padding in topic 2) is not guessed at
    junk = [b"\xff" * 32] * 4
    assert mod.decode_log(junk, b"") is None


def test_tron_getcontract_and_justswap_generate(reference):
    doc = json.loads((reference / "tron/shasta_getcontract_trc20.json").read_text())
    mod = module_for(doc, "tron", "getcontract")
    assert mod.CONTRACT_NAME == "Token"
    assert {e.NAME for e in mod.EVENTS} == {"Transfer", "Approval"}
    assert mod.Transfer.TOPIC0.hex().startswith("ddf252ad")
    assert mod.Token.balance_of.__name__ == "balance_of"
    assert mod.Token.balance_of.encode(b"\x11" * 20)[:4].hex() == "70a08231"
    js = module_for(
        json.loads((reference / "tron/justswap_exchange.abi.json").read_text()), "tron", "JustSwap"
    )
    topic0s = {e.NAME: e.TOPIC0.hex() for e in js.EVENTS}
    assert (
        topic0s["TokenPurchase"]
        == "cd60aa75dea3072fbc07ae6d7d856b5dc5f4eee88854f5b4abf7b680ef8bc50f"
    )
    assert topic0s["Snapshot"] == "cc7244d3535e7639366f8c5211527112e01de3ec7449ee3a6e66b007f4065a70"


def test_overloads_get_stable_distinct_names(reference):
    mod = module_for(
        json.loads((reference / "abis/oz-5.7.0_ERC721Royalty.json").read_text()), "evm", "ERC721"
    )
    assert hasattr(mod.ERC721Royalty, "safe_transfer_from")
    assert hasattr(mod.ERC721Royalty, "safe_transfer_from_address_address_uint256_bytes")
    link = module_for(
        json.loads((reference / "abis/chainlink-1.5.0_LinkToken.abi.json").read_text()),
        "evm",
        "Link",
    )
    assert {e.__name__ for e in link.EVENTS} >= {"Transfer", "TransferAddressAddressUint256Bytes"}
