"""ABI type -> Python annotation, SQL column type, and decoder / converter code.

Every function here returns *code text* built only from validated identifiers, integer
literals and ``repr()`` of strings; nothing from the ABI is pasted in raw.
"""

from __future__ import annotations

from .abi import AbiType

__all__ = [
    "python_annotation",
    "input_annotation",
    "sql_type",
    "is_json_column",
    "is_json_plain",
    "needs_conversion",
    "convert_expr",
    "from_json_expr",
    "word_decode",
    "head_size",
]


def python_annotation(t: AbiType, struct_of: dict[AbiType, str]) -> str:
    if t.kind in ("uint", "int"):
        return "int"
    if t.kind in ("address", "string"):
        return "str"
    if t.kind == "bool":
        return "bool"
    if t.kind in ("bytes", "fixed_bytes"):
        return "bytes"
    if t.kind == "array":
        assert t.item is not None
        return f"tuple[{python_annotation(t.item, struct_of)}, ...]"
    return struct_of[t]


def input_annotation(t: AbiType, struct_of: dict[AbiType, str]) -> str:
    if t.kind == "address":
        return "str | bytes"
    if t.kind == "array":
        assert t.item is not None
        return f"Sequence[{input_annotation(t.item, struct_of)}]"
    if t.kind == "tuple":
        return f"{struct_of[t]} | Sequence[Any]"
    return python_annotation(t, struct_of)


def is_json_column(t: AbiType, hashed: bool) -> bool:
    return not hashed and t.kind in ("array", "tuple")


def sql_type(t: AbiType, hashed: bool) -> str:
    """SQLAlchemy type expression (module aliases ``_sa`` and ``_sqlt``)."""
    if hashed:
        return "_sa.LargeBinary(32)"
    if t.kind == "uint":
        assert t.size is not None
        if t.size <= 31:
            return "_sa.Integer()"
        return "_sa.BigInteger()" if t.size <= 63 else "_sqlt.ExactInt()"
    if t.kind == "int":
        assert t.size is not None
        if t.size <= 32:
            return "_sa.Integer()"
        return "_sa.BigInteger()" if t.size <= 64 else "_sqlt.ExactInt()"
    if t.kind == "address":
        return "_sqlt.address()"
    if t.kind == "bool":
        return "_sa.Boolean()"
    if t.kind == "fixed_bytes":
        return f"_sa.LargeBinary({t.size})"
    if t.kind == "bytes":
        return "_sa.LargeBinary()"
    if t.kind == "string":
        return "_sa.Text()"
    return "_sa.JSON()"


def needs_conversion(t: AbiType) -> bool:
    """eth-abi output differs from ours only for addresses (hex -> profile) and structs."""
    return any(n.kind in ("address", "tuple") for n in t.walk())


def convert_expr(t: AbiType, expr: str, struct_of: dict[AbiType, str], depth: int = 0) -> str:
    """Code turning eth-abi's decoded value ``expr`` into the generated Python value."""
    if not needs_conversion(t):
        return expr
    if t.kind == "address":
        return f"_addr({expr})"
    if t.kind == "array":
        assert t.item is not None
        var = f"_x{depth}"
        inner = convert_expr(t.item, var, struct_of, depth + 1)
        return f"tuple([{inner} for {var} in {expr}])"
    return f"{struct_of[t]}.from_abi({expr})"


def from_json_expr(
    t: AbiType, expr: str, struct_of: dict[AbiType, str], depth: int = 0
) -> str:
    """Code turning ``expr``, a value of type ``t`` as ``_rt.json_safe`` wrote it and a JSON
    column gives it back (lists, ``to_json()`` dicts, ``"0x.."`` text for bytes), into the
    generated Python value: ``json_safe``'s inverse for the values of JSON columns
    (:func:`is_json_column`). ints, bools, strings and addresses come back as they went in."""
    if t.kind in ("bytes", "fixed_bytes"):
        return f"_rt.from_hex({expr})"
    if t.kind == "array":
        assert t.item is not None
        if is_json_plain(t.item):
            return f"tuple({expr})"
        var = f"_x{depth}"
        inner = from_json_expr(t.item, var, struct_of, depth + 1)
        return f"tuple([{inner} for {var} in {expr}])"
    if t.kind == "tuple":
        return f"{struct_of[t]}.from_json({expr})"
    assert is_json_plain(t), t.kind
    return expr


def is_json_plain(t: AbiType) -> bool:
    """Values that are JSON-safe as they are, the same in Python and in JSON (no bytes,
    tuples or structs inside: ``json_safe`` leaves them alone)."""
    return t.kind in ("uint", "int", "address", "bool", "string")


def word_decode(t: AbiType, word: str, var: str, label: str) -> list[str]:
    """Statements that set ``var`` from the 32-byte expression ``word``, strictly.

    ``label`` (a validated identifier) names the value in error messages. Mirrors eth-abi's
    strict mode: unused high bits of uintN/intN must be zero / sign extension, address padding
    zero, bool 0 or 1, bytesN right-padding zero. Uses the module aliases ``_ifb``
    (``int.from_bytes``), ``_BOOL``, ``_render`` and ``_Z12``, which a generated module
    defines when its code uses them (``render._preamble``).
    """
    fail = "raise _rt.fail(cls, "
    if t.kind == "uint":
        assert t.size is not None
        lines = [f'{var} = _ifb({word})']
        if t.size < 256:
            lines += [f"if {var} >> {t.size}:", f"    {fail}'{label}: uint{t.size} out of range')"]
        return lines
    if t.kind == "int":
        assert t.size is not None
        lines = [f'{var} = _ifb({word}, signed=True)']
        if t.size < 256:
            lo, hi = -(1 << (t.size - 1)), (1 << (t.size - 1))
            lines += [
                f"if not {lo} <= {var} < {hi}:",
                f"    {fail}'{label}: int{t.size} out of range')",
            ]
        return lines
    if t.kind == "address":
        return [
            f"if {word}[:12] != _Z12:",
            f"    {fail}'{label}: address with non-zero padding')",
            f"{var} = _render({word}[12:])",
        ]
    if t.kind == "bool":
        return [
            f"{var} = _BOOL.get({word})",
            f"if {var} is None:",
            f"    {fail}'{label}: bool word is neither 0 nor 1')",
        ]
    if t.kind == "fixed_bytes":
        assert t.size is not None
        if t.size == 32:
            return [f"{var} = {word}"]
        return [
            f"if {word}[{t.size}:] != _rt.ZERO32[{t.size}:]:",
            f"    {fail}'{label}: bytes{t.size} with non-zero padding')",
            f"{var} = {word}[:{t.size}]",
        ]
    raise AssertionError(f"not a word type: {t.canonical}")


def head_size(t: AbiType) -> int:
    """Bytes the value takes in the head of an encoding (32 for any dynamic value)."""
    if t.is_dynamic:
        return 32
    if t.kind == "array":
        assert t.item is not None and t.size is not None
        return t.size * head_size(t.item)
    if t.kind == "tuple":
        return sum(head_size(c.type) for c in t.components)
    return 32
