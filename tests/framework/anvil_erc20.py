"""A real ERC-20 on anvil, driven over JSON-RPC: MinimalERC20 (contracts/test), whose events
are exactly those of the published ERC-20 ABI, deployed and moved by anvil's own accounts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from eth_abi import encode
from eth_hash.auto import keccak

MINIMAL_ERC20 = Path(__file__).resolve().parents[2] / "contracts/build/test/MinimalERC20.json"


def rpc(url: str, method: str, *params: object) -> object:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                  "params": list(params)}, timeout=30).json()
    assert "error" not in reply, reply
    return reply["result"]


def accounts(url: str) -> list[str]:
    return [a.lower() for a in rpc(url, "eth_accounts")]  # type: ignore[union-attr]


def send(url: str, sender: str, data: str, to: str | None = None) -> dict[str, str]:
    tx = {"from": sender, "data": data, "gas": hex(3_000_000)}
    if to is not None:
        tx["to"] = to
    txid = rpc(url, "eth_sendTransaction", tx)
    deadline = time.monotonic() + 30
    # anvil mines each transaction at once, but may answer before its receipt is stored
    while (receipt := rpc(url, "eth_getTransactionReceipt", txid)) is None:
        assert time.monotonic() < deadline, f"transaction {txid} not mined in 30 s"
        time.sleep(0.05)
    assert isinstance(receipt, dict) and receipt["status"] == "0x1", receipt
    return receipt


def call(name: str, types: list[str], *args: object) -> str:
    selector = keccak(f"{name}({','.join(types)})".encode())[:4]
    return "0x" + (selector + encode(types, list(args))).hex()


def deploy_and_transfer(url: str) -> tuple[str, int]:
    """MinimalERC20 deployed by anvil's first account (a mint of 10**24 to it), then four
    transfers and an approval; (its address, the last block)."""
    deployer, alice, bob = accounts(url)[:3]
    artifact = json.loads(MINIMAL_ERC20.read_text())
    receipt = send(url, deployer, artifact["bytecode"] + encode(["uint256"], [10**24]).hex())
    token = receipt["contractAddress"]
    send(url, deployer, call("transfer", ["address", "uint256"], alice, 10**20), token)
    send(url, deployer, call("transfer", ["address", "uint256"], bob, 2 * 10**18), token)
    send(url, alice, call("transfer", ["address", "uint256"], bob, 5 * 10**17), token)
    send(url, deployer, call("approve", ["address", "uint256"], bob, 7), token)
    send(url, deployer, call("transfer", ["address", "uint256"], alice, 3), token)
    head = int(rpc(url, "eth_blockNumber"), 16)  # type: ignore[arg-type]
    return token, head
