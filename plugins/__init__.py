"""The DCMX music platform: dcmx's first application, built on the framework as a third
party's package would be.

It plugs in through entry-point groups only (``pyproject.toml``): its five contracts
(``dcmx.contracts``: name -> generated module), its handler plugins, one module per contract
plus the cross-contract ``platform`` and ``roles``, the ``api`` routes and the ``pages``
(``dcmx.plugins``), and its commands ``demo`` and ``simulate`` (``dcmx.commands``). Beside
them: the typed reads (:mod:`.queries`), the simulator, the platform's deployment on a
devchain and the demo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dcmx_core import Contract

BUILTIN = ("token", "nft", "compliance", "vault", "royalty", "platform", "eventlog", "roles", "api",
           "pages")

__all__ = ["BUILTIN", "platform_contracts"]


def platform_contracts(addresses: dict[str, bytes]) -> list[Contract]:
    """The indexer's contract list for the DCMX platform: contract name -> deployed address."""
    from dcmx_core import Contract
    from dcmx_generated import CONTRACTS

    return [Contract(name, CONTRACTS[name], (address,)) for name, address in addresses.items()]

