"""The project ``dcmx new`` makes: a third-party plugin package around one or more ABIs.

:func:`render_project` is pure: the ABIs (their bytes and file names), a package name, a chain
profile and an optional event choice give every file of the project, as bytes by relative
path. The command (:mod:`dcmx_core.cli.new`) checks the folder and writes them.

What the project holds (``<pkg>``: the package name)::

    pyproject.toml            dcmx.plugins and dcmx.contracts entry points, dev extra, mypy strict
    README.md                 the next five minutes: install, test, run against a node, query
    dcmx.toml                 networks: a local anvil and TRON's Nile testnet
    .gitignore
    abis/*.json               the ABIs as given (dcmx-codegen regenerates the bindings from them)
    src/<pkg>/plugin.py       one table and a handler over one event
    src/<pkg>/bindings/       dcmx-codegen's output (--package <pkg>.bindings --profile ...)
    tests/test_plugin.py      the plugin over a chain built from typed events (dcmx_core.testing)

Everything written into code is an identifier the generator made (class, field and module
names), a name checked here (the package), or a literal made by ``repr``/JSON: no text of an
ABI reaches a file unquoted. The event is the one named (``--event``), else the first event
named Transfer with an indexed address, else the first with an indexed address, else the
first with any address, else the first event; anonymous events only when named.
"""

from __future__ import annotations

import dataclasses
import json
import keyword
import re
import sys
import tempfile
import textwrap
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from ..addresses import Profile, render
from ..errors import AbiError, ConfigError

if TYPE_CHECKING:
    from dcmx_codegen.abi import AbiType, Contract, Event, Param

__all__ = ["Abi", "ChosenEvent", "check_package_name", "package_name_for", "render_project"]

# Names the package may not take: dcmx's own packages, and what would shadow a test layout.
_TAKEN = frozenset(
    {"dcmx", "dcmx_core", "dcmx_codegen", "dcmx_plugins", "dcmx_generated", "test", "tests",
     "src", "bindings", "plugin"}
)
_PACKAGE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Sample addresses of the scaffold's test (A1.., B0.., C4.., and two contracts).
_ALICE, _BOB, _CAROL = bytes([0xA1]) * 20, bytes([0xB0]) * 20, bytes([0xC4]) * 20
_CONTRACT, _OTHER = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"), bytes([0x7E]) * 20

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("dcmx_core", "scaffold"),
    autoescape=False,  # Python, TOML and Markdown: every value is an identifier or a literal
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True, slots=True)
class Abi:
    """One ``--abi`` file: its name in ``abis/`` and its bytes."""

    name: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class ChosenEvent:
    """The event the plugin handles, as the generated bindings name it."""

    contract: str  # the contract's entry-point name
    module: str  # its generated module
    cls: str  # the event class
    signature: str
    key: str | None  # the field the table is keyed by (an address); None: the emitting contract
    amount: str | None  # an integer field summed per key, when there is one
    fields: list[tuple[str, str]]  # (field, sample value expression) in ABI order


def package_name_for(folder: Path) -> str:
    """The package name a folder suggests: ``My-Indexer`` -> ``my_indexer``."""
    return re.sub(r"[^a-z0-9_]+", "_", folder.resolve().name.lower()).strip("_")


def check_package_name(name: str) -> str:
    """``name`` when it can be the project's import name; ConfigError saying why not."""
    if not _PACKAGE.fullmatch(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"package name {name[:60]!r} is not a Python package name: lower-case letters, "
            "digits and _, starting with a letter, at most 40 characters (give --name)"
        )
    if name in _TAKEN or name in sys.stdlib_module_names:
        raise ConfigError(
            f"package name {name!r} would shadow {'dcmx' if name in _TAKEN else 'Python'}'s "
            "own modules; give another with --name"
        )
    return name


