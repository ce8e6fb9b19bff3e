"""Contract functions declared over ``dcmx_core.abi_functions``: calldata, return data, calls.

Calldata is checked against web3's encoder for every function of the five contracts and of the
reference ABIs, and for random functions over the whole type grammar; return data against
eth-abi's encoder; calls and transactions against a transport that records what it is asked.
"""

from __future__ import annotations

import inspect
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_abi.grammar import TupleType, parse
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_roundtrip_hypothesis import TYPES
from util import module_for, to_json_value
from web3 import Web3

from dcmx_codegen.abi import AbiType, contracts_from_json
from dcmx_core.abi_functions import Call, Contract, ContractFunction, Transaction
from dcmx_core.addresses import to_evm, to_tron
from dcmx_core.errors import AbiError, AddressError, DecodeError
from dcmx_generated import dcmx_token, royalty_distributor
from dcmx_generated.compliance_registry import AuditEntry, ComplianceRegistry
from dcmx_generated.dcmx_token import DCMXToken

ROOT = Path(__file__).resolve().parents[2]
ALICE = b"\x11" * 20


class Recorder:
    """A transport that records each request and answers with canned return data."""

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.calls: list[tuple[bytes, bytes]] = []
        self.sent: list[tuple[bytes, bytes, int]] = []

    def call(self, to: bytes, data: bytes) -> bytes:
        self.calls.append((to, data))
        return self.answer

    def transact(self, to: bytes, data: bytes, value: int = 0) -> Any:
        self.sent.append((to, data, value))
        return {"status": 1}


def _functions(cls: type) -> dict[str, ContractFunction[Any, Any]]:
    """The class's functions by ABI signature."""
    return {
        f.signature: f for f in vars(cls).values() if isinstance(f, ContractFunction)
    }


def _contract_class(mod) -> type:
    (cls,) = [
        v for v in vars(mod).values()
        if isinstance(v, type) and issubclass(v, Contract) and v.__module__ == mod.__name__
    ]
    return cls


def _value(t: AbiType, rng: random.Random) -> Any:
    """A random valid value of ``t``, as web3 and eth-abi take it (addresses checksummed)."""
    if t.kind == "uint":
        return rng.getrandbits(t.size)
    if t.kind == "int":
        return rng.getrandbits(t.size) - (1 << (t.size - 1))
    if t.kind == "address":
        return to_checksum_address(rng.randbytes(20))
    if t.kind == "bool":
        return rng.random() < 0.5
    if t.kind == "fixed_bytes":
        return rng.randbytes(t.size)
    if t.kind == "bytes":
        return rng.randbytes(rng.randint(0, 40))
    if t.kind == "string":
        return "".join(rng.choice("aé€\U0001f600 ") for _ in range(rng.randint(0, 9)))
    if t.kind == "array":
        n = rng.randint(0, 2) if t.size is None else t.size
        return [_value(t.item, rng) for _ in range(n)]
    return tuple(_value(c.type, rng) for c in t.components)


def _documents():
    """(label, artifact document) of the five contracts and every reference ABI."""
    from ddl_cases import artifacts

    return artifacts()


def test_calldata_matches_web3_for_every_function():
    rng = random.Random(7)
    w3 = Web3()
    checked = 0
    for label, doc in _documents():
        stem = Path(label).name.removesuffix(".json").removesuffix(".abi")
        mod = module_for(doc, "tron", stem)
        declared = _functions(_contract_class(mod))
        (contract,) = contracts_from_json(doc, stem, label, "")
        abi = doc if isinstance(doc, list) else doc["abi"]
        if isinstance(abi, dict):
            abi = abi["entrys"]
        assert sorted(declared) == sorted({f.signature for f in contract.functions}), label
        for f in contract.functions:
            entry = abi[f.entry_index]
            entry = {**entry, "type": "function"}
            args = [_value(p.type, rng) for p in f.inputs]
            expected = w3.eth.contract(abi=[entry]).encode_abi(f.name, args=args)
            assert declared[f.signature].encode(*args) == bytes.fromhex(expected[2:]), (
                label, f.signature
            )
            assert declared[f.signature].selector == keccak(f.signature.encode())[:4]
            checked += 1
    assert checked == 366  # the functions of the 20 artifacts


