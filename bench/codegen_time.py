"""Codegen time: ``dcmx-codegen`` on the five contracts plus the largest reference ABIs.

Timed as a user runs it (a fresh process: interpreter start and imports included), into a
temporary folder, best of three; beside it, in the same run, the bare start of a process that
imports the generator (what no amount of generator speed can remove). Target: < 2 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference" / "abis"
LARGEST = ("seaport-1.1_Seaport.json", "uniswap-v3-core-1.0.1_UniswapV3Pool.json")


def _best(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    inputs = [str(ROOT / "contracts" / "build" / f"{n}.json") for n in
              ("DCMXToken", "MusicNFT", "RoyaltyDistributor", "RewardVault", "ComplianceRegistry")]
    inputs += [str(REFERENCE / n) for n in LARGEST if (REFERENCE / n).exists()]
    codegen = str(Path(sys.executable).with_name("dcmx-codegen"))
    with tempfile.TemporaryDirectory(prefix="dcmx-codegen-") as out:
        gen = _best([codegen, "-o", f"{out}/gen", *inputs], args.rounds)
        files = sorted(p.name for p in Path(out, "gen").glob("*.py"))
    start = _best([sys.executable, "-c", "import dcmx_codegen.cli"], args.rounds)
    print(f"dcmx-codegen, 5 contracts + {', '.join(n.split('_')[-1] for n in LARGEST)} "
          f"({len(files)} modules): {gen:.2f} s (process start + imports alone: {start:.2f} s); "
          f"target < 2 s: {'met' if gen < 2 else 'MISSED'}")
    return 0 if gen < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