def abi_file_name(path: Path) -> str:
    """The name a given ABI file gets in ``abis/``: ending in .json, which dcmx-codegen reads
    from a folder (``X.abi`` -> ``X.abi.json``)."""
    name = path.name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ConfigError(
            f"--abi {path}: rename the file to letters, digits, '_', '-' and '.' (it is copied "
            "into the project's abis/ folder)"
        )
    name = name if name.endswith(".json") else name + ".json"
    if name.endswith((".dbg.json", ".metadata.json")):
        raise ConfigError(
            f"--abi {path}: a {name.split('.')[-2]} file is not an artifact; give the "
            "contract's own artifact or its ABI"
        )
    return name


def render_project(
    package: str, abis: Sequence[Abi], profile: Profile, event: str | None = None
) -> tuple[dict[str, bytes], ChosenEvent]:
    """Every file of the project by relative path, and the event its plugin handles."""
    from dcmx_codegen import render_package

    check_package_name(package)
    names = [a.name for a in abis]
    if len(set(names)) != len(names):
        raise ConfigError("two --abi files have the same name; rename one")
    contracts: list[Contract] = []
    for a in abis:
        contracts += _load(a)
    bindings = render_package(contracts, profile, f"{package}.bindings")
    modules = _import_bindings(package, bindings)
    chosen = _choose(contracts, modules, event, profile)
    entry_points = _entry_points(contracts, modules)
    values: dict[str, Any] = {
        "package": package,
        "dist": package.replace("_", "-"),
        "profile": profile,
        "event": chosen,
        "table": _table_name(package, chosen),
        "columns": _columns(chosen),
        "summary": _summary(package, chosen, _table_name(package, chosen)),
        "log_doc": _log_doc(chosen),
        "contracts": entry_points,
        "abis": names,
        "address": {
            "contract": render(_CONTRACT, profile),
            "other": render(_OTHER, profile),
            "alice": render(_ALICE, profile),
            "bob": render(_BOB, profile),
            "carol": render(_CAROL, profile),
        },
        "json": json.dumps,
    }
    files = {
        "pyproject.toml": "pyproject.toml.j2",
        "README.md": "README.md.j2",
        "dcmx.toml": "dcmx.toml.j2",
        ".gitignore": "gitignore.j2",
        f"src/{package}/__init__.py": "init.py.j2",
        f"src/{package}/plugin.py": "plugin.py.j2",
        "tests/test_plugin.py": "test_plugin.py.j2",
    }
    out = {path: _env.get_template(t).render(**values).encode() for path, t in files.items()}
    out[f"src/{package}/py.typed"] = b""
    for name, text in bindings.items():
        out[f"src/{package}/bindings/{name}"] = text.encode()
    for a in abis:
        out[f"abis/{a.name}"] = a.raw
    return out, chosen


def _load(abi: Abi) -> list[Contract]:
    """The contracts of one ABI file, through dcmx-codegen's own checks, named as
    ``dcmx-codegen abis`` names them from the project folder."""
    from dcmx_codegen.abi import load_artifact

    with tempfile.TemporaryDirectory(prefix="dcmx-new-") as tmp:
        path = Path(tmp) / abi.name
        path.write_bytes(abi.raw)
        return load_artifact(path, f"abis/{abi.name}")


def _import_bindings(package: str, files: dict[str, str]) -> dict[str, types.ModuleType]:
    """The generated modules, executed privately (as dcmx-codegen does to compile the DDL),
    by module name: the scaffold reads their class and field names, never guesses them."""
    out = {}
    for name, text in files.items():
        if not name.endswith(".py") or name == "__init__.py":
            continue
        module = types.ModuleType(f"_dcmx_new_{package}_{name[:-3]}")
        sys.modules[module.__name__] = module  # dataclasses look the module up
        try:
            exec(compile(text, f"<dcmx new {name}>", "exec"), module.__dict__)
        finally:
            del sys.modules[module.__name__]
        out[name[:-3]] = module
    return out


