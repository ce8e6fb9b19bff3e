"""dcmx installed from its wheel, far from the checkout, and a newcomer's first project.

The wheel is built once (from a copy of the checkout's files: nothing is written into the
checkout) and installed into a fresh virtual environment in an empty folder; its
dependencies come from the package index through pip's cache, as a user's install would.
There: what a plain install pulls in, ``dcmx-codegen``, ``dcmx demo`` (with the devchain
extra), and the path a newcomer takes: ``dcmx new`` on a real-world ERC-20 ABI, ``pip install
-e '.[dev]'``, the project's own tests and ``mypy --strict``, then ``dcmx run`` on anvil
(the project's plugin found through its entry point) and a look at its table. Each step is
timed; the times are printed (``pytest -s``) and the newcomer's path must stay under five
minutes of machine time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from anvil_erc20 import MINIMAL_ERC20, accounts, deploy_and_transfer

ROOT = Path(__file__).resolve().parents[2]
ERC20_ABI = ROOT / "tests" / "data" / "reference" / "abis" / "oz-5.7.0_ERC20.json"
# What the wheel is built from (package-dir in pyproject.toml), copied out of the checkout.
SOURCES = ("pyproject.toml", "README.md", "dcmx_core", "codegen", "plugins", "generated",
           "contracts/build")
DEVCHAIN = ("web3", "eth-tester", "py-evm")

pytestmark = [pytest.mark.slow]
TIMES: dict[str, float] = {}


def _timed(step: str, args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    TIMES[step] = time.perf_counter() - started
    return result


def _env(venv: Path) -> dict[str, str]:
    """A clean environment: the venv first on PATH, nothing of the checkout's or dcmx's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DCMX_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def checkout_state() -> str:
    """git status of the checkout before anything here ran (compared after: untouched)."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, checkout_state: str) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, source / name)
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the setuptools of this environment (dev extra), no download.
    _ok(_timed("build the wheel", [sys.executable, "-m", "build", "--wheel", "--no-isolation",
                                   "--outdir", str(out), str(source)], cwd=source))
    (built,) = out.glob("dcmx-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment with dcmx installed from the wheel, without extras."""
    home = tmp_path_factory.mktemp("fresh")
    venv = home / "venv"
    _ok(_timed("create a venv", [sys.executable, "-m", "venv", str(venv)], cwd=home))
    _ok(_timed("pip install dcmx (the wheel)", [str(venv / "bin" / "pip"), "install", "-q",
                                                "--disable-pip-version-check", str(wheel)],
               cwd=home, env=_env(venv)))
    return venv


def _distributions(venv: Path) -> dict[str, int]:
    """{distribution: bytes of its installed files} in ``venv``, pip and setuptools aside."""
    code = (
        "import importlib.metadata as m, json, os\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    n = d.metadata['Name']\n"
        "    if n in ('pip', 'setuptools'): continue\n"
        "    out[n] = sum(os.path.getsize(f.locate()) for f in d.files or []\n"
        "                 if os.path.isfile(f.locate()))\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_the_wheel_holds_every_module_and_data_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {"dcmx_core": "dcmx_core", "codegen": "dcmx_codegen", "plugins": "dcmx_plugins",
                "generated": "dcmx_generated"}
    for folder, package in packages.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).as_posix()
            assert f"{package}/{rel}" in names, f"{folder}/{rel} is not in the wheel"
    expected = {
        "dcmx_core/py.typed", "dcmx_codegen/py.typed", "dcmx_plugins/py.typed",
        "dcmx_generated/py.typed", "dcmx_generated/.dcmx-codegen",
        "dcmx_generated/schema.postgresql.sql", "dcmx_generated/schema.sqlite.sql",
        "dcmx_codegen/templates/contract.py.j2",
        *(f"dcmx_core/scaffold/{p.name}" for p in (ROOT / "dcmx_core/scaffold").glob("*.j2")),
        *(f"dcmx_plugins/artifacts/{p.name}" for p in (ROOT / "contracts/build").glob("*.json")),
    }
    assert len([n for n in expected if n.startswith("dcmx_plugins/artifacts/")]) == 5
    assert len([n for n in expected if n.startswith("dcmx_core/scaffold/")]) >= 7
    assert expected - names == set()
    assert not [n for n in names if "/test/" in n or n.startswith("tests/")]  # no test helpers
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    ).decode()
    assert "Provides-Extra: devchain" in metadata
    assert not [line for line in metadata.splitlines()
                if line.startswith("Requires-Dist: web3") and "extra ==" not in line]


