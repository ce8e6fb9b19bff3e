"""The core knows no application: ``dcmx_core`` imports neither the DCMX plugins nor their
generated bindings, in its source or at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "dcmx_core"
APPLICATION = ("dcmx_plugins", "dcmx_generated")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            found.update(a.value for a in node.args if isinstance(a, ast.Constant))
    return found


def test_no_core_module_imports_the_application():
    offenders = {
        str(path.relative_to(CORE.parent)): sorted(
            m for m in _imports(path) if m.split(".")[0] in APPLICATION
        )
        for path in sorted(CORE.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_core_module_loads_no_application_module():
    modules = [
        ".".join(p.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted(CORE.rglob("*.py"))
        if p.name != "__main__.py"  # runs the command
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {APPLICATION!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert len(modules) > 40  # the walk found the package


def test_the_rule_would_catch_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from dcmx_plugins import token\nimport importlib\n"
                   "importlib.import_module('dcmx_generated.dcmx_token')\n")
    assert _imports(bad) >= {"dcmx_plugins", "dcmx_generated.dcmx_token"}