def _module_of(
    contract: Contract, modules: dict[str, types.ModuleType]
) -> tuple[str, types.ModuleType]:
    for name, module in modules.items():
        if module.CONTRACT_NAME == contract.name and module.SOURCE == contract.source:
            return name, module
    raise AssertionError(f"no generated module for {contract.name}")


def _entry_points(
    contracts: Sequence[Contract], modules: dict[str, types.ModuleType]
) -> list[tuple[str, str]]:
    """(entry-point name, module) per contract: the contract's name when ``--contract NAME=``
    can take it, else its generated class name."""
    out, seen = [], set()
    for c in contracts:
        module, _ = _module_of(c, modules)
        name = _entry_name(c.name)
        if name in seen:
            raise ConfigError(f"two contracts are named {name!r}; give each ABI its own name")
        seen.add(name)
        out.append((name, module))
    return out


def _entry_name(contract: str) -> str:
    """A contract's name where ``--contract NAME=`` can take it, else its generated class's."""
    from dcmx_codegen import naming

    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", contract):
        return contract
    return naming.class_name(contract, "Contract")


def _choose(
    contracts: Sequence[Contract], modules: dict[str, types.ModuleType], wanted: str | None,
    profile: Profile,
) -> ChosenEvent:
    candidates = [(c, e) for c in contracts for e in c.events]
    if not candidates:
        raise AbiError(
            "these ABIs declare no events, and dcmx indexes events: give the ABI of a "
            "contract that emits some"
        )
    if wanted is not None:
        picked = [(c, e) for c, e in candidates if _matches(wanted, c, e)]
        if not picked:
            known = ", ".join(sorted({f"{c.name}.{e.signature}" for c, e in candidates}))
            raise ConfigError(f"--event {wanted[:80]!r} matches no event; the events: {known}")
        if len(picked) > 1:
            found = ", ".join(f"{c.name}.{e.signature}" for c, e in picked)
            raise ConfigError(
                f"--event {wanted!r} matches {found}; give CONTRACT.NAME or the signature"
            )
        contract, event = picked[0]
    else:
        named = [(c, e) for c, e in candidates if not e.anonymous] or candidates

        def address_indexed(e: Event) -> bool:
            return any(p.indexed and p.type.kind == "address" for p in e.inputs)

        contract, event = next(
            (ce for ce in named if ce[1].name == "Transfer" and address_indexed(ce[1])),
            next(
                (ce for ce in named if address_indexed(ce[1])),
                next(
                    (ce for ce in named if any(p.type.kind == "address" for p in ce[1].inputs)),
                    named[0],
                ),
            ),
        )
    module_name, module = _module_of(contract, modules)
    (cls,) = [
        k for k in module.EVENTS if k.SIGNATURE == event.signature and k.ANONYMOUS ==
        event.anonymous
    ]
    if event.anonymous and cls not in module.ANONYMOUS_DISPATCH.values():
        raise ConfigError(
            f"{contract.name}.{event.signature} is anonymous and shares its topic count with "
            "another anonymous event: its logs cannot be told apart; pick another --event"
        )
    fields = [f.name for f in dataclasses.fields(cls)]
    key = next(
        (f for f, p in zip(fields, event.inputs, strict=True) if p.type.kind == "address"
         and p.indexed),
        next((f for f, p in zip(fields, event.inputs, strict=True)
              if p.type.kind == "address"), None),
    )
    amount = next(
        (f for f, p in zip(fields, event.inputs, strict=True)
         if p.type.kind in ("uint", "int") and not p.indexed),
        next((f for f, p in zip(fields, event.inputs, strict=True)
              if p.type.kind in ("uint", "int")), None),
    )
    samples = _Samples(module, profile)
    entry_name = dict((m, n) for n, m in _entry_points(contracts, modules))[module_name]
    return ChosenEvent(
        entry_name,
        module_name,
        cls.__name__,
        event.signature,
        key,
        amount,
        [(f, samples.value(p, cls.__annotations__[f], hashed=p.indexed and
                           p.type.is_hashed_when_indexed))
         for f, p in zip(fields, event.inputs, strict=True)],
    )


