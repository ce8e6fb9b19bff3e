"""Contract functions as declarations: what generated contract classes are made of.

A generated class declares each ABI function with a decorator over a typed stub::

    class DCMXToken(_fn.Contract, name="DCMXToken", profile="tron"):
        @_fn.view("balanceOf(address)", ("uint256",))
        def balance_of(self, account: str | bytes) -> int:
            raise NotImplementedError

The stub's body never runs: the decorator replaces it with a :class:`ContractFunction` that
encodes calldata, decodes return data and calls or transacts through the contract's injected
transport. The stub is there for its signature: its parameters are the method's (names,
annotations, keywords), and its return annotation is the function's ABI output type (what
``decode_output`` returns, and what calling a view or pure function returns; a transaction
returns what the transport's ``transact`` does, its receipt). The decorators are typed with a
``ParamSpec``, so a type checker and an IDE see ``token.balance_of(account: str | bytes) ->
int``, ``DCMXToken.transfer.encode(to_: str | bytes, value: int) -> bytes`` and
``DCMXToken.transfer.decode_output(data) -> bool``.

Everything that costs is done on a function's first use, not at import (generated modules are
imported by every indexer process, most of which never call a function): its selector, the
argument converters and the eth-abi decoder of its outputs.

Output declarations (``outputs``) are the ABI types, one per return value: a canonical type
string for a value without a struct in it (``"uint256"``, ``"address[]"``), a generated struct
class for a tuple (its ``ABI_TYPE`` gives the type, its ``from_abi`` the value), and
``(item, "[]")`` / ``(item, "[k]")`` for an array of structs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Concatenate,
    Generic,
    ParamSpec,
    Self,
    TypeVar,
    cast,
    overload,
)

from .abi_runtime import address_arg, argument_preparer, encode_args, split_types, tuple_decoder
from .addresses import Profile, renderer

if TYPE_CHECKING:
    from .transports import Transport

__all__ = [
    "Contract",
    "ContractFunction",
    "Call",
    "Transaction",
    "Bound",
    "Output",
    "view",
    "pure",
    "nonpayable",
    "payable",
]

P = ParamSpec("P")
R = TypeVar("R")

# An output: a canonical ABI type without structs, a struct class, or an array of outputs.
Output = str | type[Any] | tuple[Any, str]


class Contract:
    """A contract at one address, through an injected transport.

    Generated classes name the contract and the chain profile as class arguments:
    ``class DCMXToken(Contract, name="DCMXToken", profile="tron")``; the profile decides how
    ``address`` and address return values are shown.
    """

    NAME: ClassVar[str] = ""
    PROFILE: ClassVar[str] = "tron"

    def __init_subclass__(cls, *, name: str = "", profile: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.NAME = name
        if profile:
            _render(profile)  # an unknown profile fails here, at import, not on first use
            cls.PROFILE = profile

    def __init__(self, address: str | bytes, transport: Transport) -> None:
        self._address = address_arg(address)
        self._transport = transport

    @property
    def address(self) -> str:
        return _render(self.PROFILE)(self._address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"


class _Built:
    """What a function needs to run, made on its first use."""

    __slots__ = ("selector", "types", "prepare", "decode")

    def __init__(self, fn: ContractFunction[Any, Any]) -> None:
        from eth_hash.auto import keccak

        self.selector = keccak(fn.signature.encode())[:4]
        self.types = tuple(split_types(fn.signature[fn.signature_start + 1 : -1]))
        self.prepare = tuple(argument_preparer(t) for t in self.types)
        self.decode = _output_decoder(fn)


class ContractFunction(Generic[P, R]):
    """One ABI function of a contract class (see the module docstring)."""

    is_call: ClassVar[bool] = False

    def __init__(
        self,
        stub: Callable[Concatenate[Any, P], R],
        signature: str,
        outputs: Sequence[Output],
        mutability: str,
    ) -> None:
        self.signature = signature
        self.signature_start = _inputs_start(signature)
        self.outputs = tuple(outputs)
        self.mutability = mutability
        self.__name__ = stub.__name__
        self.__qualname__ = stub.__qualname__
        self.__module__ = stub.__module__
        self.__doc__ = f"``{signature}`` ({mutability})"
        self.__wrapped__ = stub  # inspect.signature() shows the stub's
        self._stub = stub
        # the parameters the ABI declares (a payable stub adds the keyword-only call_value)
        code = stub.__code__
        self._arity = code.co_argcount - 1
        self._owner: type | None = None
        self._built: _Built | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self._owner = owner  # its PROFILE (set after this call) renders address outputs

    @property
    def name(self) -> str:
        """The function's ABI name."""
        return self.signature[: self.signature_start]

    @property
    def selector(self) -> bytes:
        return self._build().selector

    def _build(self) -> _Built:
        built = self._built
        if built is None:
            built = self._built = _Built(self)
        return built

    def _values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if kwargs or len(args) != self._arity:
            # keywords, or a wrong count: Python's own binding (and its TypeError)
            if "call_value" in kwargs and self.mutability == "payable":
                raise TypeError(
                    f"{self.__name__}.encode(): call_value is not calldata; pass it to the call"
                )
            bound = inspect.signature(self._stub).bind(None, *args, **kwargs)
            bound.apply_defaults()
            args = tuple(bound.arguments.values())[1 : 1 + self._arity]
        return args

    def encode(self, *args: P.args, **kwargs: P.kwargs) -> bytes:
        """The calldata of a call with these arguments: selector + ABI-encoded arguments."""
        values = self._values(args, kwargs)
        built = self._build()
        if not values:
            return built.selector
        return built.selector + encode_args(
            built.types,
            [v if p is None else p(v) for p, v in zip(built.prepare, values, strict=True)],
        )

    def decode_output(self, data: bytes) -> R:
        """The function's return value from its return data (strict; None without outputs, a
        tuple for several)."""
        return cast(R, self._build().decode(data))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.__qualname__}: {self.signature}>"


