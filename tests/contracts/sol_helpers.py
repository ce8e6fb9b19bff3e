"""Assertions for contract tests: exact custom-error reverts and decoded event arguments.

Kept in a uniquely named module (not conftest) so test modules can import it by name; the test
tree has no packages, so basenames must be unique across it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from dcmx_plugins.devchain import BUILD_DIR, revert_data


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


def _all_errors() -> dict[bytes, dict[str, Any]]:
    """Every custom error of every artifact, by selector, for readable failure messages."""
    found: dict[bytes, dict[str, Any]] = {}
    for path in sorted(BUILD_DIR.rglob("*.json")):
        for entry in json.loads(path.read_text())["abi"]:
            if entry["type"] == "error":
                found[keccak(text=_signature(entry))[:4]] = entry
    return found


ERRORS = _all_errors()


def describe(data: bytes | None) -> str:
    """A revert payload as ``Name(arg, ...)`` when it is a known custom error."""
    if not data:
        return "<empty revert data>"
    entry = ERRORS.get(data[:4])
    if entry is None:
        return f"<unknown revert 0x{data.hex()}>"
    args = decode([i["type"] for i in entry["inputs"]], data[4:])
    return f"{entry['name']}{tuple(args)!r}"


def encode_error(contract: Contract, name: str, *args: Any) -> bytes:
    entries = [e for e in contract.abi if e["type"] == "error" and e["name"] == name]
    assert entries, f"{name} is not an error of this contract's ABI"
    entry = entries[0]
    types = [i["type"] for i in entry["inputs"]]
    return keccak(text=_signature(entry))[:4] + encode(types, list(args))


@contextmanager
def reverts(contract: Contract, name: str, *args: Any) -> Iterator[None]:
    """Expect the block to revert with exactly the custom error ``name(*args)``."""
    with pytest.raises(TransactionFailed) as info:
        yield
    data = revert_data(info.value)
    expected = encode_error(contract, name, *args)
    assert data == expected, f"reverted with {describe(data)}, expected {name}{args!r}"


def events(receipt: Any, contract: Contract, name: str) -> list[dict[str, Any]]:
    """Decoded arguments of every ``name`` event ``contract`` emitted in the receipt."""
    event = getattr(contract.events, name)()
    return [
        dict(e["args"])
        for e in event.process_receipt(receipt, errors=DISCARD)
        if e["address"] == contract.address
    ]


def only_event(receipt: Any, contract: Contract, name: str) -> dict[str, Any]:
    found = events(receipt, contract, name)
    assert len(found) == 1, f"expected one {name} event, got {found}"
    return found[0]


def role(name: str) -> bytes:
    return b"\x00" * 32 if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)
