"""Every event type of the five contracts: generated decoders vs web3.py ``process_log``.

For each event of each contract's ABI, ``--logs`` logs (100,000) with random valid arguments
are encoded with eth_abi (1,000 distinct encodings, repeated to the count: the decoders' cost
does not depend on the bytes, and encoding 3 million logs would take minutes), addresses drawn
from a pool of 5,000 wallets (token traffic reuses addresses; the renderer caches them).

Both sides decode in the same run, interleaved round by round; web3 on ``--baseline-logs``
of them (it is ~100x slower); each side's best round is its figure, the GC off while timing.
Prints a table and exits 1 when an event type is below ``--target`` (100x).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time

import eth_abi
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3

from bench.chainmix import BUILD, CONTRACT_NAMES

DISTINCT = 1_000


def _value(t: str, rng: random.Random, pool: list[bytes]):
    if t.endswith("[]"):
        return [_value(t[:-2], rng, pool) for _ in range(rng.randint(0, 4))]
    if t == "address":
        return "0x" + rng.choice(pool).hex()
    if t == "bool":
        return rng.random() < 0.5
    if t.startswith("uint"):
        return rng.getrandbits(int(t[4:] or 256))
    if t.startswith("int"):
        bits = int(t[3:] or 256)
        return rng.getrandbits(bits) - 2 ** (bits - 1)
    if t == "string":
        return "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(0, 40)))
    if t == "bytes":
        return rng.randbytes(rng.randint(0, 64))
    if t.startswith("bytes"):
        return rng.randbytes(int(t[5:]))
    raise ValueError(f"no generator for ABI type {t}")


def event_logs(entry: dict, rng: random.Random, pool: list[bytes]) -> list[tuple[list, bytes]]:
    inputs = entry["inputs"]
    sig = f"{entry['name']}({','.join(i['type'] for i in inputs)})"
    topic0 = keccak(sig.encode())
    out = []
    for _ in range(DISTINCT):
        values = [_value(i["type"], rng, pool) for i in inputs]
        pairs = list(zip(inputs, values, strict=True))
        topics = [topic0] + [eth_abi.encode([i["type"]], [v]) for i, v in pairs if i["indexed"]]
        plain = [(i["type"], v) for i, v in pairs if not i["indexed"]]
        data = eth_abi.encode([t for t, _ in plain], [v for _, v in plain]) if plain else b""
        out.append((topics, data))
    return out


def _best(fn, rounds: int) -> list[float]:
    return [fn() for _ in range(rounds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--baseline-logs", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=100.0)
    args = parser.parse_args(argv)
    from dcmx_generated import CONTRACTS

    rng = random.Random(11)
    pool = [rng.randbytes(20) for _ in range(5_000)]
    w3 = Web3()
    failed, rows = [], []
    print(f"{'event':48s} {'generated':>12s} {'web3':>12s} {'ratio':>8s}")
    for contract in CONTRACT_NAMES:
        module = CONTRACTS[contract]
        abi = json.loads((BUILD / f"{contract}.json").read_text())["abi"]
        web3_contract = w3.eth.contract(address="0x" + "11" * 20, abi=abi)
        for entry in (e for e in abi if e["type"] == "event"):
            distinct = event_logs(entry, rng, pool)
            logs = (distinct * (args.logs // DISTINCT + 1))[: args.logs]
            cls = module.DISPATCH[distinct[0][0][0], len(distinct[0][0])]
            processor = getattr(web3_contract.events, entry["name"])()
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
                for i, (topics, data) in enumerate(distinct[: args.baseline_logs])
            ]
            entries = (entries * (args.baseline_logs // len(entries) + 1))[: args.baseline_logs]
            decode = module.decode_log  # what the indexer calls: dispatch included

            def ours(logs=logs, decode=decode) -> float:
                gc.collect()
                gc.disable()
                try:
                    t = time.perf_counter()
                    for topics, data in logs:
                        decode(topics, data)
                    return (time.perf_counter() - t) / len(logs)
                finally:
                    gc.enable()

            def theirs(entries=entries, process=processor.process_log) -> float:
                gc.collect()
                gc.disable()
                try:
                    t = time.perf_counter()
                    for e in entries:
                        process(e)
                    return (time.perf_counter() - t) / len(entries)
                finally:
                    gc.enable()

            o, w = [], []
            for _ in range(args.rounds):
                o.append(ours())
                w.append(theirs())
            ratio = min(w) / min(o)
            title = f"{contract}.{cls.SIGNATURE if hasattr(cls, 'SIGNATURE') else entry['name']}"
            title = title if len(title) <= 48 else title[:45] + "..."
            rows.append((title, min(o), min(w), ratio))
            print(f"{title:48s} {min(o) * 1e6:9.2f} us {min(w) * 1e6:9.1f} us {ratio:7.0f}x",
                  flush=True)
            if ratio < args.target:
                failed.append(f"{title} {ratio:.0f}x")
    worst = min(rows, key=lambda r: r[3])
    print(f"{len(rows)} event types; lowest ratio {worst[3]:.0f}x ({worst[0]}); "
          f"target {args.target:g}x: {'met' if not failed else 'MISSED: ' + '; '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