class Bound(Generic[P, R]):
    """A contract function of one contract instance: calling it calls or transacts."""

    __slots__ = ("function", "contract")

    def __init__(self, function: ContractFunction[P, Any], contract: Contract) -> None:
        self.function = function
        self.contract = contract

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        fn, c = self.function, self.contract
        if fn.is_call:
            data = c._transport.call(c._address, fn.encode(*args, **kwargs))
            return cast(R, fn.decode_output(data))
        value: Any = kwargs.pop("call_value", 0) if fn.mutability == "payable" else 0
        return cast(R, c._transport.transact(c._address, fn.encode(*args, **kwargs), value=value))

    @property
    def __signature__(self) -> inspect.Signature:
        """The stub's signature without ``self`` (what ``help()`` and IDE consoles show)."""
        sig = inspect.signature(self.function._stub)
        return sig.replace(parameters=list(sig.parameters.values())[1:])

    def __repr__(self) -> str:
        return f"<bound {self.function.__qualname__} of {self.contract!r}>"


class Call(ContractFunction[P, R]):
    """A view or pure function: calling it returns the decoded return value."""

    is_call = True

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: Contract, owner: type | None = None) -> Bound[P, R]: ...

    def __get__(self, obj: Contract | None, owner: type | None = None) -> Self | Bound[P, R]:
        return self if obj is None else Bound(self, obj)


class Transaction(ContractFunction[P, R]):
    """A nonpayable or payable function: calling it sends a transaction through the transport
    and returns what the transport's ``transact`` returns (its receipt)."""

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: Contract, owner: type | None = None) -> Bound[P, Any]: ...

    def __get__(self, obj: Contract | None, owner: type | None = None) -> Self | Bound[P, Any]:
        return self if obj is None else Bound(self, obj)


def view(
    signature: str, outputs: Sequence[Output] = ()
) -> Callable[[Callable[Concatenate[Any, P], R]], Call[P, R]]:
    """Declare a view function (see the module docstring)."""
    return lambda stub: Call(stub, signature, outputs, "view")


def pure(
    signature: str, outputs: Sequence[Output] = ()
) -> Callable[[Callable[Concatenate[Any, P], R]], Call[P, R]]:
    """Declare a pure function."""
    return lambda stub: Call(stub, signature, outputs, "pure")


def nonpayable(
    signature: str, outputs: Sequence[Output] = ()
) -> Callable[[Callable[Concatenate[Any, P], R]], Transaction[P, R]]:
    """Declare a function that needs a transaction."""
    return lambda stub: Transaction(stub, signature, outputs, "nonpayable")


def payable(
    signature: str, outputs: Sequence[Output] = ()
) -> Callable[[Callable[Concatenate[Any, P], R]], Transaction[P, R]]:
    """Declare a payable function: its stub ends with the keyword ``call_value: int = 0``, the
    value (sun, wei) the transaction sends."""
    return lambda stub: Transaction(stub, signature, outputs, "payable")


def _render(profile: str) -> Callable[[bytes], str]:
    return renderer(cast(Profile, profile))


# --- ABI types, at first use --------------------------------------------------------------


def _inputs_start(signature: str) -> int:
    """Where the parenthesised input types of a signature begin: matched from its end, so a
    name holding parentheses (an ABI name is any text) does not confuse it."""
    if not signature.endswith(")"):
        raise ValueError(f"not a function signature: {signature!r}")
    depth = 0
    for i in range(len(signature) - 1, -1, -1):
        c = signature[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"not a function signature: {signature!r}")


def _abi_type(spec: Output) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, tuple):
        item, suffix = spec
        return _abi_type(item) + suffix
    return str(spec.ABI_TYPE)


def _converter(spec: Output, render: Callable[[bytes], str]) -> Callable[[Any], Any] | None:
    """How eth-abi's decoded value of ``spec`` becomes ours (None: as it is)."""
    if isinstance(spec, str):
        if spec.startswith("("):
            raise TypeError(f"output {spec}: a tuple is declared by its struct class")
        if spec == "address":
            return lambda h: render(bytes.fromhex(h[2:]))
        if spec.endswith("]"):
            item = _converter(spec[: spec.rindex("[")], render)
            if item is None:
                return None
            return lambda v: tuple([item(x) for x in v])
        return None
    if isinstance(spec, tuple):
        inner = _converter(spec[0], render)
        if inner is None:
            return None
        return lambda v: tuple([inner(x) for x in v])
    from_abi: Callable[[Any], Any] = spec.from_abi
    return from_abi


def _output_decoder(fn: ContractFunction[Any, Any]) -> Callable[[bytes], Any]:
    outputs = fn.outputs
    if not outputs:
        return lambda data: None
    decode = tuple_decoder(tuple(_abi_type(o) for o in outputs), fn.signature)
    render = _render(getattr(fn._owner, "PROFILE", "tron"))
    convert = [_converter(o, render) for o in outputs]
    if len(outputs) == 1:
        (one,) = convert
        if one is None:
            return lambda data: decode(data)[0]
        return lambda data: one(decode(data)[0])
    if not any(convert):
        return decode
    return lambda data: tuple(
        v if c is None else c(v) for c, v in zip(convert, decode(data), strict=True)
    )
