"""The ABI model: artifacts in every common shape -> :class:`Contract` values.

Accepted shapes (one file may hold several contracts):

* a bare ABI list ``[{...}, ...]`` (contract named after the file);
* Hardhat / Foundry / TronBox / dcmx artifacts ``{"abi": [...], "contractName": ...}``;
* solc / solcjs standard-JSON output ``{"contracts": {"a.sol": {"Name": {"abi": [...]}}}}``;
* TRON's ``/wallet/getcontract`` answer ``{"name": ..., "abi": {"entrys": [...]}}`` with
  capitalised ``"Event"``/``"Function"`` types and ``"View"``-style mutability; keys left out
  by TRON (``anonymous``, ``indexed``, ``inputs``...) default to false / empty.

Every problem raises :class:`~dcmx_core.errors.AbiError` naming the file, the ABI entry and
what is wrong, on one line (untrusted text in it shortened and quoted). Inputs past the limits
of :mod:`dcmx_codegen.limits` (file size, nesting, array length, parameter count, name length)
are refused the same way. Type strings are parsed once, here, into :class:`AbiType` trees;
nothing downstream re-parses a type string.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from dcmx_core.errors import AbiError

from .limits import (
    MAX_ARRAY_LENGTH,
    MAX_FILE_BYTES,
    MAX_JSON_DEPTH,
    MAX_NAME_LENGTH,
    MAX_PARAMETERS,
    MAX_TYPE_DEPTH,
)

__all__ = [
    "AbiType",
    "Param",
    "Event",
    "Function",
    "Contract",
    "parse_type",
    "load_artifact",
    "contracts_from_json",
]

_ELEMENTARY = re.compile(r"^(uint|int|bytes|address|bool|string|trcToken)(\d*)$")
_ARRAY_SUFFIX = re.compile(r"\[(\d*)\]$")


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters: untrusted text in one error line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True, slots=True)
class AbiType:
    """One node of a parsed ABI type.

    ``kind`` is one of ``uint int address bool fixed_bytes bytes string tuple array``.
    ``size`` is the bit width of ints, the byte length of ``bytesN``, or the fixed length of an
    array (None for a dynamic ``T[]``). ``item`` is an array's element type and ``components``
    a tuple's members.
    """

    kind: str
    size: int | None = None
    item: AbiType | None = None
    components: tuple[Param, ...] = ()
    struct_name: str | None = None  # from internalType "struct X.Y", when the ABI has it

    @property
    def canonical(self) -> str:
        if self.kind in ("uint", "int"):
            return f"{self.kind}{self.size}"
        if self.kind == "fixed_bytes":
            return f"bytes{self.size}"
        if self.kind == "array":
            assert self.item is not None
            return f"{self.item.canonical}[{'' if self.size is None else self.size}]"
        if self.kind == "tuple":
            return "(" + ",".join(c.type.canonical for c in self.components) + ")"
        return self.kind

    @property
    def is_dynamic(self) -> bool:
        if self.kind in ("bytes", "string"):
            return True
        if self.kind == "array":
            assert self.item is not None
            return self.size is None or self.item.is_dynamic
        if self.kind == "tuple":
            return any(c.type.is_dynamic for c in self.components)
        return False

    @property
    def is_word(self) -> bool:
        """A value type that fills exactly one 32-byte word (sliced directly by decoders)."""
        return self.kind in ("uint", "int", "address", "bool", "fixed_bytes")

    @property
    def is_hashed_when_indexed(self) -> bool:
        """Indexed reference types are stored in the topic as the keccak hash of the value."""
        return not self.is_word

    def walk(self) -> Iterator[AbiType]:
        yield self
        if self.item is not None:
            yield from self.item.walk()
        for c in self.components:
            yield from c.type.walk()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: AbiType
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    inputs: tuple[Param, ...]
    anonymous: bool
    entry_index: int

    @property
    def signature(self) -> str:
        return f"{self.name}(" + ",".join(p.type.canonical for p in self.inputs) + ")"

    @property
    def topic0(self) -> bytes | None:
        return None if self.anonymous else keccak(self.signature.encode())

    @property
    def topic_count(self) -> int:
        return sum(p.indexed for p in self.inputs) + (0 if self.anonymous else 1)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    mutability: str  # pure | view | nonpayable | payable
    entry_index: int

    @property
    def signature(self) -> str:
        return f"{self.name}(" + ",".join(p.type.canonical for p in self.inputs) + ")"

    @property
    def selector(self) -> bytes:
        return keccak(self.signature.encode())[:4]

    @property
    def is_call(self) -> bool:
        return self.mutability in ("view", "pure")


@dataclass(frozen=True, slots=True)
class Contract:
    name: str
    source: str  # the artifact path as shown in headers and errors
    source_sha256: str
    events: tuple[Event, ...] = field(default=())
    functions: tuple[Function, ...] = field(default=())


# --- type grammar -------------------------------------------------------------------------


_ENTRY_TYPES = frozenset(
    {"function", "event", "error", "constructor", "fallback", "receive"}
)


def parse_type(entry: dict[str, Any], where: str, depth: int = 0) -> AbiType:
    """Parse the ``type`` (and ``components``) of one ABI parameter object; ``depth``: the
    arrays and tuples it is nested in."""
    raw = entry.get("type")
    if not isinstance(raw, str) or not raw:
        raise AbiError(f"{where}: parameter {_short(entry.get('name'))} has no 'type'")
    if len(raw) > MAX_NAME_LENGTH:
        raise AbiError(
            f"{where}: type {_short(raw)} is {len(raw)} characters long "
            f"(the limit is {MAX_NAME_LENGTH})"
        )
    return _parse(raw.strip(), entry, where, depth)


def _parse(text: str, entry: dict[str, Any], where: str, depth: int) -> AbiType:
    shown = _short(entry.get("type"))
    m = _ARRAY_SUFFIX.search(text)
    if m or text == "tuple":
        if depth >= MAX_TYPE_DEPTH:
            # checked before going deeper: a type nested thousands deep is no RecursionError
            raise AbiError(
                f"{where}: type {shown} nests arrays and tuples more than {MAX_TYPE_DEPTH} deep"
            )
    if m:
        digits = m.group(1)
        length = None
        if digits:
            if len(digits) > 7 or int(digits) > MAX_ARRAY_LENGTH:
                raise AbiError(
                    f"{where}: type {shown}: fixed arrays are limited to {MAX_ARRAY_LENGTH} items"
                )
            length = int(digits)
        if length == 0:
            raise AbiError(f"{where}: type {shown}: fixed arrays need length >= 1")
        item = _parse(text[: m.start()], entry, where, depth + 1)
        return AbiType("array", size=length, item=item)
    if text == "tuple":
        comps = entry.get("components")
        name = _short(entry.get("name"))
        if not isinstance(comps, list):
            raise AbiError(f"{where}: tuple parameter {name} has no 'components'")
        if len(comps) > MAX_PARAMETERS:
            raise AbiError(
                f"{where}: tuple parameter {name} has {len(comps)} members "
                f"(the limit is {MAX_PARAMETERS})"
            )
        params = []
        for i, c in enumerate(comps):
            if not isinstance(c, dict):
                raise AbiError(f"{where}: component #{i} of {name} is not an object")
            params.append(Param(_name(c, where), parse_type(c, where, depth + 1)))
        if not params:
            raise AbiError(f"{where}: tuple parameter {name} has no components")
        return AbiType("tuple", components=tuple(params), struct_name=_struct_name(entry))
    m = _ELEMENTARY.match(text)
    if not m:
        raise AbiError(f"{where}: unknown type {shown}")
    base, digits = m.groups()
    if base in ("uint", "int"):
        bits = int(digits) if digits and len(digits) <= 3 else 0 if digits else 256
        if bits % 8 or not 8 <= bits <= 256 or (digits and digits.startswith("0")):
            raise AbiError(f"{where}: unknown type {shown} (bad int width)")
        return AbiType(base, size=bits)
    if base == "trcToken":  # TRON's TRC-10 token id: a uint256 on the wire
        if digits:
            raise AbiError(f"{where}: unknown type {shown}")
        return AbiType("uint", size=256)
    if base == "bytes" and digits:
        n = int(digits) if len(digits) <= 2 else 0
        if not 1 <= n <= 32 or digits.startswith("0"):
            raise AbiError(f"{where}: unknown type {shown} (bytesN needs 1..32)")
        return AbiType("fixed_bytes", size=n)
    if digits:
        raise AbiError(f"{where}: unknown type {shown}")
    return AbiType(base)


def _struct_name(entry: dict[str, Any]) -> str | None:
    internal = entry.get("internalType")
    if isinstance(internal, str) and internal.startswith("struct "):
        name = internal[len("struct ") :].split("[", 1)[0]
        return name.rsplit(".", 1)[-1] or None
    return None


def _name(obj: dict[str, Any], where: str) -> str:
    name = obj.get("name", "")
    if name is None:
        return ""
    if not isinstance(name, str):
        raise AbiError(f"{where}: 'name' must be a string, got {type(name).__name__}")
    if len(name) > MAX_NAME_LENGTH:
        raise AbiError(
            f"{where}: name {_short(name)} is {len(name)} characters long "
            f"(the limit is {MAX_NAME_LENGTH})"
        )
    return name


# --- entries ------------------------------------------------------------------------------


def _params(entry: dict[str, Any], key: str, where: str, *, event: bool) -> tuple[Param, ...]:
    raw = entry.get(key, [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise AbiError(f"{where}: '{key}' must be a list")
    if len(raw) > MAX_PARAMETERS:
        raise AbiError(
            f"{where}: {len(raw)} {key} (the limit is {MAX_PARAMETERS} parameters an entry)"
        )
    out = []
    for i, p in enumerate(raw):
        if not isinstance(p, dict):
            raise AbiError(f"{where}: {key}[{i}] is not an object")
        indexed = p.get("indexed", False)
        if not isinstance(indexed, bool):
            raise AbiError(f"{where}: {key}[{i}] 'indexed' must be true or false")
        out.append(Param(_name(p, where), parse_type(p, where), indexed if event else False))
    return tuple(out)


def _mutability(entry: dict[str, Any]) -> str:
    m = entry.get("stateMutability")
    if isinstance(m, str) and m.lower() in ("pure", "view", "nonpayable", "payable"):
        return m.lower()
    # pre-0.5 ABIs: constant / payable flags
    if entry.get("constant") is True:
        return "view"
    if entry.get("payable") is True:
        return "payable"
    return "nonpayable"


def parse_abi(abi: Any, contract_name: str, source: str, sha256: str) -> Contract:
    if len(contract_name) > MAX_NAME_LENGTH:
        raise AbiError(
            f"{source}: contract name {_short(contract_name)} is {len(contract_name)} "
            f"characters long (the limit is {MAX_NAME_LENGTH})"
        )
    if not isinstance(abi, list):
        raise AbiError(
            f"{source}: contract {_short(contract_name)}: 'abi' must be a list of entries"
        )
    events: list[Event] = []
    functions: list[Function] = []
    for i, entry in enumerate(abi):
        if not isinstance(entry, dict):
            raise AbiError(f"{source}: entry #{i}: not an object")
        kind = entry.get("type", "function")  # the ABI spec makes "function" the default
        if not isinstance(kind, str):
            raise AbiError(f"{source}: entry #{i}: 'type' must be a string")
        kind = kind.lower()
        name = _name(entry, f"{source}: entry #{i}")
        # An unknown type is shown as repr(): a newline in it must not split the error line.
        shown = kind if kind in _ENTRY_TYPES else _short(kind)
        where = f"{source}: entry #{i} ({shown} {_short(name)})"
        if kind == "event":
            if not name:
                raise AbiError(f"{where}: event without a name")
            anonymous = entry.get("anonymous", False)
            if not isinstance(anonymous, bool):
                raise AbiError(f"{where}: 'anonymous' must be true or false")
            inputs = _params(entry, "inputs", where, event=True)
            n_indexed = sum(p.indexed for p in inputs)
            if n_indexed > (4 if anonymous else 3):
                raise AbiError(f"{where}: {n_indexed} indexed parameters do not fit in the topics")
            events.append(Event(name, inputs, anonymous, i))
        elif kind == "function":
            if not name:
                raise AbiError(f"{where}: function without a name")
            functions.append(
                Function(
                    name,
                    _params(entry, "inputs", where, event=False),
                    _params(entry, "outputs", where, event=False),
                    _mutability(entry),
                    i,
                )
            )
        elif kind in ("constructor", "fallback", "receive", "error"):
            # validated for well-formedness, not bound: nothing to call or index
            _params(entry, "inputs", where, event=False)
        else:
            raise AbiError(f"{where}: unknown entry type {_short(entry.get('type'))}")
    return Contract(contract_name, source, sha256, tuple(events), tuple(functions))


# --- artifact shapes ----------------------------------------------------------------------


def contracts_from_json(doc: Any, stem: str, source: str, sha256: str) -> list[Contract]:
    """Every contract in one parsed JSON document (see the module docstring for the shapes)."""
    if isinstance(doc, list):
        return [parse_abi(doc, stem, source, sha256)]
    if not isinstance(doc, dict):
        raise AbiError(f"{source}: not an artifact: expected a JSON object or an ABI list")
    if isinstance(doc.get("contracts"), dict) and "abi" not in doc:  # solc standard JSON
        out = []
        for unit in sorted(doc["contracts"]):
            per_unit = doc["contracts"][unit]
            if not isinstance(per_unit, dict):
                raise AbiError(f"{source}: contracts[{_short(unit)}] is not an object")
            for name in sorted(per_unit):
                art = per_unit[name]
                if not isinstance(art, dict) or "abi" not in art:
                    raise AbiError(
                        f"{source}: contracts[{_short(unit)}][{_short(name)}] has no 'abi'"
                    )
                out.append(parse_abi(_abi_list(art["abi"], source), name, source, sha256))
        if not out:
            raise AbiError(f"{source}: standard-JSON output without contracts")
        return out
    if "abi" not in doc:
        raise AbiError(f"{source}: not an artifact: no 'abi' key (and not a bare ABI list)")
    name = doc.get("contractName") or doc.get("name") or stem
    if not isinstance(name, str):
        raise AbiError(f"{source}: 'contractName' must be a string")
    return [parse_abi(_abi_list(doc["abi"], source), name, source, sha256)]


def _abi_list(abi: Any, source: str) -> Any:
    if isinstance(abi, dict) and "entrys" in abi:  # TRON getcontract
        return abi["entrys"] or []
    if isinstance(abi, dict) and not abi:  # TRON returns {} for a contract without an ABI
        return []
    if isinstance(abi, str):  # some tools store the ABI as a JSON string
        return _json(abi, source, "'abi' is a string but not JSON")
    return abi


# every byte but quotes and brackets: the JSON document's structure
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


def _json_depth_ok(raw: bytes) -> bool:
    """Whether no JSON array or object in ``raw`` is nested more than MAX_JSON_DEPTH deep.

    Counted without recursing, in memory bounded by the input's size (a few copies), over
    the quotes and brackets alone once escaped backslashes and quotes are dropped: brackets
    between quotes are text. Invalid JSON gives some answer; the parser refuses it next.
    """
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    depth = 0
    text = False
    for b in structure:
        if b == 34:  # '"'
            text = not text
        elif text:
            continue
        elif b in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        else:
            depth -= 1
    return True


def _json(raw: bytes | str, source: str, what: str = "not JSON") -> Any:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if not _json_depth_ok(data):
        raise AbiError(
            f"{source}: JSON nested more than {MAX_JSON_DEPTH} deep; not an artifact"
        )
    try:
        return json.loads(raw)
    except RecursionError:
        raise AbiError(f"{source}: JSON nested too deeply to be an artifact") from None
    except ValueError as exc:
        raise AbiError(f"{source}: {what}: {exc}") from None


def load_artifact(path: Path, shown_as: str | None = None) -> list[Contract]:
    source = shown_as or path.name
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims to hold
    except OSError as exc:
        raise AbiError(f"{source}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise AbiError(
            f"{source}: larger than {MAX_FILE_BYTES // 2**20} MiB, the limit of an artifact; "
            "pass the contract's own artifact or its bare ABI"
        )
    sha = hashlib.sha256(raw).hexdigest()
    doc = _json(raw, source)
    stem = path.name
    for suffix in (".json", ".abi"):
        stem = stem.removesuffix(suffix)
    return contracts_from_json(doc, stem, source, sha)
