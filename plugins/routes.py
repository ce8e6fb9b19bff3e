"""The DCMX platform's HTTP API, contributed to ``dcmx serve`` like any plugin's routes.

A plugin with no tables of its own: its ``dcmx_api_router`` hook mounts the platform's reads
(:mod:`.api_reads`, over :mod:`.queries`) and write flows (:mod:`.api_writes`). FastAPI is
imported inside the hook only, so ``dcmx run`` (which loads every plugin) never pays for it.
"""

from __future__ import annotations

from typing import Any

import dcmx_core

#: The tables (and views) the platform's reads need; without them no routes are mounted.
NEEDS = ("nft_index", "token_balances", "transaction_index", "reward_claims_index",
         "compliance_index", "compliance_acceptances", "user_profiles", "analytics",
         "royalty_sales", "platform_roles")


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(name="api")


@dcmx_core.hookimpl
def dcmx_api_router(service: Any) -> Any:
    if not service.has_tables(NEEDS):
        return None
    from fastapi import APIRouter

    from .api_reads import read_routes
    from .api_writes import write_routes

    router = APIRouter(prefix="/api/v1")
    read_routes(router, service)
    legal = APIRouter(prefix="/api/legal")
    if service.writes is not None:
        write_routes(router, legal, service)
    outer = APIRouter()
    outer.include_router(router)
    outer.include_router(legal)
    return outer
