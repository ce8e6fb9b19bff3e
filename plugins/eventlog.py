"""The platform's business events as log lines (setting ``event_log = "on"``): one JSON line
per minted NFT, reward claim paid, sale and legal acceptance, with what a support engineer
looks up: the token, the artist, the wallets, the amount, the transaction and its block.

Energy and fees are not in the indexed logs (a node's event logs do not carry them); they
are in the transaction's receipt, looked up by ``tx``, and in ``dcmx_tx_energy_used`` for the
transactions ``dcmx serve`` sent. Replayed events (``dcmx rebuild``) are not logged again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core import eventlog
from dcmx_generated import compliance_registry as cr
from dcmx_generated import music_nft as nft
from dcmx_generated import reward_vault as rv
from dcmx_generated import royalty_distributor as rd

# event class -> (line name, {field: event attribute})
LINES: dict[type, tuple[str, dict[str, str]]] = {
    nft.Minted: ("nft_minted", {"token_id": "token_id", "artist": "artist", "title": "title",
                                "owner": "to_", "edition": "edition",
                                "max_editions": "max_editions"}),
    rv.RewardsClaimed: ("reward_claimed", {"claim_id": "claim_id", "wallet": "user_",
                                           "amount": "amount"}),
    rd.SaleRecorded: ("nft_sold", {"sale_id": "sale_id", "token_id": "nft_token_id",
                                   "buyer": "buyer", "seller": "seller", "amount": "amount"}),
    cr.AcceptanceRecorded: ("terms_accepted", {"wallet": "user_", "doc_type": "doc_type",
                                               "version": "version"}),
}


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(name="eventlog", consumes=list(LINES))


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    if not eventlog.enabled():
        return
    for d in batch.of(*LINES):
        if not d.log.topics:
            continue  # replayed from the raw tables: logged when first indexed
        name, fields = LINES[type(d.event)]
        values: dict[str, Any] = {k: getattr(d.event, attr) for k, attr in fields.items()}
        for k in ("amount",):  # uint256: a JSON number would lose digits in most readers
            if k in values:
                values[k] = str(values[k])
        eventlog.record(
            conn, name, **values, contract=d.contract_address, tx="0x" + d.log.tx_hash.hex(),
            block=d.log.block_number, log_index=d.log.log_index, block_time=d.timestamp,
            final=batch.finalized,
        )
