"""Safe, stable names for everything an ABI names.

ABI names are untrusted input. They only ever reach generated code as identifiers that match
``[A-Za-z][A-Za-z0-9_]*`` (checked again by :func:`check_identifier` right before rendering), and
reach SQL only as identifiers matching ``[a-z][a-z0-9_]*``; the original ABI strings appear in
generated code only through ``repr()`` (signatures, ``args()`` keys). The rules:

1. **Folding.** A name is NFKD-normalised and reduced to ASCII letters, digits and ``_``; every
   other run of characters becomes one ``_``. Leading/trailing ``_`` are dropped (so ``_to`` and
   ``to`` are the same name; a generated name never starts with ``_``, which keeps every
   ``_private`` name of the generated module out of reach).
2. **Case.** Fields, columns, functions and parameters are ``snake_case`` (``tokenId`` ->
   ``token_id``, ``DCMXToken`` -> ``dcmx_token``); classes are ``PascalCase`` with the ABI's
   own capitals kept (``Transfer``, ``OrderFulfilled``); module names are the contract's
   snake case.
3. **Empty.** A name that folds to nothing (unnamed parameters, all non-ASCII) becomes
   ``arg<i>`` (fields, parameters; i = position) or ``Event<i>`` / ``Struct<i>`` / ``Contract``.
   A name starting with a digit gets the prefix ``n`` (``2x`` -> ``n2x``).
4. **Reserved words** get a trailing ``_``: Python keywords and soft keywords (``from`` ->
   ``from_``, ``class`` -> ``class_``, ``None`` -> ``None_``), SQL words reserved in PostgreSQL
   or SQLite (``order`` -> ``order_``, ``select``, ``values``, ``to``, ``timestamp``,
   ``index``, ``key``...), the chain columns (``block_number`` -> ``block_number_``,
   ``log_index``...), and the names generated classes use themselves (``decode``,
   ``encode``, ``args``, ``args_json``, ``sql_values``, ``from_sql``, ``to_json``,
   ``from_json``, ``from_abi``, ``call_value``; module level ``metadata``, ``EVENTS``,
   ``DISPATCH``...).
5. **Length.** Identifiers longer than 63 characters (PostgreSQL's limit) are cut to 54 and
   given ``_`` + the first 8 hex digits of the sha256 of the untruncated name.
6. **Collisions** (after folding, case folding included: ``Value`` and ``value``) are resolved
   in ABI order: the first keeps the name, the next ones get ``_2``, ``_3``... The result is
   re-checked, so a suffix never creates a new collision.
7. **Overloads** (functions or events sharing a name): the overload with the fewest inputs
   (ties: the smallest canonical signature) keeps the plain name; every other one gets ``_`` +
   its canonical input types, folded by rule 1 with ``[]`` -> ``_arr`` and ``[k]`` -> ``_k``
   (``safeTransferFrom(address,address,uint256,bytes)`` ->
   ``safe_transfer_from_address_address_uint256_bytes``). This depends only on the set of
   signatures, not on ABI order.
8. **Tables** are ``<contract_snake>__<event_snake>`` (double underscore), then rule 5.
   Indexes are ``ix_<table>__<column>`` under the same length rule.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterable

from dcmx_core.chain import CHAIN_COLUMNS
from dcmx_core.identifiers import MAX_IDENTIFIER, shorten  # rule 5

__all__ = [
    "MAX_IDENTIFIER",
    "CHAIN_COLUMNS",
    "fold",
    "snake",
    "pascal",
    "field_name",
    "class_name",
    "module_name",
    "table_name",
    "index_name",
    "shorten",
    "dedupe",
    "overload_names",
    "check_identifier",
]

# PostgreSQL reserved keywords (incl. "can be function or type" and the column-name-restricted
# ones) and SQLite keywords, lower case. Over-inclusive on purpose: a suffix costs nothing,
# a clash in hand-written SQL costs an afternoon.
_SQL_WORDS = frozenset(
    """
