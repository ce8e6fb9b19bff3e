"""Business figures plugins give Prometheus (the ``dcmx_metrics`` hook), read at scrape time.

The figures belong to the application: dcmx only asks each plugin, on one short read-only
connection per scrape, and exposes what comes back as gauges (a figure derived from indexed
rows may go down when a fork is rolled back, which a Prometheus counter must never do). A
plugin whose hook fails is left out of that scrape and logged; the scrape still answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.engine import Connection

__all__ = ["Figure", "FiguresCollector"]

log = logging.getLogger("dcmx.metrics")


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: a Prometheus gauge ``name`` (snake_case, the plugin's prefix first), its
    help text, its value, and optional labels."""

    name: str
    doc: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


class FiguresCollector:
    """A Prometheus collector over the plugins' ``dcmx_metrics`` hooks.

    ``read(fn)`` runs ``fn(conn)`` on a read connection (the service's read-only one, or the
    indexer's engine); ``plugins`` is the :class:`~dcmx_core.plugins.PluginHost`.
    """

    def __init__(self, plugins: Any, read: Callable[[Callable[[Connection], Any]], Any]) -> None:
        self.plugins = plugins
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            figures: list[Figure] = self.read(self.plugins.figures)
        except Exception as exc:  # noqa: BLE001 - a scrape answers even when the database fails
            log.warning("business metrics left out of this scrape: %s", exc)
            return
        families: dict[str, GaugeMetricFamily] = {}
        for f in figures:
            family = families.get(f.name)
            if family is None:
                family = families[f.name] = GaugeMetricFamily(
                    f.name, f.doc, labels=sorted(f.labels)
                )
            family.add_metric([f.labels[k] for k in sorted(f.labels)], float(f.value))
        yield from families.values()

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # figures are known only once read: no checks against other collectors
