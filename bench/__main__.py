"""``python -m bench [names...]``: run the benchmark suite (all of it without names).

Names: decode, decode_all, e2e, memory, wire, rollback, codegen, ablation, api, backfill_api,
user, tx_index. Every figure is printed beside its baseline measured in the same run, with the
ratio and the target; the exit status is 1 when a target was missed. Options after ``--`` go
to a single named benchmark, e.g. ``python -m bench e2e -- --events 100000 --db sqlite``.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import machine

# name -> module run as ``python -m``; each benchmark runs in its own process (clean memory,
# clean imports: one benchmark's caches never flatter the next one's figures).
SUITE = {
    "decode": "bench.bench_decode",  # Transfer and Minted, kept by the decoder's owner
    "decode_all": "bench.decode_all",
    "e2e": "bench.e2e",
    "memory": "bench.memory",
    "wire": "bench.wire",
    "rollback": "bench.rollback",
    "codegen": "bench.codegen_time",
    "ablation": "bench.ablation",
    "api": "bench.api",  # dcmx serve under load (needs wrk)
    "backfill_api": "bench.backfill_api",  # a SQLite backfill under API load (needs wrk)
    "user": "bench.user",  # dcmx run spawned against anvil, as a user meets it
    "tx_index": "bench.tx_index",  # what the index on tx_hash costs indexing
}


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    names = argv or list(SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}")
        return 2
    if extra and len(names) != 1:
        print("options after -- go to exactly one named benchmark")
        return 2
    print(f"machine: {machine()}")
    failed = []
    for name in names:
        print(f"\n== {name} ==", flush=True)
        t = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", SUITE[name], *extra])
        print(f"({name}: {time.perf_counter() - t:.0f} s)", flush=True)
        if rc:
            failed.append(name)
    print(f"\ntargets missed in: {', '.join(failed)}" if failed else "\nall targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
