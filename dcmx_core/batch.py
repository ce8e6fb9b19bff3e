"""What plugins see: decoded events with their chain context, and what plugins declare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar, overload

import sqlalchemy as sa

from .chain import Log

__all__ = ["Batch", "Declaration", "Decoded"]

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Declaration:
    """A plugin's declaration: its name, the event classes it consumes, the tables it owns
    and writes, the views (:func:`dcmx_core.view`) it defines over stored rows, and the
    plugins it must run after (when they are loaded: ``after`` orders, it does not require;
    without it plugins run in the order they were found, entry points by name)."""

    name: str
    consumes: Sequence[type] = ()
    tables: Sequence[sa.Table] = ()
    views: Sequence[sa.Table] = ()
    after: Sequence[str] = ()


class Decoded(NamedTuple, Generic[E]):
    """One decoded log: the generated event object, the raw log and its block's timestamp.

    Events replayed from the raw tables (``Indexer.rebuild``, plugins added to an indexed
    database) come with a log whose ``topics`` and ``data`` are empty: only their decoded
    values are stored, in ``event``.

    A named tuple for the reason :class:`~dcmx_core.chain.Log` is one: one per event.
    """

    event: E
    log: Log
    timestamp: int
    contract_address: str  # rendered by the chain profile


@dataclass(slots=True)
class Batch:
    """The events of blocks ``start``..``end`` (inclusive), in chain order."""

    start: int
    end: int
    events: list[Decoded[Any]]
    finalized: bool  # True when every block of the batch is final (no rollback can touch it)
    _by_class: dict[type, list[Decoded[Any]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for d in self.events:
            self._by_class.setdefault(type(d.event), []).append(d)

    def classes(self) -> list[type]:
        """The event classes present, in the order of their first event."""
        return list(self._by_class)

    @overload
    def of(self, cls: type[E], /) -> list[Decoded[E]]: ...

    @overload
    def of(self, *classes: type) -> list[Decoded[Any]]: ...

    def of(self, *classes: type) -> list[Decoded[Any]]:
        """The events of the given classes, in chain order (typed by the class when one)."""
        if len(classes) == 1:
            return self._by_class.get(classes[0], [])
        wanted = set(classes)
        return [d for d in self.events if type(d.event) in wanted]
