"""Generate modules into a folder and import them (cached by input, so examples share work)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from dcmx_codegen import render_package
from dcmx_codegen.abi import contracts_from_json

_CACHE: dict[str, ModuleType] = {}
_DIR = Path(tempfile.mkdtemp(prefix="dcmx-codegen-tests-"))


def module_for(doc, profile: str = "evm", name: str = "Probe") -> ModuleType:
    """The generated module of one artifact document (JSON-able), imported."""
    blob = json.dumps([doc, profile, name], sort_keys=True).encode()
    key = hashlib.sha256(blob).hexdigest()[:16]
    if key in _CACHE:
        return _CACHE[key]
    contracts = contracts_from_json(doc, name, f"{name}.json", key)
    files = render_package(contracts, profile)
    (module_file,) = [n for n in files if n.endswith(".py") and n != "__init__.py"]
    path = _DIR / f"m_{key}.py"
    path.write_text(files[module_file])
    spec = importlib.util.spec_from_file_location(f"dcmx_probe_{key}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    _CACHE[key] = mod
    return mod


def to_json_value(v):
    """Decoded values in log_vectors.json's encoding (bytes as 0x hex, tuples as lists)."""
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, tuple | list):
        return [to_json_value(x) for x in v]
    if dataclasses.is_dataclass(v):
        return [to_json_value(getattr(v, f.name)) for f in dataclasses.fields(v)]
    return v
