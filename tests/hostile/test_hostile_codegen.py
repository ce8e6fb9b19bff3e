"""Hypothesis throws broken and hostile artifacts at ``dcmx-codegen``.

Whatever the input (random JSON of any shape, a real artifact with a field deleted or of the
wrong type, names made of any characters, inputs past the limits of ``dcmx_codegen.limits``:
a huge file, types nested deep, huge fixed arrays, long names, hundreds of parameters), the
generator either writes code that compiles and SQL that runs, or exits 2 with one line naming
the file and what is wrong: no traceback, and the output folder exactly as it was. A user's
file in that folder survives either way.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmx_codegen.cli import main
from dcmx_codegen.limits import (
    MAX_ARRAY_LENGTH,
    MAX_FILE_BYTES,
    MAX_NAME_LENGTH,
    MAX_PARAMETERS,
    MAX_TYPE_DEPTH,
)

BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build"
TOKEN = json.loads((BUILD / "DCMXToken.json").read_text())
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Names of every kind: quotes, semicolons, SQL and Python syntax, unicode, control characters.
hostile_names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(['x"; DROP TABLE dcmx_cursor; --', "a'); import os; #", "\x00", "é" * 70,
                     "select", "class", "__init__", "0abc", " ", "a-b", "`x`", "[x]"]),
)
# Keys an ABI entry or parameter may carry, and a few it should not.
keys = st.sampled_from(["type", "name", "inputs", "outputs", "indexed", "anonymous",
                        "components", "stateMutability", "internalType", "abi", "contractName"])


@functools.cache
def _previous_output() -> Path:
    """An output folder from an earlier good run, with a user's file added to it."""
    root = Path(tempfile.mkdtemp(prefix="dcmx-hostile-"))
    artifact = root / "DCMXToken.json"
    artifact.write_text(json.dumps(TOKEN))
    result = CliRunner().invoke(main, [str(artifact), "-o", str(root / "gen")])
    assert result.exit_code == 0, result.output
    (root / "gen" / "keep.txt").write_text("the user's file")
    return root / "gen"


def _run(payload: bytes | str, name: str = "Thing.json") -> None:
    """Feed one artifact to the CLI and check the outcome is clean either way."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        artifact = root / name
        if isinstance(payload, str):
            artifact.write_text(payload)
        else:
            artifact.write_bytes(payload)
        out = root / "gen"
        shutil.copytree(_previous_output(), out)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        result = CliRunner().invoke(main, [str(artifact), "-o", str(out)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"codegen crashed: {result.exception!r}") from result.exception
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1, result.output
            assert lines[0].startswith("dcmx-codegen: error: ") and name in lines[0], lines[0]
            assert len(lines[0]) < 500, lines[0]
            assert {p.name: p.read_bytes() for p in out.iterdir()} == before
            return
        assert result.exit_code == 0, result.output
        assert (out / "keep.txt").read_text() == "the user's file"
        for py in out.glob("*.py"):
            compile(py.read_text(), str(py), "exec")
        with sqlite3.connect(":memory:") as db:
            db.executescript((out / "schema.sqlite.sql").read_text())


def _refused(payload: bytes | str, *words: str) -> None:
    """The artifact is refused with one line holding ``words`` (and the output untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "Thing.json"
        if isinstance(payload, str):
            artifact.write_text(payload)
        else:
            artifact.write_bytes(payload)
        result = CliRunner().invoke(main, [str(artifact), "-o", str(Path(tmp) / "gen")])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("dcmx-codegen: error: ") and "Thing.json" in line, line
    assert len(line) < 500, line
    for w in words:
        assert w in line, line
    _run(payload)  # and the general checks: the earlier output and the user's file intact


@SETTINGS
@given(json_values)
def test_random_json_shapes(doc):
    _run(json.dumps(doc))


@SETTINGS
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_random_bytes_and_text(raw):
    _run(raw)


@st.composite
def mutated_artifacts(draw):
    """The real DCMXToken artifact with one field deleted, retyped or renamed."""
    doc = copy.deepcopy(TOKEN)
    abi = doc["abi"]
    entry = abi[draw(st.integers(0, len(abi) - 1))]
    target = entry
    params = entry.get("inputs") or []
    if params and draw(st.booleans()):
        target = params[draw(st.integers(0, len(params) - 1))]
    key = draw(keys)
    action = draw(st.sampled_from(["delete", "retype", "rename", "type_text"]))
    if action == "delete":
        target.pop(key, None)
    elif action == "retype":
        value = draw(json_values)
        target[key] = value
    elif action == "rename":
        target["name"] = draw(hostile_names)
    else:
        target["type"] = draw(st.text(max_size=20))
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["abi", "contractName"]))] = draw(json_values)
    return doc


