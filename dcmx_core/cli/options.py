"""Command-line options made from the settings' own declarations (:mod:`dcmx_core.settings`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..settings import declared, env_var, flag_of, value_type

__all__ = ["setting_options"]

F = TypeVar("F", bound=Callable[..., Any])


def setting_options(*names: str) -> Callable[[F], F]:
    """Add the flags of settings ``names`` to a command; each arrives as a keyword argument
    named like the setting, None (or an empty tuple) when not given."""

    def decorate(fn: F) -> F:
        for name in reversed(names):
            d, flag, kind = declared(name), flag_of(name), value_type(name)
            if flag is None:
                raise ValueError(f"setting {name} has no flag")
            options: dict[str, Any] = {"default": None, "help": f"{d.doc} [{env_var(name)}]"}
            if d.choices:
                options["type"] = click.Choice(d.choices)
            elif kind in (int, float):
                options["type"] = kind
            if d.repeatable:
                options.update(multiple=True, default=())
            fn = click.option(flag, name, **options)(fn)
        return fn

    return decorate