def test_installed_far_from_the_checkout(
    wheel: Path, venv: Path, tmp_path: Path, checkout_state: str
):
    env = _env(venv)
    bin_ = venv / "bin"
    where = _ok(subprocess.run([str(bin_ / "python"), "-c", "import dcmx_core, dcmx_plugins; "
                                "print(dcmx_core.__file__, dcmx_plugins.__file__)"],
                               cwd=tmp_path, env=env, capture_output=True, text=True))
    assert str(ROOT) not in where and str(venv) in where
    base = _distributions(venv)
    assert not [d for d in base if d.lower() in DEVCHAIN], sorted(base)
    print(f"\nplain install: {len(base)} distributions, {sum(base.values()) / 1e6:.1f} MB")

    # dcmx-codegen on a real ABI, in an empty folder
    out = _ok(subprocess.run([str(bin_ / "dcmx-codegen"), str(ERC20_ABI), "-o", "bindings",
                              "--package", "bindings"], cwd=tmp_path, env=env,
                             capture_output=True, text=True))
    assert "wrote 6 files" in out and (tmp_path / "bindings" / "erc20.py").is_file()

    # the devchain needs its extra, and says so
    demo = subprocess.run([str(bin_ / "dcmx"), "demo", "--rounds", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert demo.returncode == 2, demo.stderr
    assert demo.stderr.strip().endswith("pip install 'dcmx[devchain]'"), demo.stderr
    assert demo.stderr.count("\n") == 1

    _ok(_timed("pip install the devchain extra", [
        str(bin_ / "pip"), "install", "-q", "--disable-pip-version-check", f"{wheel}[devchain]"
    ], cwd=tmp_path, env=env))
    full = _distributions(venv)
    print(f"with the devchain extra: {len(full)} distributions, "
          f"{sum(full.values()) / 1e6:.1f} MB")
    demo = _timed("dcmx demo", [str(bin_ / "dcmx"), "demo", "--rounds", "2"], cwd=tmp_path,
                  env=env)
    assert "fork survived" in _ok(demo) and (tmp_path / "dcmx-demo.db").is_file()


@pytest.mark.anvil
def test_a_newcomer_from_dcmx_new_to_an_indexed_table(
    venv: Path, tmp_path: Path, anvil: str, checkout_state: str
):
    env = _env(venv)
    bin_ = venv / "bin"
    work = tmp_path / "work"
    work.mkdir()
    started = time.perf_counter()
    made = _timed("dcmx new", [str(bin_ / "dcmx"), "new", "tokens", "--abi", str(ERC20_ABI),
                               "--profile", "evm"], cwd=work, env=env)
    assert "plugin over ERC20.Transfer" in _ok(made)
    project = work / "tokens"
    _ok(_timed("pip install -e '.[dev]'", [str(bin_ / "pip"), "install", "-q",
                                          "--disable-pip-version-check", "-e", ".[dev]"],
               cwd=project, env=env))
    tests = _ok(_timed("pytest (the project's tests)", [str(bin_ / "pytest"), "-q", "-p",
                                                        "no:cacheprovider"],
                       cwd=project, env=env))
    assert "2 passed" in tests
    checked = _ok(_timed("mypy --strict", [str(bin_ / "mypy"), "--strict",
                                           "--no-incremental"], cwd=project, env=env))
    assert "Success: no issues found in 5 source files" in checked

    # A real ERC-20 emitting the ABI's events on a real node.
    t0 = time.perf_counter()
    token, head = deploy_and_transfer(anvil)
    TIMES["deploy and transfer on anvil"] = time.perf_counter() - t0
    listed = _ok(subprocess.run([str(bin_ / "dcmx"), "plugins"], cwd=project, env=env,
                                capture_output=True, text=True))
    assert "tokens" in listed
    indexed = _timed("dcmx run", [str(bin_ / "dcmx"), "run", "--source", anvil, "--contract",
                                  f"ERC20={token}", "--to-block", str(head)],
                     cwd=project, env=env)
    _ok(indexed)
    # 5 Transfers (the mint too) and an Approval, each in its raw table
    assert f"indexed to block {head}: 6 events" in indexed.stderr, indexed.stderr
    read = _timed("read the table", [
        str(bin_ / "python"), "-c",
        "import json; from dcmx_core.testing import rows; from tokens import plugin; "
        "print(json.dumps(rows('sqlite:///tokens.db', plugin.stats)))",
    ], cwd=project, env=env)
    table = json.loads(_ok(read))
    TIMES["newcomer total: dcmx new .. table"] = time.perf_counter() - started
    deployer, alice, bob = accounts(anvil)[:3]
    by_sender = {r["from_"].lower(): r for r in table}
    zero = "0x" + "00" * 20
    assert by_sender[zero]["events"] == 1 and by_sender[zero]["total_value"] == 10**24
    assert by_sender[deployer]["events"] == 3
    assert by_sender[deployer]["total_value"] == 10**20 + 2 * 10**18 + 3
    assert by_sender[alice]["events"] == 1 and by_sender[alice]["total_value"] == 5 * 10**17
    assert bob not in by_sender and len(table) == 3
    assert max(r["last_block"] for r in table) == head
    _report()
    assert TIMES["newcomer total: dcmx new .. table"] < 300


def test_the_checkout_was_not_touched(checkout_state: str):
    now = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert now == checkout_state


def _report() -> None:
    print("\n".join(f"  {seconds:7.1f} s  {step}" for step, seconds in TIMES.items()))


def test_the_test_contract_emits_exactly_the_abi_events():
    """MinimalERC20 stands in for the real ABI on the node: same events, same indexing."""
    ours = [e for e in json.loads(MINIMAL_ERC20.read_text())["abi"] if e["type"] == "event"]
    theirs = [e for e in json.loads(ERC20_ABI.read_text())["abi"] if e["type"] == "event"]

    def shape(events: list[dict]) -> list[tuple]:
        return sorted((e["name"], tuple((i["type"], i["indexed"]) for i in e["inputs"]))
                      for e in events)

    assert shape(ours) == shape(theirs)