@SETTINGS
@given(mutated_artifacts())
def test_mutations_of_a_real_artifact(doc):
    _run(json.dumps(doc), name="DCMXToken.json")


@SETTINGS
@given(st.lists(hostile_names, min_size=1, max_size=6), hostile_names)
def test_hostile_identifiers_generate_safe_code_or_a_clean_refusal(names, event):
    inputs = [{"name": n, "type": "uint256", "indexed": i < 2} for i, n in enumerate(names)]
    abi = [
        {"type": "event", "name": event, "anonymous": False, "inputs": inputs},
        {"type": "function", "name": event, "stateMutability": "view", "inputs": inputs,
         "outputs": [{"name": names[0], "type": "bool"}]},
    ]
    _run(json.dumps({"contractName": event, "abi": abi}))


def test_control_characters_in_an_entry_type_stay_on_one_line():
    _run(json.dumps([{"type": "event\nFAKE: all good", "name": "x", "inputs": []}]))


# --- limits ----------------------------------------------------------------------------------


def _module(abi: list, name: str):
    """The generated module of ``abi`` (evm profile), imported."""
    import importlib.util

    from dcmx_codegen import render_package
    from dcmx_codegen.abi import contracts_from_json

    files = render_package(contracts_from_json(abi, name, f"{name}.json", ""), "evm")
    (module,) = [n for n in files if n.endswith(".py") and n != "__init__.py"]
    path = Path(tempfile.mkdtemp(prefix="dcmx-hostile-")) / module
    path.write_text(files[module])
    spec = importlib.util.spec_from_file_location(f"dcmx_hostile_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _event(*params: dict) -> str:
    return json.dumps([{"type": "event", "name": "E", "inputs": list(params)}])


def _nested_tuple(depth: int) -> dict:
    param: dict = {"name": "leaf", "type": "uint256"}
    for i in range(depth):
        param = {"name": f"t{i}", "type": "tuple", "components": [param]}
    return param


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    artifact = tmp_path / "Thing.json"
    with artifact.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    result = CliRunner().invoke(main, [str(artifact), "-o", str(tmp_path / "gen")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "Thing.json" in line and "larger than 32 MiB" in line
    assert not (tmp_path / "gen").exists()


def test_deep_nesting_is_refused():
    deep_array = "uint256" + "[]" * (MAX_TYPE_DEPTH + 1)
    _refused(_event({"name": "a", "type": deep_array}), f"more than {MAX_TYPE_DEPTH} deep")
    _refused(_event({"name": "a", "type": "uint256" + "[]" * 100_000}), "characters long")
    _refused(_event(_nested_tuple(MAX_TYPE_DEPTH + 1)), f"more than {MAX_TYPE_DEPTH} deep")
    # JSON nested deeper than any artifact: refused before Python's parser recurses into it
    _refused("[" * 100_000 + "]" * 100_000, "JSON nested more than 512 deep")
    _refused(_event(_nested_tuple(5_000)), "JSON nested more than 512 deep")


def test_deep_json_is_refused_where_the_recursion_limit_was_raised(tmp_path):
    # py_ecc (under eth-tester and py-evm) raises the limit to 100,000 when imported: the JSON
    # parser, which recurses in C, then overflowed the C stack (a segfault) instead of raising
    artifact = tmp_path / "Thing.json"
    artifact.write_text("[" * 200_000 + "]" * 200_000)
    code = (
        "import sys; sys.setrecursionlimit(1_000_000); "
        "from dcmx_codegen.cli import main; "
        f"main([{str(artifact)!r}, '-o', {str(tmp_path / 'gen')!r}])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "dcmx-codegen: error: Thing.json: JSON nested more than 512 deep; not an artifact"
    ]


def test_the_deepest_allowed_types_generate_code_that_runs():
    import dataclasses

    import eth_abi
    depth = MAX_TYPE_DEPTH
    deep_array, deep_tuple = "uint256" + "[]" * depth, "(" * depth + "uint256" + ")" * depth
    abi = [
        {"type": "event", "name": "E", "inputs": [
            {"name": "a", "type": deep_array}, _nested_tuple(depth)]},
        {"type": "function", "name": "f", "stateMutability": "view",
         "inputs": [{"name": "a", "type": "address" + "[]" * depth}],
         "outputs": [_nested_tuple(depth)]},
    ]
    mod = _module(abi, "Deep")
    array: object = [5]
    struct: object = (7,)
    for _ in range(depth - 1):
        array, struct = [array], (struct,)

    def innermost(value: object) -> object:
        for _ in range(depth):
            value = value[0]  # type: ignore[index]
        return value

    event = mod.E.decode([mod.E.TOPIC0], eth_abi.encode([deep_array, deep_tuple], [array, struct]))
    assert innermost(event.a) == 5
    assert innermost(dataclasses.astuple(event.t15)) == 7
    out = mod.Deep.f.decode_output(eth_abi.encode([deep_tuple], [struct]))
    assert innermost(dataclasses.astuple(out)) == 7
    arg: object = ["0x" + "11" * 20]
    for _ in range(depth - 1):
        arg = [arg]
    assert mod.Deep.f.encode(arg)[4:] == eth_abi.encode(["address" + "[]" * depth], [arg])


def test_huge_fixed_arrays_are_refused():
    _refused(_event({"name": "a", "type": f"uint256[{MAX_ARRAY_LENGTH + 1}]"}),
             f"limited to {MAX_ARRAY_LENGTH} items")
    _refused(_event({"name": "a", "type": "uint256[" + "9" * 900 + "]"}), "limited to")


def test_long_names_and_many_parameters_are_refused():
    long = "x" * (MAX_NAME_LENGTH + 1)
    _refused(_event({"name": long, "type": "uint256"}), "characters long")
    _refused(json.dumps([{"type": "event", "name": long, "inputs": []}]), "characters long")
    _refused(json.dumps({"contractName": long, "abi": []}), "characters long")
    many = [{"name": f"p{i}", "type": "uint8"} for i in range(MAX_PARAMETERS + 1)]
    _refused(_event(*many), f"the limit is {MAX_PARAMETERS}")
    members = {"name": "t", "type": "tuple", "components": many}
    _refused(_event(members), f"the limit is {MAX_PARAMETERS}")


def test_names_that_are_not_identifiers_generate_safe_code():
    # parentheses, quotes, newlines and keywords in a function's name: the module imports, and
    # the selector is keccak of the signature exactly as the ABI spells it
    from eth_hash.auto import keccak
    names = ["f(uint256)", "g)", "(h", 'x"\n\'', "class", "a\nb", "\x00"]
    abi = [{"type": "function", "name": n, "stateMutability": "view",
            "inputs": [{"name": "v", "type": "uint256"}], "outputs": []} for n in names]
    mod = _module(abi, "Odd")
    declared = {f.name: f for f in vars(mod.Odd).values() if hasattr(f, "signature")}
    assert sorted(declared) == sorted(names)
    for n, f in declared.items():
        assert f.encode(5)[:4] == keccak(f"{n}(uint256)".encode())[:4]
    _run(json.dumps({"contractName": "Odd", "abi": abi}))