def test_addresses_and_structs_are_taken_in_every_form():
    hexaddr = to_checksum_address(ALICE)
    want = DCMXToken.transfer.encode(hexaddr, 5)
    assert DCMXToken.transfer.encode(ALICE, 5) == want
    assert DCMXToken.transfer.encode(to_tron(ALICE), 5) == want
    assert DCMXToken.transfer.encode(to_="41" + ALICE.hex(), value=5) == want
    assert dcmx_token.DCMXToken.transfer.encode(to_tron(ALICE), 5) == want
    mixed = to_checksum_address(b"\xab" * 20)
    with pytest.raises(AddressError, match="checksum"):
        DCMXToken.transfer.encode(mixed.lower()[:2] + mixed[2:].swapcase(), 5)

    doc = json.loads((ROOT / "tests/data/reference/abis/seaport-1.1_Seaport.json").read_text())
    seaport = module_for(doc, "evm", "Seaport")
    fulfil = seaport.Seaport.get_order_hash
    (param,) = [p for p in contracts_from_json(doc, "Seaport", "s", "")[0].functions
                if p.name == "getOrderHash"]
    order = _value(param.inputs[0].type, random.Random(3))
    as_dataclass = seaport.OrderComponents(*order[:3], *order[3:])
    assert fulfil.encode(as_dataclass) == fulfil.encode(order) == fulfil.encode(list(order))
    with pytest.raises(TypeError, match="struct argument needs"):
        fulfil.encode(order[:-1])


def test_return_data_decodes_like_eth_abi():
    rng = random.Random(11)
    checked = 0
    for label, doc in _documents():
        stem = Path(label).name.removesuffix(".json").removesuffix(".abi")
        mod = module_for(doc, "evm", stem)
        declared = _functions(_contract_class(mod))
        (contract,) = contracts_from_json(doc, stem, label, "")
        for f in contract.functions:
            fn = declared[f.signature]
            if not f.outputs:
                assert fn.decode_output(b"anything") is None
                continue
            types = [o.type.canonical for o in f.outputs]
            values = [_value(o.type, rng) for o in f.outputs]
            got = fn.decode_output(eth_abi.encode(types, values))
            want = to_json_value(values[0] if len(values) == 1 else tuple(values))
            assert to_json_value(got) == want, (label, f.signature)
            if len(values) > 1:
                assert type(got) is tuple and len(got) == len(values)
            checked += 1
    assert checked > 200


def test_struct_outputs_are_the_generated_dataclasses():
    entries = [(1, 2, "v1", b"\x07" * 32, 9, 1, 1700000000), (2, 0, "", bytes(32), 0, 0, 1)]
    data = eth_abi.encode(["(uint8,uint8,string,bytes32,uint256,uint8,uint256)[]"], [entries])
    trail = ComplianceRegistry.get_audit_trail.decode_output(data)
    assert type(trail) is tuple and [type(e) for e in trail] == [AuditEntry, AuditEntry]
    assert trail[0].version == "v1" and trail[1].timestamp_ == 1
    with pytest.raises(DecodeError, match=r"getAuditTrail\(address\)"):
        ComplianceRegistry.get_audit_trail.decode_output(data[:-1])


