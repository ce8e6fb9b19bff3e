"""``dcmx new``: a plugin project from ABIs, whose own tests pass for every event of every
real-world ABI; and every input checked before anything is written."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.errors import ConfigError
from dcmx_core.scaffold import Abi, render_project
from dcmx_core.settings import load

ABIS = Path(__file__).resolve().parents[1] / "data" / "reference" / "abis"
ERC20 = ABIS / "oz-5.7.0_ERC20.json"
BIN = Path(sys.executable).parent
REFERENCE = sorted(
    p for p in ABIS.glob("*.json")
    if p.name not in ("log_vectors.json", "eth-abi_correct_encodings.json")
    and not p.name.startswith("ethereum-tests")
)


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["new", *args])
    return result.exit_code, result.output


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_project_from_a_real_abi(tmp_path):
    folder = tmp_path / "My-Indexer"
    code, out = _new(str(folder), "--abi", str(ERC20), "--profile", "evm")
    assert code == 0, out
    assert "plugin over ERC20.Transfer(address,address,uint256)" in out
    files = _tree(folder)
    assert {
        "pyproject.toml", "README.md", "dcmx.toml", ".gitignore", "abis/oz-5.7.0_ERC20.json",
        "src/my_indexer/__init__.py", "src/my_indexer/plugin.py", "src/my_indexer/py.typed",
        "src/my_indexer/bindings/erc20.py", "src/my_indexer/bindings/.dcmx-codegen",
        "tests/test_plugin.py",
    } <= set(files)
    assert files["abis/oz-5.7.0_ERC20.json"] == ERC20.read_bytes()
    project = tomllib.loads(files["pyproject.toml"].decode())
    entry_points = project["project"]["entry-points"]
    assert entry_points["dcmx.plugins"] == {"my_indexer": "my_indexer.plugin"}
    assert entry_points["dcmx.contracts"] == {"ERC20": "my_indexer.bindings.erc20"}
    assert project["project"]["name"] == "my-indexer"
    plugin = files["src/my_indexer/plugin.py"].decode()
    assert '"my_indexer_transfer_stats"' in plugin and "d.event.value" in plugin
    # both networks of its dcmx.toml load, addresses in the profile's form
    config = folder / "dcmx.toml"
    anvil = load(str(config), env={})
    assert (anvil.network, anvil.profile, anvil.source) == ("anvil", "evm", ("http://127.0.0.1:8545",))
    assert anvil.plugins == ("my_indexer",) and anvil.contracts == ()
    assert load(str(config), {"network": "nile"}, env={}).sources() == (
        "tron+https://nile.trongrid.io",
    )
    # The bindings are what the README's regeneration command makes from abis/: fresh.
    check = subprocess.run(
        [str(BIN / "dcmx-codegen"), "abis", "-o", "src/my_indexer/bindings", "--package",
         "my_indexer.bindings", "--profile", "evm", "--check"],
        cwd=folder, capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stderr
    assert "dcmx-codegen abis -o src/my_indexer/bindings --package my_indexer.bindings " \
           "--profile evm" in files["README.md"].decode()
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=folder,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_an_empty_folder_is_filled_and_a_full_one_never_touched(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = _new(str(empty), "--abi", str(ERC20), "--name", "tokens")
    assert code == 0, out
    assert (empty / "src" / "tokens" / "plugin.py").is_file()
    assert "T" in json.dumps((empty / "tests" / "test_plugin.py").read_text())  # tron default
    full = tmp_path / "full"
    full.mkdir()
    (full / ".env").write_text("mine")
    before = _tree(full)
    code, out = _new(str(full), "--abi", str(ERC20))
    assert code == 2 and out.startswith("error: ") and out.count("\n") == 1
    assert "is not empty (1 entry: .env)" in out
    assert _tree(full) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "empty", "full"
    ]  # no half-made project left beside it either


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--abi", "missing.json"], "--abi missing.json: no such file"),
        (["--abi", str(ERC20), "--name", "Bad-Name"], "'Bad-Name' is not a Python package"),
        (["--abi", str(ERC20), "--name", "dcmx_core"], "would shadow dcmx's own modules"),
        (["--abi", str(ERC20), "--name", "json"], "would shadow Python's own modules"),
        (["--abi", str(ERC20), "--name", "class"], "is not a Python package name"),
        (["--abi", str(ERC20), "--event", "Mint"], "--event 'Mint' matches no event; the "
         "events: ERC20.Approval(address,address,uint256), ERC20.Transfer("),
        (["--abi", str(ERC20), "--event", "Other.Transfer"], "matches no event"),
        (["--abi", str(ERC20), "--abi", str(ERC20)], "two --abi files have the same name"),
        (["--abi", str(ABIS / "pymaker_Vat.abi.json"), "--event", "LogNote(bytes4)"],
         "matches no event"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_written(tmp_path, args, message):
    folder = tmp_path / "project"
    code, out = _new(str(folder), *args)
    assert code == 2, out
    assert message in out and out.count("\n") == 1, out
    assert not folder.exists()


def test_abis_go_through_codegen_checks(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"type": "event", "name": "E", "inputs": [{"name": "x", "type": "uint7"}]}]')
    code, out = _new(str(tmp_path / "p"), "--abi", str(bad))
    assert code == 2 and "abis/bad.json" in out and "uint7" in out, out
    no_events = tmp_path / "quiet.json"
    no_events.write_text('[{"type": "function", "name": "f", "inputs": [], "outputs": []}]')
    code, out = _new(str(tmp_path / "p"), "--abi", str(no_events))
    assert code == 2 and "declare no events" in out, out
    not_file = tmp_path / "file"
    not_file.write_text("x")
    code, out = _new(str(not_file), "--abi", str(ERC20))
    assert code == 2 and "exists and is not a folder" in out, out
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    code, out = _new(str(link), "--abi", str(ERC20))
    assert code == 2 and "symbolic link" in out, out
    assert not (tmp_path / "p").exists()


def test_the_event_is_chosen_sensibly():
    def chosen(path: Path, event: str | None = None) -> str:
        _, c = render_project("p", [Abi(path.name, path.read_bytes())], "evm", event)
        return f"{c.contract}.{c.cls} key={c.key} amount={c.amount}"

    assert chosen(ERC20) == "ERC20.Transfer key=from_ amount=value"  # Transfer, not Approval
    assert chosen(ERC20, "Approval") == "ERC20.Approval key=owner amount=value"
    assert chosen(ABIS / "oz-5.7.0_ERC1155.json") == (
        "ERC1155.ApprovalForAll key=account amount=None"  # the first with an indexed address
    )
    link = ABIS / "chainlink-1.5.0_LinkToken.abi.json"  # overloaded Transfer events
    # a bare ABI's contract is named after its file; its entry point by its class
    assert chosen(link, "Chainlink150LinkToken.Transfer(address,address,uint256,bytes)") == (
        "Chainlink150LinkToken.TransferAddressAddressUint256Bytes key=from_ amount=value"
    )
    with pytest.raises(ConfigError, match=r"matches chainlink-1.5.0_LinkToken.Transfer\(addr"
                       r"ess,address,uint256\), chainlink-1.5.0_LinkToken.Transfer\("):
        chosen(link, "Transfer")
    # anonymous events only when they can be told apart
    assert chosen(ABIS / "pymaker_Vat.abi.json") == "pymaker_Vat.LogNote key=None amount=None"


def _every_event() -> list[tuple[Path, str]]:
    out = []
    for path in REFERENCE:
        doc = json.loads(path.read_text())
        name = doc.get("contractName", path.name.removesuffix(".json").removesuffix(".abi")) \
            if isinstance(doc, dict) else path.name.removesuffix(".json").removesuffix(".abi")
        for entry in doc["abi"] if isinstance(doc, dict) else doc:
            if entry.get("type") == "event":
                types = ",".join(_canonical(p) for p in entry["inputs"])
                out.append((path, f"{name}.{entry['name']}({types})"))
    return out


def _canonical(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return f"({','.join(_canonical(c) for c in param['components'])})" + param["type"][5:]
    return param["type"]


EVENTS = _every_event()


def test_the_project_tests_pass_for_every_event_of_every_reference_abi(tmp_path):
    """All 56 events of the reference ABIs (structs, arrays, hashed topics, anonymous events,
    overloads), the profiles taken in turn: each project's own tests pass, in this process."""
    assert len(EVENTS) == 56
    failures = []
    refused = []
    for i, (path, event) in enumerate(EVENTS):
        profile = ("evm", "tron")[i % 2]
        package = f"scaffold_{i}"
        try:
            files, _ = render_project(package, [Abi(path.name, path.read_bytes())], profile,
                                      event)
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            if "anonymous and shares its topic count" in str(exc):
                refused.append(event)  # on purpose: such logs cannot be told apart
                continue
            failures.append(f"{event}: {exc}")
            continue
        root = tmp_path / package
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        failures += _run_tests(root, package, event)
    assert failures == []
    assert refused == []


def _run_tests(root: Path, package: str, event: str) -> list[str]:
    sys.path.insert(0, str(root / "src"))
    try:
        spec = importlib.util.spec_from_file_location(
            f"{package}_tests", root / "tests" / "test_plugin.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        failed = []
        # the fork test folds events in, then rolls them back: the other test's work too
        for name in ("test_a_fork_rolls_the_table_back",):
            try:
                getattr(module, name)()
            except Exception as exc:  # noqa: BLE001 - collected, reported together
                failed.append(f"{event}: {name}: {type(exc).__name__}: {exc}")
        return failed
    finally:
        sys.path.remove(str(root / "src"))
        for name in [m for m in sys.modules if m.split(".")[0] == package]:
            del sys.modules[name]


def test_the_help_says_what_it_makes():
    out = CliRunner().invoke(cli, ["new", "--help"], terminal_width=100).output
    assert "DIR must not exist, or be empty" in out and "--profile [tron|evm]" in out
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert " new " in listed
    assert os.path.basename(__file__) == "test_new.py"
