"""dcmx's built-in plugins, one module per DCMX contract plus the cross-contract ``platform``.

They are installed through the ``dcmx.plugins`` entry-point group like any third party's.
"""

BUILTIN = ("token", "nft", "compliance", "vault", "royalty", "platform", "roles", "api")

__all__ = ["BUILTIN"]


def platform_contracts(addresses: dict[str, bytes]) -> list:
    """The indexer's contract list for the DCMX platform: contract name -> deployed address."""
    from dcmx_core import Contract
    from dcmx_generated import CONTRACTS

    return [Contract(name, CONTRACTS[name], (address,)) for name, address in addresses.items()]


__all__ += ["platform_contracts"]