def test_views_call_and_decode_transactions_send():
    answer = eth_abi.encode(["uint256"], [10**21])
    transport = Recorder(answer)
    token = DCMXToken(ALICE, transport)
    assert token.balance_of(to_tron(ALICE)) == 10**21
    assert transport.calls == [(ALICE, DCMXToken.balance_of.encode(ALICE))]
    assert token.balance_of(account=ALICE) == 10**21  # keywords as the stub names them
    assert token.transfer(ALICE, 3) == {"status": 1}
    assert transport.sent == [(ALICE, DCMXToken.transfer.encode(ALICE, 3), 0)]
    assert token.address == to_tron(ALICE) and repr(token) == f"DCMXToken({to_tron(ALICE)!r})"

    with pytest.raises(TypeError, match="value"):
        token.transfer(ALICE)  # Python's own message for a missing argument
    with pytest.raises(TypeError):
        token.transfer(ALICE, 3, 4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'owner'"):
        token.balance_of(ALICE, owner=ALICE)


def test_payable_functions_send_their_value():
    rd = royalty_distributor.RoyaltyDistributor
    transport = Recorder()
    contract = rd(ALICE, transport)
    contract.record_sale(7, ALICE, call_value=1_500_000)
    contract.record_sale(nft_token_id=8, buyer=ALICE)
    assert [(d, v) for _, d, v in transport.sent] == [
        (rd.record_sale.encode(7, ALICE), 1_500_000),
        (rd.record_sale.encode(8, ALICE), 0),
    ]
    with pytest.raises(TypeError, match="call_value is not calldata"):
        rd.record_sale.encode(7, ALICE, call_value=1)


def test_the_typed_surface_at_run_time():
    assert isinstance(vars(DCMXToken)["balance_of"], Call)
    assert isinstance(vars(DCMXToken)["transfer"], Transaction)
    assert DCMXToken.transfer.signature == "transfer(address,uint256)"
    assert DCMXToken.transfer.name == "transfer" and DCMXToken.transfer.__name__ == "transfer"
    assert DCMXToken.transfer.mutability == "nonpayable"
    assert "transfer(address,uint256)" in DCMXToken.transfer.__doc__
    token = DCMXToken(ALICE, Recorder())
    assert str(inspect.signature(token.balance_of)) == "(account: 'str | bytes') -> 'int'"
    sale = royalty_distributor.RoyaltyDistributor(ALICE, Recorder()).record_sale
    assert str(inspect.signature(sale)) == (
        "(nft_token_id: 'int', buyer: 'str | bytes', *, call_value: 'int' = 0) -> 'int'"
    )


def test_importing_a_generated_module_stays_light():
    code = (
        "import sys, dcmx_generated; "
        "print(sorted(m for m in ('eth_abi', 'dcmx_core.transports', 'web3', 'tronpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- random functions over the whole type grammar ------------------------------------------


@st.composite
def functions(draw):
    inputs = [draw(TYPES) for _ in range(draw(st.integers(0, 4)))]
    outputs = [draw(TYPES) for _ in range(draw(st.integers(0, 3)))]
    abi = [{
        "type": "function",
        "name": "probe",
        "stateMutability": draw(st.sampled_from(["view", "nonpayable", "payable"])),
        "inputs": [{**e, "name": f"a{i}"} for i, (e, _, _) in enumerate(inputs)],
        "outputs": [{**e, "name": f"r{i}"} for i, (e, _, _) in enumerate(outputs)],
    }]
    return (
        abi,
        [c for _, c, _ in inputs], [draw(v) for _, _, v in inputs],
        [c for _, c, _ in outputs], [draw(v) for _, _, v in outputs],
    )


def _rendered(node, v):
    """A value as the evm profile gives it back: addresses (20 bytes here) as EIP-55 hex."""
    if node.arrlist:
        return tuple(_rendered(node.item_type, x) for x in v)
    if isinstance(node, TupleType):
        return tuple(_rendered(c, x) for c, x in zip(node.components, v, strict=True))
    return to_evm(v) if node.base == "address" else v


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(functions())
def test_random_functions_round_trip(case):
    abi, in_types, in_values, out_types, out_values = case
    mod = module_for(abi, "evm")
    fn = mod.Probe.probe
    signature = f"probe({','.join(in_types)})"
    assert fn.signature == signature
    assert fn.encode(*in_values) == keccak(signature.encode())[:4] + eth_abi.encode(
        in_types, in_values
    )
    got = fn.decode_output(eth_abi.encode(out_types, out_values))
    want = [_rendered(parse(t), v) for t, v in zip(out_types, out_values, strict=True)]
    if not out_types:
        assert got is None
    elif len(out_types) == 1:
        assert to_json_value(got) == to_json_value(want[0])
    else:
        assert to_json_value(got) == to_json_value(tuple(want))


def test_a_function_named_like_a_struct_is_refused():
    # "2x" folds to n2x for the method and for the struct: in the class body the method would
    # hide the struct from the declarations that name it
    struct = {"name": "", "type": "tuple", "internalType": "struct 2x",
              "components": [{"name": "a", "type": "uint8"}]}
    abi = [{"type": "function", "name": "2x", "stateMutability": "view", "inputs": [],
            "outputs": [struct]}]
    with pytest.raises(AbiError, match="function and struct both named n2x"):
        module_for(abi, "evm")


def test_only_payable_functions_take_a_value():
    token = DCMXToken(ALICE, Recorder())
    with pytest.raises(TypeError, match="unexpected keyword argument 'call_value'"):
        token.transfer(ALICE, 1, call_value=5)
