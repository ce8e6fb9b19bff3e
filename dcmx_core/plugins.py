"""Finding, checking, ordering and calling plugins (pluggy, project name ``dcmx``).

A plugin is registered explicitly (``Indexer(..., plugins=[module])``) or found through the
entry-point group ``dcmx.plugins``, exactly as the built-in ones are. Mistakes are caught at
start-up, not by a hook that silently never runs: a function named like a hook that no hook
specification knows (a misspelt ``dcmx_handle_batchs``), a declaration of the wrong type, two
plugins of one name, an ``after=`` cycle.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import hookspecs
from .batch import Batch, Declaration
from .dbfaults import database_fault
from .errors import ConfigError, PluginError
from .views import is_view

__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "PluginHost", "entry_point_plugins"]

ENTRY_POINT_GROUP = "dcmx.plugins"

log = logging.getLogger("dcmx.plugins")


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    declaration: Declaration
    origin: str  # "entry point <name> = <value> (<distribution>)" or "registered"
    handle: Any  # the pluggy HookImpl of dcmx_handle_batch, or None
    from_entry_point: bool = False
    plugin: Any = None  # the registered object (module) itself


def entry_point_plugins(only: Iterable[str] | None = None) -> list[tuple[object, str]]:
    """(plugin object, origin) for every plugin installed through the entry-point group, in
    entry-point name order.

    A package whose entry point fails to import stops the start only when that plugin is
    asked for by name (its entry-point name in ``only``); otherwise it is skipped with a
    warning naming its package: one broken package must not stop indexing other contracts.
    """
    wanted = None if only is None else set(only)
    points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    if wanted is not None and wanted <= {ep.name for ep in points}:
        # Every plugin asked for is an entry point's name (as it is when a package names its
        # entry point after its plugin): the others are not imported at all. Importing the
        # built-in ones means every platform binding, 0.2 s of a run that uses none of them.
        points = [ep for ep in points if ep.name in wanted]
    found = []
    for ep in points:
        dist = ep.dist.name if ep.dist else "?"
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party package, reported
            error = PluginError(
                f"plugin {ep.name!r} (entry point {ep.value!r} of package {dist!r}) failed to "
                f"import: {type(exc).__name__}: {exc}; fix or uninstall that package"
            )
            if wanted is None or ep.name not in wanted:
                log.warning("%s (skipped: not asked for by name)", error,
                            extra={"plugin": ep.name, "distribution": dist})
                continue
            raise error from exc
        found.append((plugin, f"entry point {ep.name} = {ep.value} ({dist})"))
    return found


class PluginHost:
    """The pluggy manager with the loaded plugins, their declarations, in run order."""

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        entry_points: bool = False,
        only: Iterable[str] | None = None,
    ):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.only = None if only is None else list(only)
        self._figures_failed: set[str] = set()  # plugins whose dcmx_metrics failed once
        candidates = [(p, "registered", False) for p in plugins]
        if entry_points:
            candidates += [(p, o, True) for p, o in entry_point_plugins(self.only)]
        self.plugins: list[LoadedPlugin] = []
        for plugin, origin, from_ep in candidates:
            self._register(plugin, origin, from_ep)
        if self.only is not None:
            known = {p.declaration.name for p in self.plugins}
            unknown = [n for n in self.only if n not in known]
            if unknown:
                raise ConfigError(
                    f"unknown plugin(s) {', '.join(unknown)}; installed: "
                    f"{', '.join(sorted(known)) or 'none'} (see `dcmx plugins`)"
                )
            self.plugins = [p for p in self.plugins if p.declaration.name in self.only]
        self.plugins = _ordered(self.plugins)

    # -- what the plugins declare ---------------------------------------------------------------

    def tables(self) -> list[sa.Table]:
        return [t for p in self.plugins for t in p.declaration.tables]

    def owned_tables(self) -> list[tuple[sa.Table, str]]:
        """Each plugin table with its owner's name."""
        return [(t, p.declaration.name) for p in self.plugins for t in p.declaration.tables]

    def owned_views(self) -> list[tuple[sa.Table, str]]:
        return [(v, p.declaration.name) for p in self.plugins for v in p.declaration.views]

    def check_consumed(self, configured: set[type]) -> None:
        """Make sure every plugin's events come from a configured contract.

        A plugin installed through an entry point that was not asked for by name is left out
        (with an info line) when its contracts are not configured: installing a package of
        plugins must not stop indexing other contracts. A plugin asked for or registered
        explicitly is an error then.
        """
        kept = []
        for p in self.plugins:
            missing = [cls for cls in p.declaration.consumes if cls not in configured]
            if not missing:
                kept.append(p)
                continue
            names = ", ".join(sorted({getattr(cls, "CONTRACT", "?") for cls in missing}))
            if p.from_entry_point and self.only is None:
                log.info(
                    "plugin %r not loaded: it consumes events of %s, which no configured "
                    "contract provides",
                    p.declaration.name,
                    names,
                    extra={"plugin": p.declaration.name, "contracts": names},
                )
                continue
            raise ConfigError(
                f"plugin {p.declaration.name!r} ({p.origin}) consumes events of {names}, but "
                "no address is configured for it; add it to the contracts of the configuration"
            )
        self.plugins = kept

    # -- calling them ---------------------------------------------------------------------------

    def handle(self, batch: Batch, conn: Connection) -> None:
        """Call every plugin on the batch; a failure names the plugin, the event and the block.

        Each call runs in a savepoint, so that after a failure the transaction is still usable
        (PostgreSQL aborts a transaction on any error) to find the event that made it fail.
        """
        for plugin in self.plugins:
            if plugin.handle is None:
                continue
            savepoint = conn.begin_nested()
            try:
                plugin.handle.function(batch=batch, conn=conn)
            except Exception as exc:
                if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
                    raise  # the database went away, not the plugin's fault: the core retries
                if database_fault(exc):
                    raise  # a lock, a full disk, a server going down: not the plugin's doing
                savepoint.rollback()
                raise self._failure(plugin, batch, conn, exc) from exc
            savepoint.commit()

    def routers(self, service: Any) -> list[tuple[str, Any]]:
        """(plugin name, FastAPI router) of every loaded plugin whose ``dcmx_api_router``
        gives one, in run order (``dcmx serve`` mounts them under ``/api/v1``)."""
        impls = {id(i.plugin): i for i in self.pm.hook.dcmx_api_router.get_hookimpls()}
        out = []
        for p in self.plugins:
            impl = impls.get(id(p.plugin))
            if impl is None:
                continue
            try:
                router = impl.function(service=service)
            except Exception as exc:
                raise PluginError(
                    f"plugin {p.declaration.name!r} ({p.origin}) failed to make its API "
                    f"routes: {type(exc).__name__}: {exc}"
                ) from exc
            if router is not None:
                out.append((p.declaration.name, router))
        return out

    def figures(self, conn: Connection) -> list[Any]:
        """Every loaded plugin's ``dcmx_metrics`` figures read on ``conn``; a plugin whose hook
        raises is left out (and logged)."""
        impls = {id(i.plugin): i for i in self.pm.hook.dcmx_metrics.get_hookimpls()}
        out: list[Any] = []
        for p in self.plugins:
            impl = impls.get(id(p.plugin))
            if impl is None:
                continue
            try:
                with conn.begin_nested():  # a failed read must not spoil the next plugin's
                    given: Any = impl.function(conn=conn)
                    out.extend(given or ())
            except Exception as exc:  # noqa: BLE001 - one plugin's figures, not the scrape
                # Once at warning (say, its tables are not in this database), then at debug:
                # a scrape every few seconds would bury everything else.
                name = p.declaration.name
                level = logging.DEBUG if name in self._figures_failed else logging.WARNING
                self._figures_failed.add(name)
                log.log(
                    level, "plugin %r failed to give its metrics: %s: %s",
                    name, type(exc).__name__, exc, extra={"plugin": name},
                )
        return out

    # -- loading ------------------------------------------------------------------------------

    def _register(self, plugin: object, origin: str, from_ep: bool) -> None:
        _check_hook_names(plugin, origin)
        try:
            name = self.pm.register(plugin)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            detail = " ".join(str(exc).split())
            raise PluginError(f"plugin from {origin}: {detail}; see dcmx_core.hookspecs") from None
        if name is None:  # the same object twice (an entry point and explicit registration)
            return
        impls = {
            hook: next(
                (i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin is plugin), None
            )
            for hook in ("dcmx_declare", "dcmx_handle_batch")
        }
        if impls["dcmx_declare"] is None:
            raise PluginError(
                f"plugin from {origin} has no dcmx_declare hook; see dcmx_core.hookspecs"
            )
        declaration = impls["dcmx_declare"].function()
        if not isinstance(declaration, Declaration):
            raise PluginError(
                f"plugin from {origin}: dcmx_declare returned {type(declaration).__name__}, "
                "expected dcmx_core.Declaration"
            )
        misplaced = [t.name for t in declaration.tables if is_view(t)] + [
            t.name for t in declaration.views if not is_view(t)
        ]
        if misplaced:
            raise PluginError(
                f"plugin {declaration.name!r} from {origin}: {', '.join(misplaced)} declared "
                "in the wrong list; tables go in Declaration.tables, what dcmx_core.view() "
                "made in Declaration.views"
            )
        if any(p.declaration.name == declaration.name for p in self.plugins):
            raise ConfigError(f"two plugins are named {declaration.name!r}; names must be unique")
        self.plugins.append(
            LoadedPlugin(declaration, origin, impls["dcmx_handle_batch"], from_ep, plugin)
        )

    def _failure(self, plugin: LoadedPlugin, batch: Batch, conn: Connection,
                 exc: Exception) -> PluginError:
        return PluginError(
            f"plugin {plugin.declaration.name!r} failed on "
            f"{self._culprit(plugin, batch, conn)}: {type(exc).__name__}: {exc}. The batch "
            f"was rolled back and the cursor kept; fix the plugin ({plugin.origin}) and run "
            "again to resume"
        )

    @staticmethod
    def _culprit(plugin: LoadedPlugin, batch: Batch, conn: Connection) -> str:
        """Describe the first event the plugin fails on, found by bisecting the batch."""
        consumes = set(plugin.declaration.consumes)
        consumed = [i for i, d in enumerate(batch.events) if type(d.event) in consumes]

        def fails(k: int) -> bool:  # does the plugin fail on the events up to consumed[k - 1]?
            events = batch.events[: consumed[k - 1] + 1] if k else []
            trial = conn.begin_nested()
            try:
                plugin.handle.function(batch=Batch(batch.start, batch.end, events,
                                                   batch.finalized), conn=conn)
            except Exception:  # noqa: BLE001 - any failure counts, as in handle()
                return True
            finally:
                trial.rollback()
            return False

        if consumed and not fails(0) and fails(len(consumed)):
            low, high = 1, len(consumed)  # the smallest failing prefix lies in low..high
            while low < high:
                mid = (low + high) // 2
                low, high = (low, mid) if fails(mid) else (mid + 1, high)
            d = batch.events[consumed[low - 1]]
            return (
                f"{type(d.event).__name__} of tx 0x{d.log.tx_hash.hex()} "
                f"(log {d.log.log_index}) in block {d.log.block_number}"
            )
        return f"blocks {batch.start}..{batch.end}"


_HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("dcmx_")
)


def _check_hook_names(plugin: object, origin: str) -> None:
    """A function whose name starts with ``dcmx_`` but is no hook is a misspelt hook: pluggy
    would register it as nothing (or, marked, fail later), and it would never be called."""
    for name in dir(plugin):
        if not name.startswith("dcmx_") or name in _HOOKS:
            continue
        if not callable(getattr(plugin, name, None)):
            continue
        close = difflib.get_close_matches(name, _HOOKS, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; the hooks are {', '.join(_HOOKS)}"
        raise PluginError(
            f"plugin from {origin} defines {name}, which is no dcmx hook and would never be "
            f"called{hint} (see dcmx_core.hookspecs)"
        )


def _ordered(plugins: list[LoadedPlugin]) -> list[LoadedPlugin]:
    """``plugins`` with each one after those its declaration names in ``after`` (among those
    loaded), otherwise in the order given; a cycle is an error naming it."""
    by_name = {p.declaration.name: p for p in plugins}
    before = {
        p.declaration.name: [a for a in p.declaration.after if a in by_name] for p in plugins
    }
    done: list[LoadedPlugin] = []
    placed: set[str] = set()
    pending = [p.declaration.name for p in plugins]
    while pending:
        ready = next((n for n in pending if all(a in placed for a in before[n])), None)
        if ready is None:
            raise ConfigError(
                f"plugins {', '.join(pending)} name each other in Declaration.after, in a "
                f"cycle ({_cycle(before, pending)}); one of them must not run after the other"
            )
        pending.remove(ready)
        placed.add(ready)
        done.append(by_name[ready])
    return done


def _cycle(before: dict[str, list[str]], pending: list[str]) -> str:
    path = [pending[0]]
    while True:
        nxt = next(a for a in before[path[-1]] if a in pending)
        if nxt in path:
            return " -> ".join([*path[path.index(nxt):], nxt])
        path.append(nxt)
