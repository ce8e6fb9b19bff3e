"""Generated event decoders vs web3.py's ``contract.events.X().process_log`` on the same logs.

Run: ``.venv/bin/python bench/bench_decode.py [--logs 100000] [--baseline-logs 5000] [--rounds 3]``.
Both sides decode the same logs in the same run, interleaved round by round (generated, web3,
generated, web3, ...) so load on a shared machine hits both; web3 is timed on a subset (it is
~100x slower) and reported per log. Each side's best round is its figure (noise only ever adds
time); the ratio is web3's best over ours. The garbage collector is off while a loop is timed
(as ``timeit`` does), for both sides. Exits 1 when a ratio is below ``--target`` (100x).
Uses the generated DCMX modules (``dcmx_generated``, TRON profile) and the ABIs of
``contracts/build``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

import eth_abi
from hexbytes import HexBytes
from web3 import Web3

from dcmx_generated import dcmx_token, music_nft

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


def _timed(fn, items) -> float:
    """Seconds per item of ``fn(item)`` over ``items``, the GC off meanwhile."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return (time.perf_counter() - start) / len(items)
    finally:
        gc.enable()


def generated_runner(cls):
    decode = cls.decode

    def run(logs) -> float:
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for topics, data in logs:
                decode(topics, data)
            return (time.perf_counter() - start) / len(logs)
        finally:
            gc.enable()

    return run


def web3_runner(abi_file: str, event: str, logs):
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

    def run() -> float:
        return _timed(processor.process_log, entries)

    return run


def _check_same_values(cls, abi_file: str, event: str, log) -> None:
    """Both sides decode a sample log to the same values (addresses compared as bytes)."""
    from dcmx_core.addresses import parse

    topics, data = log
    abi = json.loads((ROOT / "contracts" / "build" / abi_file).read_text())["abi"]
    (entry_abi,) = [e for e in abi if e.get("type") == "event" and e["name"] == event]
    addresses = {i["name"] for i in entry_abi["inputs"] if i["type"] == "address"}
    contract = Web3().eth.contract(address="0x" + "11" * 20, abi=abi)
    entry = {
        "address": "0x" + "11" * 20,
        "topics": [HexBytes(t) for t in topics],
        "data": HexBytes(data),
        "blockNumber": 1,
        "blockHash": HexBytes(bytes(32)),
        "transactionHash": HexBytes(bytes(32)),
        "transactionIndex": 0,
        "logIndex": 0,
    }
    theirs = dict(getattr(contract.events, event)().process_log(entry)["args"])
    ours = cls.decode(topics, data).args()
    ours = {k: parse(v) if k in addresses else v for k, v in ours.items()}
    theirs = {k: bytes.fromhex(v[2:]) if k in addresses else v for k, v in theirs.items()}
    theirs = {k: bytes(v) if isinstance(v, bytes) else v for k, v in theirs.items()}
    ours = {
        k: bytes.fromhex(v[2:])
        if k not in addresses and isinstance(v, str) and v.startswith("0x")
        else v
        for k, v in ours.items()
    }
    if ours != theirs:
        raise SystemExit(f"{cls.__name__}: generated and web3 values differ: {ours} / {theirs}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--baseline-logs", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side")
    parser.add_argument("--target", type=float, default=100.0, help="minimum ratio (exit 1)")
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
    failed = []
    for title, cls, abi_file, event, logs in cases:
        _check_same_values(cls, abi_file, event, logs[0])
        ours_run = generated_runner(cls)
        theirs_run = web3_runner(abi_file, event, logs[: args.baseline_logs])
        ours_t, theirs_t = [], []
        for _ in range(args.rounds):
            ours_t.append(ours_run(logs))
            theirs_t.append(theirs_run())
        ours, theirs = min(ours_t), min(theirs_t)
        ratio = theirs / ours
        rounds = ", ".join(f"{t / o:.0f}x" for o, t in zip(ours_t, theirs_t, strict=True))
        print(title)
        print(
            f"  generated decoder: {ours * 1e6:8.2f} us/log  best of {args.rounds}"
            f" (median {statistics.median(ours_t) * 1e6:.2f}; {len(logs)} logs)"
        )
        print(
            f"  web3 process_log:  {theirs * 1e6:8.2f} us/log  best of {args.rounds}"
            f" (median {statistics.median(theirs_t) * 1e6:.2f}; {args.baseline_logs} logs)"
        )
        print(f"  ratio:             {ratio:8.1f}x  (target {args.target:g}x; rounds: {rounds})")
        if ratio < args.target:
            failed.append(f"{title}: {ratio:.1f}x")
    if failed:
        print("below target: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
