"""The hooks a dcmx plugin implements.

A plugin is any object or module with functions marked ``@dcmx_core.hookimpl``. It is found
through the entry-point group ``dcmx.plugins`` or registered explicitly when embedding::

    import dcmx_core
    from dcmx_generated import dcmx_token

    @dcmx_core.hookimpl
    def dcmx_declare():
        return dcmx_core.Declaration(
            name="balances", consumes=[dcmx_token.Transfer], tables=[balances]
        )

    @dcmx_core.hookimpl
    def dcmx_handle_batch(batch, conn):
        rows = [{"wallet": e.event.to, ...} for e in batch.of(dcmx_token.Transfer)]
        if rows:
            conn.execute(balances.insert(), rows)

Writes go to the tables the plugin declared, with any SQLAlchemy statement or raw SQL, inside
the transaction of the batch: the core journals them and rolls them back after a fork, so a
plugin has no rollback code of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fastapi import APIRouter
    from sqlalchemy.engine import Connection

    from .batch import Batch, Declaration
    from .figures import Figure
    from .service import Service

PROJECT = "dcmx"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dcmx_declare() -> Declaration:
    """Say what the plugin is: its name, the event classes it consumes, the tables it owns and
    the views (:func:`dcmx_core.view`) it defines over them and the raw event tables.

    Called once at start-up. The core creates the declared tables, journals them for rollback,
    makes the views, and indexes the contracts whose events the plugin consumes.
    """
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations


@hookspec
def dcmx_handle_batch(batch: Batch, conn: Connection) -> None:
    """Apply one decoded batch of events with set-based writes on ``conn``.

    Called once per batch (once per block inside the unfinalized window), in block order,
    even when the batch holds none of the plugin's events (``batch.of`` is then empty). Raising
    rolls the whole batch back and stops the indexer with an error naming the plugin.
    """


@hookspec
def dcmx_api_router(service: Service) -> APIRouter | None:
    """Contribute HTTP routes to ``dcmx serve``: a FastAPI ``APIRouter`` whose paths start
    with ``/api/v1/`` (give it ``prefix="/api/v1"``); None for none (say, when a table it
    reads is missing: ``service.has_tables``).

    Called once per worker at start-up, only by ``dcmx serve``: import FastAPI inside the
    hook, so that ``dcmx run`` never pays for it. Read through ``service.cached(key, tables,
    fn)`` (the answer cached under the versions of the tables it reads, never staler than the
    database) or ``service.read(fn)``; parse addresses with ``service.address``; require a
    signed-in wallet with the dependency ``service.wallet``, a role with ``service.role``;
    send transactions through ``service.writes``. See :class:`dcmx_core.service.Service`.

    Pages for people go in a router of their own, at any other path, with templates and
    static files added to the service's site: ``dcmx_core.service.pages.site_of(service)``.
    """


@hookspec
def dcmx_metrics(conn: Connection) -> Iterable[Figure] | None:
    """Business figures for Prometheus: :class:`dcmx_core.figures.Figure` values the plugin
    reads from its tables on ``conn`` (read-only, one snapshot), at every scrape of
    ``dcmx run --metrics-port`` and of ``dcmx serve``'s ``/metrics``.

    Keep them to a few indexed reads: a scrape comes every few seconds. Exposed as gauges,
    named as given (start them with the plugin's own prefix).
    """
