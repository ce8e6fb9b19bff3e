"""The DDL of every table the generator makes for the ABIs the tests know, in both dialects.

Existing databases record a hash of each raw table's DDL (``dcmx_core.journal.table_hash``:
``CREATE TABLE`` then every ``CREATE INDEX`` by index name) and refuse a table whose DDL
changed, so a change to how generated modules build their tables must leave this text exactly
as it was. ``data/ddl_before.json`` holds it as recorded before the tables moved into the
runtime; ``python tests/codegen/ddl_cases.py`` rewrites it (only ever on purpose).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from util import module_for  # noqa: E402

FIXTURE = Path(__file__).parent / "data" / "ddl_before.json"
REFERENCE = ROOT / "tests" / "data" / "reference"
_NOT_ABIS = {"log_vectors.json", "eth-abi_correct_encodings.json", "SOURCES.md"}
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def artifacts() -> list[tuple[str, object]]:
    """(label, artifact document) of the five contracts and every reference ABI."""
    out = []
    for p in sorted((ROOT / "contracts" / "build").glob("*.json")):
        out.append((f"build/{p.name}", json.loads(p.read_text())))
    for p in sorted((REFERENCE / "abis").glob("*.json")):
        if p.name not in _NOT_ABIS and not p.name.startswith("ethereum-tests"):
            out.append((f"abis/{p.name}", json.loads(p.read_text())))
    for name in ("justswap_exchange.abi.json", "shasta_getcontract_trc20.json"):
        out.append((f"tron/{name}", json.loads((REFERENCE / "tron" / name).read_text())))
    return out


def table_ddl(table, dialect) -> str:
    """The text ``table_hash`` hashes."""
    ddl = str(CreateTable(table).compile(dialect=dialect)).strip()
    for index in sorted(table.indexes, key=lambda i: i.name or ""):
        ddl += "\n" + str(CreateIndex(index).compile(dialect=dialect)).strip()
    return ddl


def all_ddl() -> dict[str, str]:
    """``label|table|dialect`` -> DDL, for every table of every artifact (TRON profile: the
    profile changes how addresses render, not the columns)."""
    out: dict[str, str] = {}
    for label, doc in artifacts():
        stem = Path(label).name.removesuffix(".json").removesuffix(".abi")
        mod = module_for(doc, "tron", stem)
        for table in mod.metadata.sorted_tables:
            for name, dialect in DIALECTS.items():
                out[f"{label}|{table.name}|{name}"] = table_ddl(table, dialect)
    return out


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(all_ddl(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
