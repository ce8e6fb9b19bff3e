"""The DCMX platform's pages in ``dcmx serve``: marketplace, NFT, artist, wallet dashboard
(the reward dashboard), trending; beside the core's Overview and wallet sign-in.

A plugin with no tables: its ``dcmx_api_router`` hook adds the pages (:mod:`.routes`) to the
service's site. jinja2 and FastAPI are imported inside the hook only, so ``dcmx run``, which
loads every plugin, never loads them.
"""

from __future__ import annotations

from typing import Any

import dcmx_core

#: The tables (and views) the pages read; without them no page is mounted.
NEEDS = ("nft_index", "token_balances", "transaction_index", "reward_claims_index",
         "royalty_sales", "royalty_splits", "royalty_credits", "royalty_withdrawals",
         "royalty_balances", "compliance_acceptances", "deletion_requests", "kyc_status",
         "user_profiles", "platform_roles", "music_nft__transfer")


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(name="pages")


@dcmx_core.hookimpl
def dcmx_api_router(service: Any) -> Any:
    if not service.has_tables(NEEDS):
        return None
    from .routes import page_routes

    return page_routes(service)
