"""dcmx's built-in plugins, one module per DCMX contract plus the cross-contract ``platform``.

They are installed through the ``dcmx.plugins`` entry-point group like any third party's.
"""

BUILTIN = ("token", "nft", "compliance", "vault", "royalty", "platform")

__all__ = ["BUILTIN"]
