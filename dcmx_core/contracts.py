"""The contracts to index: from what a user configured to generated modules and addresses.

A contract is a name, the module ``dcmx-codegen`` generated from its ABI (event classes,
their tables, ``decode_log``) and the addresses it is deployed at. Configured per network::

    [networks.nile.contracts.USDT]
    module = "my_bindings.trc20"        # the generated module (optional, see below)
    address = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"   # T... or 0x...; a list for several
    start_block = 60000000              # optional: ignore its logs before this block

    [networks.nile.contracts]
    DCMXToken = "T..."                  # short form: address only

or on the command line, repeatable: ``--contract USDT=my_bindings.trc20@TXYZ...@60000000``
(``NAME=[MODULE@]ADDRESS[@START_BLOCK]``).

Without a module, the name is looked up in the entry-point group ``dcmx.contracts``: a package
that ships generated bindings declares ``Name = "package.module"`` there, the way the DCMX
platform's five contracts are provided.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .addresses import parse
from .errors import AddressError, ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Contract",
    "ContractSpec",
    "installed",
    "parse_contract_flag",
    "parse_contract_table",
    "resolve",
]

ENTRY_POINT_GROUP = "dcmx.contracts"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class Contract:
    """A contract to index: its generated module and the addresses it is deployed at; its
    logs before ``start_block`` are ignored."""

    name: str
    module: ModuleType
    addresses: tuple[bytes, ...]
    start_block: int = 0


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """A contract as configured, before its module is imported (:func:`resolve`)."""

    name: str
    module: str | None
    addresses: tuple[bytes, ...]
    start_block: int | None = None
    where: str = field(default="", compare=False)  # where it was configured, for messages


def _name(text: str, where: str) -> str:
    if not _NAME.fullmatch(text):
        raise ConfigError(
            f"{where}: contract name {text[:40]!r} must be letters, digits and _ (at most 64)"
        )
    return text


def _module(text: str, where: str) -> str:
    if not _MODULE.fullmatch(text) or len(text) > 200:
        raise ConfigError(
            f"{where}: {text[:60]!r} is not a Python module name (dotted identifiers, like "
            "my_bindings.trc20)"
        )
    return text


def _addresses(value: Any, profile: str, where: str) -> tuple[bytes, ...]:
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ConfigError(f"{where}: an address must be a string (or a list of them)")
    out = []
    for text in texts:
        try:
            out.append(parse(text, profile))  # type: ignore[arg-type]
        except AddressError as exc:
            raise AddressError(f"{where}: {exc}") from None
    return tuple(out)


def _start(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: start_block must be a block number >= 0, got {value!r}")
    return value


def parse_contract_flag(text: Any, profile: str, where: str) -> ContractSpec:
    """``NAME=[MODULE@]ADDRESS[@START_BLOCK]`` (``--contract``, ``DCMX_CONTRACTS``)."""
    if isinstance(text, ContractSpec):
        return text
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(
            f"{where}: {str(text)[:60]!r} is not NAME=[MODULE@]ADDRESS[@START_BLOCK], e.g. "
            "USDT=my_bindings.trc20@TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
        )
    name, rest = (p.strip() for p in text.split("=", 1))
    where = f"{where} ({name[:40]})"
    parts = rest.split("@")
    if len(parts) > 3 or not all(parts):
        raise ConfigError(f"{where}: expected [MODULE@]ADDRESS[@START_BLOCK] after {name}=")
    start = None
    if len(parts) > 1 and parts[-1].isdigit():
        start = _start(parts.pop(), where)
    module = _module(parts.pop(0), where) if len(parts) == 2 else None
    return ContractSpec(
        _name(name, where), module, _addresses(parts[0], profile, where), start, where
    )


def parse_contract_table(table: Any, profile: str, where: str) -> tuple[ContractSpec, ...]:
    """``[networks.<name>.contracts]``: ``NAME = "address"`` or a table per contract with
    ``address`` (or a list), ``module`` and ``start_block``."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of contracts")
    out = []
    for name, value in table.items():
        at = f"{where}.{name}"
        _name(name, at)
        if isinstance(value, str | list):
            out.append(ContractSpec(name, None, _addresses(value, profile, at), None, at))
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{at}: give its address, or a table with address and module")
        unknown = sorted(set(value) - {"address", "module", "start_block"})
        if unknown:
            raise ConfigError(
                f"{at}: unknown key(s) {', '.join(unknown)}; known: address, module, start_block"
            )
        if "address" not in value:
            raise ConfigError(f"{at}: address missing")
        module = value.get("module")
        if module is not None and not isinstance(module, str):
            raise ConfigError(f"{at}.module must be a string")
        start = value.get("start_block")
        out.append(
            ContractSpec(
                name,
                None if module is None else _module(module, f"{at}.module"),
                _addresses(value["address"], profile, at),
                None if start is None else _start(start, f"{at}.start_block"),
                at,
            )
        )
    return tuple(out)


def installed() -> dict[str, importlib.metadata.EntryPoint]:
    """The contracts installed packages provide, by name (the ``dcmx.contracts`` group)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def resolve(specs: Sequence[ContractSpec]) -> list[Contract]:
    """Import each contract's generated module; errors say what to configure instead."""
    provided: dict[str, importlib.metadata.EntryPoint] | None = None
    out = []
    for spec in specs:
        module_name = spec.module
        if module_name is None:
            provided = installed() if provided is None else provided
            ep = provided.get(spec.name)
            if ep is None:
                known = ", ".join(sorted(provided)) or "none"
                raise ConfigError(
                    f"{spec.where or spec.name}: unknown contract; no installed package provides "
                    f"{spec.name!r} (known: {known}). Give its generated module: "
                    f"{spec.name}=MODULE@ADDRESS, or module = \"...\" in its table"
                )
            module_name = ep.value.split(":", 1)[0]
        out.append(
            Contract(spec.name, _import(module_name, spec), spec.addresses, spec.start_block or 0)
        )
    return out


def _import_here(name: str) -> ModuleType:
    """``name`` imported, looked for in the current folder too, after everything installed, as
    ``python -m`` would: bindings just made by ``dcmx-codegen -o DIR`` are found where they
    were made, and an installed package of the same name still wins."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != name.partition(".")[0] or here in sys.path or "" in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(name)


def _import(name: str, spec: ContractSpec) -> ModuleType:
    try:
        module = _import_here(name)
    except ImportError as exc:
        raise ConfigError(
            f"{spec.where or spec.name}: cannot import module {name!r} ({exc}); run from the "
            "folder that holds it, install the package that holds it, or generate it with "
            "`dcmx-codegen ABI -o DIR`"
        ) from None
    package = getattr(module, "CONTRACTS", None)
    if not hasattr(module, "EVENTS") and isinstance(package, dict):
        # A generated package: the contract of that name, or the only one it holds.
        if spec.name in package or len(package) == 1:
            module = package.get(spec.name) or next(iter(package.values()))
        else:
            raise ConfigError(
                f"{spec.where or spec.name}: package {name!r} holds several contracts "
                f"({', '.join(sorted(package))}); name one: "
                f"{spec.name}={name}.<module>@ADDRESS (modules: "
                f"{', '.join(sorted(m.__name__.rpartition('.')[2] for m in package.values()))})"
            )
    if not hasattr(module, "EVENTS") or not hasattr(module, "decode_log"):
        raise ConfigError(
            f"{spec.where or spec.name}: module {name!r} is not made by dcmx-codegen (it has no "
            "EVENTS and decode_log); generate bindings with `dcmx-codegen ABI -o DIR`"
        )
    return module