abort action add after all alter always analyse analyze and any array as asc asymmetric attach
authorization autoincrement before begin between bigint binary bit boolean both by cascade case
cast char character check collate collation column commit concurrently conflict constraint create
cross current current_catalog current_date current_role current_schema current_time
current_timestamp current_user database dec decimal default deferrable deferred delete desc
detach distinct do drop each else end escape except exclude exclusive exists explain extract fail
false fetch filter first float following for foreign freeze from full generated glob grant
greatest group grouping groups having if ignore ilike immediate in index indexed inout initially
inner insert instead int integer intersect interval into is isnull join key last lateral leading
least left like limit localtime localtimestamp match materialized national natural nchar no none
normalize not nothing notnull null nullif nulls numeric of offset on only or order others out
outer over overlaps overlay partition placing plan position pragma preceding precision primary
query raise range real recursive references regexp reindex release rename replace restrict
returning right rollback row rows savepoint select session_user setof similar smallint some
substring symmetric system_user table tablesample temp temporary then ties time timestamp to
trailing transaction treat trigger trim true unbounded union unique update user using vacuum
values varchar variadic verbose view virtual when where window with without
""".split()
)

_PY_WORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

# names the generated classes and modules define themselves
_MEMBER_WORDS = frozenset(
    {"decode", "encode", "args", "args_json", "sql_values", "from_sql", "to_json", "from_json",
     "from_abi", "self", "cls", "call_value", "v"}
)
_MODULE_WORDS = frozenset(
    {
        "metadata",
        "decode_log",
        "EVENTS",
        "DISPATCH",
        "ANONYMOUS_DISPATCH",
        "STRUCTS",
        "CONTRACT_NAME",
        "PROFILE",
        "SOURCE",
        "SOURCE_SHA256",
        "Transport",
        "Any",
        "ClassVar",
        "Sequence",
    }
)

_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SQL_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def fold(name: str) -> str:
    """Rule 1: ASCII letters, digits and single inner underscores only."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NON_WORD.sub("_", ascii_).strip("_")


def snake(name: str) -> str:
    s = fold(name)
    s = _CAMEL_1.sub(r"\1_\2", s)
    s = _CAMEL_2.sub(r"\1_\2", s)
    return re.sub("_+", "_", s).lower()


def pascal(name: str) -> str:
    parts = [p for p in fold(name).split("_") if p]
    return "".join(p[0].upper() + p[1:] for p in parts)


def _finish(name: str, original: str, reserved: Iterable[str] = ()) -> str:
    if name[:1].isdigit():
        name = "n" + name
    reserved = frozenset(reserved)
    if name in _PY_WORDS or name.lower() in _SQL_WORDS or name in CHAIN_COLUMNS or name in reserved:
        name += "_"
    return shorten(name, original)


def field_name(name: str, position: int) -> str:
    """Event fields = SQL columns, struct members and function parameters (rules 1-5)."""
    s = snake(name)
    if not s:
        return f"arg{position}"
    return _finish(s, name, _MEMBER_WORDS | _MODULE_WORDS)


def function_name(name: str) -> str:
    s = snake(name) or "function"
    return _finish(s, name, _MODULE_WORDS | {"encode", "address", "transport"})


def class_name(name: str, fallback: str) -> str:
    s = pascal(name) or fallback
    return _finish(s, name, _MODULE_WORDS)


def module_name(contract: str) -> str:
    s = snake(contract) or "contract"
    return _finish(s, contract, {"init", "schema"})


def table_name(contract_module: str, event_snake: str) -> str:
    full = f"{contract_module}__{event_snake}"
    return shorten(full)


def index_name(table: str, column: str) -> str:
    return shorten(f"ix_{table}__{column}")


def dedupe(names: Iterable[str]) -> list[str]:
    """Rule 6 over a sequence in ABI order; case-insensitive."""
    out: list[str] = []
    taken: set[str] = set()
    for n in names:
        candidate, k = n, 1
        while candidate.lower() in taken:
            k += 1
            suffix = f"_{k}"
            candidate = n[: MAX_IDENTIFIER - len(suffix)] + suffix
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def _type_suffix(canonical_types: Iterable[str]) -> str:
    parts = []
    for t in canonical_types:
        t = re.sub(r"\[(\d+)\]", r"_\1", t).replace("[]", "_arr")
        t = t.replace("(", "tuple_").replace(")", "_")
        parts.append(t)
    return "_".join(parts) or "noargs"


def overload_names(entries: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Rule 7. ``entries`` are (ABI name, canonical input types); returns unfolded base names."""
    by_name: dict[str, list[int]] = {}
    for i, (name, _) in enumerate(entries):
        by_name.setdefault(name, []).append(i)
    out = [name for name, _ in entries]
    for name, idxs in by_name.items():
        if len(idxs) < 2:
            continue
        keeper = min(idxs, key=lambda i: (len(entries[i][1]), ",".join(entries[i][1])))
        for i in idxs:
            if i != keeper:
                out[i] = f"{name}_{_type_suffix(entries[i][1])}"
    return out


def check_identifier(name: str, *, sql: bool = False) -> str:
    """Last line of defence before a name is written into generated code or SQL."""
    pattern = _SQL_IDENT if sql else _IDENT
    if not pattern.match(name) or len(name) > MAX_IDENTIFIER or keyword.iskeyword(name):
        raise ValueError(f"internal error: unsafe identifier {name!r}")
    return name
