"""Generated event decoders vs web3.py's ``contract.events.X().process_log`` on the same logs.

Run: ``.venv/bin/python bench/bench_decode.py [--logs 100000] [--baseline-logs 5000]``.
Both sides decode the same logs in the same run; web3 is timed on a subset (it is ~100x slower)
and reported per log. Uses the generated DCMX modules (``dcmx_generated``, TRON profile) and the
ABIs of ``contracts/build``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import eth_abi
from dcmx_generated import dcmx_token, music_nft
from hexbytes import HexBytes
from web3 import Web3

ROOT = Path(__file__).resolve().parents[1]


# Token traffic reuses addresses (exchanges, popular holders); a pool of 5,000 models that, and
# the renderer's LRU cache (65,536 entries) holds it. --unique-addresses measures the cold case.
_POOL: list[bytes] = []


def _word_addr(rng: random.Random) -> bytes:
    if _POOL:
        return rng.choice(_POOL)
    return bytes(12) + rng.randbytes(20)


def transfer_logs(n: int, rng: random.Random) -> list[tuple[list[bytes], bytes]]:
    t0 = dcmx_token.Transfer.TOPIC0
    return [
        ([t0, _word_addr(rng), _word_addr(rng)], rng.getrandbits(100).to_bytes(32, "big"))
        for _ in range(n)
    ]


def minted_logs(n: int, rng: random.Random) -> list[tuple[list[bytes], bytes]]:
    t0 = music_nft.Minted.TOPIC0
    out = []
    for i in range(n):
        data = eth_abi.encode(
            ["string", "string", "string", "uint32", "uint32", "address", "uint96"],
            [f"Song {i}", "Some Artist", "electronic", 1, 10, _word_addr(rng)[12:], 500],
        )
        topics = [t0, _word_addr(rng), i.to_bytes(32, "big"), rng.randbytes(32)]
        out.append((topics, data))
    return out


def bench_generated(cls, logs) -> float:
    decode = cls.decode
    start = time.perf_counter()
    for topics, data in logs:
        decode(topics, data)
    return (time.perf_counter() - start) / len(logs)


def bench_web3(abi_file: str, event: str, logs) -> float:
    abi = json.loads((ROOT / "contracts" / "build" / abi_file).read_text())["abi"]
    w3 = Web3()
    contract = w3.eth.contract(address="0x" + "11" * 20, abi=abi)
    processor = getattr(contract.events, event)()
    entries = [
        {
            "address": "0x" + "11" * 20,
            "topics": [HexBytes(t) for t in topics],
            "data": HexBytes(data),
            "blockNumber": 1,
            "blockHash": HexBytes(bytes(32)),
            "transactionHash": HexBytes(bytes(32)),
            "transactionIndex": 0,
            "logIndex": i,
        }
        for i, (topics, data) in enumerate(logs)
    ]
    start = time.perf_counter()
    for entry in entries:
        processor.process_log(entry)
    return (time.perf_counter() - start) / len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--baseline-logs", type=int, default=5_000)
    parser.add_argument(
        "--unique-addresses",
        action="store_true",
        help="every address new (renderer cache misses: base58check per address)",
    )
    args = parser.parse_args()
    rng = random.Random(7)
    if not args.unique_addresses:
        _POOL.extend(bytes(12) + rng.randbytes(20) for _ in range(5_000))
    cases = [
        (
            "DCMXToken Transfer(address,address,uint256)",
            dcmx_token.Transfer,
            "DCMXToken.json",
            "Transfer",
            transfer_logs(args.logs, rng),
        ),
        (
            "MusicNFT Minted(address,uint256,bytes32,string x3,uint32,uint32,address,uint96)",
            music_nft.Minted,
            "MusicNFT.json",
            "Minted",
            minted_logs(args.logs, rng),
        ),
    ]
    for title, cls, abi_file, event, logs in cases:
        ours = bench_generated(cls, logs)
        theirs = bench_web3(abi_file, event, logs[: args.baseline_logs])
        print(title)
        print(f"  generated decoder: {ours * 1e6:8.2f} us/log  ({len(logs)} logs)")
        print(f"  web3 process_log:  {theirs * 1e6:8.2f} us/log  ({args.baseline_logs} logs)")
        print(f"  ratio:             {theirs / ours:8.1f}x")


if __name__ == "__main__":
    main()
