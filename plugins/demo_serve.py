"""``dcmx demo --serve``: the demo's devchain, new simulated activity, the indexer following
it and the API (``dcmx serve``), all in this process, until Ctrl-C.

The devchain is one in-process EVM that is not safe to call from two threads at once: its
web3 provider is wrapped in a lock that the simulator, the indexer and the API's writes
share. The API writes with the devchain's own unlocked admin account (the platform's key
there); a newcomer signs in as one of the simulator's artist wallets (they hold
MINTER_ROLE), whose keys are printed.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

import click

__all__ = ["serve_demo"]


def serve_demo(result: dict[str, Any], settings: Any, port: int) -> None:
    import uvicorn

    from dcmx_core.addresses import to_tron
    from dcmx_core.service import create_app
    from dcmx_core.service.writes import EvmWrites

    chain, sim, indexer = result["chain"], result["sim"], result["indexer"]
    lock = threading.RLock()
    provider = chain.w3.provider
    plain = provider.make_request

    def locked(method: Any, params: Any) -> Any:
        with lock:
            return plain(method, params)

    provider.make_request = locked
    stop = threading.Event()

    def activity() -> None:  # a round of platform activity every few seconds, indexed
        while not stop.wait(4.0):
            with lock:
                sim.run(1)
            indexer.run()

    threading.Thread(target=activity, name="dcmx-demo-activity", daemon=True).start()
    writes = EvmWrites(chain.w3, dict(result["addresses"]), "tron")
    window = indexer.window

    def head() -> tuple[int, int]:
        now = chain.head
        return now, max(0, now - window)

    app = create_app(settings, secret=secrets.token_bytes(32), plugins=indexer.plugins,
                     writes=writes, head=head)
    artist = sim.accounts[0]
    echo = click.echo
    echo("")
    echo(f"pages       http://127.0.0.1:{port}/  (marketplace, overview, wallets; sign in "
         "with a browser wallet)")
    echo(f"API         http://127.0.0.1:{port}/docs  (new activity every 4 s; Ctrl-C stops)")
    wallet = to_tron(bytes.fromhex(artist.address[2:]))
    echo(f"sign in as an artist (holds MINTER_ROLE): wallet {wallet}")
    echo(f"            its key (a throwaway devchain key): {artist.key.hex()}")
    echo("            POST /api/v1/auth/nonce, sign the message (EIP-191), POST "
         "/api/v1/auth/login; then /api/v1/nft/mint, /api/v1/reward/claim, /api/legal/accept")
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        stop.set()
