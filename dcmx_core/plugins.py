"""Finding, loading and calling plugins (pluggy, project name ``dcmx``)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass

import pluggy
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import hookspecs
from .batch import Batch, Declaration
from .errors import ConfigError, PluginError
from .views import is_view

ENTRY_POINT_GROUP = "dcmx.plugins"


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    declaration: Declaration
    origin: str  # "entry point <name> (<distribution>)" or "registered"
    handle: object  # the pluggy HookImpl of dcmx_handle_batch, or None


def entry_point_plugins() -> list[tuple[str, object, str]]:
    """(name, plugin object, origin) for every plugin installed through the entry-point group."""
    found = []
    for ep in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        dist = ep.dist.name if ep.dist else "?"
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken third-party package, reported
            raise PluginError(
                f"plugin {ep.name!r} (entry point {ep.value!r} of package {dist!r}) failed to "
                f"import: {type(exc).__name__}: {exc}; fix or uninstall that package"
            ) from exc
        found.append((ep.name, plugin, f"entry point {ep.name} = {ep.value} ({dist})"))
    return found


class PluginHost:
    """The pluggy manager with the loaded plugins and their declarations."""

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        entry_points: bool = False,
        only: Iterable[str] | None = None,
    ):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        candidates = [(None, p, "registered") for p in plugins]
        if entry_points:
            candidates += entry_point_plugins()
        self.plugins: list[LoadedPlugin] = []
        for _, plugin, origin in candidates:
            self._register(plugin, origin)
        if only is not None:
            wanted = list(only)
            known = {p.declaration.name for p in self.plugins}
            unknown = [n for n in wanted if n not in known]
            if unknown:
                raise ConfigError(
                    f"unknown plugin(s) {', '.join(unknown)}; installed: "
                    f"{', '.join(sorted(known)) or 'none'} (see `dcmx plugins`)"
                )
            self.plugins = [p for p in self.plugins if p.declaration.name in wanted]

    def _register(self, plugin: object, origin: str) -> None:
        name = self.pm.register(plugin)
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
        self.plugins.append(LoadedPlugin(declaration, origin, impls["dcmx_handle_batch"]))

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
                savepoint.rollback()
                raise self._failure(plugin, batch, conn, exc) from exc
            savepoint.commit()

    def _failure(self, plugin: LoadedPlugin, batch: Batch, conn: Connection,
                 exc: Exception) -> PluginError:
        return PluginError(
            f"plugin {plugin.declaration.name!r} failed on "
            f"{self._culprit(plugin, batch, conn)}: {type(exc).__name__}: {exc}. The batch "
            "was rolled back and the cursor kept; fix the plugin and run again to resume"
        )

    @staticmethod
    def _culprit(plugin: LoadedPlugin, batch: Batch, conn: Connection) -> str:
        """Describe the first event the plugin fails on, found by bisecting the batch."""
        consumes = plugin.declaration.consumes
        consumed = [i for i, d in enumerate(batch.events) if type(d.event) in set(consumes)]

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
