"""``dcmx rollback`` and ``dcmx rebuild``: undo recent blocks, rebuild plugin tables.

Both take the database's writer lock, as ``dcmx run`` does: beside a running indexer they
refuse to start instead of interleaving their writes with its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import click
import sqlalchemy as sa

from ..errors import ConfigError
from .common import open_existing, tracked
from .group import Context
from .options import setting_options

__all__ = ["rebuild", "rollback", "rollback_database"]

log = logging.getLogger("dcmx.cli")


@click.command()
@click.option("--to-block", "to_block", type=int, required=True,
              help="Keep blocks up to N, undo everything after it.")
@setting_options("database_url")
@click.pass_obj
def rollback(obj: Context, /, to_block: int, **flags: Any) -> None:
    """Undo everything indexed after block N (within the unfinalized window)."""
    settings = obj.settings(**flags)
    engine = open_existing(settings.database_url)
    cursor, undone = rollback_database(engine, to_block)
    click.echo(
        f"rolled back blocks {to_block + 1}..{cursor} ({undone} writes undone); the cursor is "
        f"at block {to_block}, the next run resumes at {to_block + 1}"
    )


def rollback_database(engine: sa.Engine, to_block: int) -> tuple[int, int]:
    """Roll every tracked table back to block ``to_block``; (old cursor, writes undone)."""
    from ..store import Store, framework

    framework.create_all(engine)  # dcmx_versions, in a database an older dcmx made
    meta = sa.MetaData()
    inspector = sa.inspect(engine)
    tables = [  # generated columns (an amount's <column>_num) are no part of the journal
        (sa.Table(name, meta, autoload_with=engine, include_columns=[
            c["name"] for c in inspector.get_columns(name) if "computed" not in c
        ]), owner)
        for name, owner in tracked(engine)
    ]
    store = Store(engine, tables)
    with store.lock(), store.transaction() as conn:
        cursor = Store.cursor(conn)
        if cursor is None:
            raise ConfigError("nothing is indexed in this database yet; nothing to roll back")
        if to_block >= cursor.block_number:
            raise ConfigError(
                f"block {to_block} is not below the cursor (block {cursor.block_number}); "
                "nothing to undo"
            )
        stored = Store.recent_blocks(conn)
        if to_block not in stored:
            span = f"blocks {min(stored)}..{max(stored)}" if stored else "no blocks"
            raise ConfigError(
                f"block {to_block} is outside the unfinalized window the journal covers ({span}); "
                "finalized blocks cannot be rolled back: reindex into a new database instead"
            )
        undone = store.rollback_to(conn, to_block, stored[to_block])
    log.warning(
        "rolled back to block %d (%d writes undone)", to_block, undone,
        extra={"to_block": to_block, "from_block": cursor.block_number, "undone": undone},
    )
    return cursor.block_number, undone


@click.command()
@setting_options("database_url", "network", "profile", "contracts", "plugins")
@click.pass_obj
def rebuild(obj: Context, /, **flags: Any) -> None:
    """Drop every plugin table and rebuild it from the raw event tables (no chain access)."""
    from .. import Indexer, PluginHost
    from ..contracts import resolve
    from ..sources.memory import MemoryChain

    settings = obj.settings(**flags)
    engine = open_existing(settings.database_url)
    contracts = resolve(settings.contracts or _stored_contracts(engine, settings.profile))
    indexer = Indexer(
        MemoryChain(),  # an empty chain: rebuild reads the database only
        engine,
        contracts,
        PluginHost(entry_points=True, only=settings.plugins),
        profile=settings.profile,
    )
    t0 = time.perf_counter()
    replayed = indexer.rebuild()
    click.echo(
        f"rebuilt the tables of {len(indexer.plugins.plugins)} plugin(s) from {replayed} events "
        f"in {time.perf_counter() - t0:.1f} s"
    )


def _stored_contracts(engine: sa.Engine, profile: str) -> list[Any]:
    """The contracts whose raw tables this database holds, as installed packages provide them,
    at the addresses it records (:mod:`~dcmx_core.store.identity`), else those stored with
    their events (rebuilding never asks the chain, so a contract of an older database
    without events gets a placeholder address)."""
    from ..addresses import parse
    from ..contracts import ContractSpec, installed
    from ..events_view import NAME
    from ..store import Store, framework

    provided = installed()
    owners = sorted({owner for _, owner in tracked(engine) if owner in provided})
    view = sa.table(NAME, sa.column("contract"), sa.column("contract_address"))
    framework.create_all(engine)  # dcmx_identity, in a database an older dcmx made
    with engine.connect() as conn:
        recorded = Store.recorded_contracts(conn)
        rows = conn.execute(sa.select(view.c.contract, view.c.contract_address).distinct()).all()
    found: dict[str, list[bytes]] = {}
    for name, address in rows:
        found.setdefault(name, []).append(parse(address))
    return [
        ContractSpec(name, None, tuple(
            sorted(recorded.get(name, ())) or found.get(name) or [b"\xff" * 19 + bytes([i])]
        ))
        for i, name in enumerate(owners)
    ]