def _matches(wanted: str, contract: Contract, event: Event) -> bool:
    """``--event``: NAME, NAME(TYPES), CONTRACT.NAME or CONTRACT.NAME(TYPES)."""
    head, paren, types_ = wanted.partition("(")
    contract_name, dot, name = head.rpartition(".")
    if dot and contract_name not in (contract.name, _entry_name(contract.name)):
        return False
    return (name + paren + types_) == (event.signature if paren else event.name)


class _Samples:
    """Python expressions of sample values for the scaffold's test, by ABI type, built from
    the generated module's own classes (struct members in their order and annotations)."""

    def __init__(self, module: types.ModuleType, profile: Profile) -> None:
        self.module = module
        self.profile = profile

    def value(self, param: Param, annotation: str, *, hashed: bool = False) -> str:
        if hashed:  # the event holds the keccak hash of an indexed dynamic value
            return 'b"\\x11" * 32'
        return self._of(param.type, annotation)

    def _of(self, t: AbiType, annotation: str) -> str:
        kind = t.kind
        if kind == "address":
            return "CAROL"
        if kind in ("uint", "int"):
            return "1"
        if kind == "bool":
            return "True"
        if kind == "string":
            return '"sample"'
        if kind == "bytes":
            return 'b"\\x01\\x02"'
        if kind == "fixed_bytes":
            return f'b"\\x01" * {t.size}'
        if kind == "array":
            assert t.item is not None  # an array has an item type
            inner = annotation.removeprefix("tuple[").removesuffix(", ...]")
            item = self._of(t.item, inner)
            if t.size is None:
                return f"({item},)"
            return f"({item},) * {t.size}"
        # a struct: its generated class, members in order
        struct = getattr(self.module, annotation)
        members = [
            self._of(c.type, struct.__annotations__[f.name])
            for c, f in zip(t.components, dataclasses.fields(struct), strict=True)
        ]
        return f"bindings.{annotation}({', '.join(members)})"


def _table_name(package: str, chosen: ChosenEvent) -> str:
    from dcmx_codegen import naming

    return naming.shorten(f"{package}_{naming.snake(chosen.cls)}_stats")


def _columns(chosen: ChosenEvent) -> dict[str, str]:
    """The plugin table's column names: the key (the event's field, or the emitting contract),
    the event count, the total of the amount field, the last block."""
    key = chosen.key or "contract_address"
    out = {"key": key, "events": "events", "last": "last_block"}
    if chosen.amount:
        out["total"] = f"total_{chosen.amount.rstrip('_')}"
    for role in ("events", "total", "last"):  # a key field named like one of them
        if role in out and out[role] == key:
            out[role] += "_"
    return out


def _summary(package: str, chosen: ChosenEvent, table: str) -> str:
    """The first paragraph of the plugin's docstring, wrapped."""
    per = f"value of the event's ``{chosen.key}``" if chosen.key else "contract emitting them"
    total = f", the sum of their ``{chosen.amount}``" if chosen.amount else ""
    return textwrap.fill(
        f"The {package} plugin: {chosen.cls} events of {chosen.contract}, folded into the "
        f"table ``{table}``: per {per}, how many events{total} and the last block one was in.",
        width=88,
        subsequent_indent="",
    )


def _log_doc(chosen: ChosenEvent) -> str:
    """The docstring of the test's ``log()``, wrapped."""
    who = f"its ``{chosen.key}`` ``who``" if chosen.key else "emitted by ``who``"
    amount = f", its ``{chosen.amount}`` ``amount``" if chosen.amount else ""
    return textwrap.fill(
        f"A {chosen.cls} event, {who}{amount}; its other fields hold sample values.",
        width=88,
        subsequent_indent="    ",
    )
