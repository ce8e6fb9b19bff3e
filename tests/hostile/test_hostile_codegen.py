"""Hypothesis throws broken and hostile artifacts at ``dcmx-codegen``.

Whatever the input (random JSON of any shape, a real artifact with a field deleted or of the
wrong type, names made of any characters), the generator either writes code that compiles and
SQL that runs, or exits 2 with one line naming the file and what is wrong: no traceback, and
the output folder exactly as it was.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmx_codegen.cli import main

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
        out.mkdir()
        (out / "keep.txt").write_text("the user's file")
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        result = CliRunner().invoke(main, [str(artifact), "-o", str(out)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"codegen crashed: {result.exception!r}") from result.exception
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1, result.output
            assert lines[0].startswith("dcmx-codegen: error: ") and name in lines[0], lines[0]
            assert {p.name: p.read_bytes() for p in out.iterdir()} == before
            return
        assert result.exit_code == 0, result.output
        for py in out.glob("*.py"):
            compile(py.read_text(), str(py), "exec")
        with sqlite3.connect(":memory:") as db:
            db.executescript((out / "schema.sqlite.sql").read_text())


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
