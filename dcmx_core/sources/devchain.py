"""A chain source over the in-process :class:`~dcmx_core.devchain.Devchain`.

It asks the devchain the same questions a JSON-RPC source asks a node (``eth_blockNumber``,
``eth_getBlockByNumber``, ``eth_getLogs``), so the indexer sees the devchain exactly as it would
see a real chain, reorganisations included.

Logs are read from py-evm's receipts, block by block, rather than through ``eth_getLogs``:
eth-tester answers that by scanning back from the head for every receipt (quadratic in the
chain's length), and it numbers ``logIndex`` within each transaction, while the rest of dcmx,
like Ethereum and TRON nodes, means the position within the block.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..chain import Header, Log, check_range
from ..devchain import Devchain
from ..errors import ConfigError, SourceError
from ..extras import needs

try:
    from web3.exceptions import BlockNotFound
except ModuleNotFoundError as exc:  # installed without the devchain extra
    raise needs("devchain", exc) from None


class DevchainSource:
    """A :class:`~dcmx_core.chain.Source` reading a :class:`Devchain`.

    ``confirmations`` is how many blocks below the head count as final; 0 (the default) makes
    the head final, which suits tests that do not stage reorganisations.
    """

    in_process = True  # answers are computed here, not waited for (see chain.Source)

    def __init__(self, chain: Devchain, *, confirmations: int = 0) -> None:
        if confirmations < 0:
            raise ConfigError(f"confirmations must be >= 0, got {confirmations}")
        self.chain = chain
        self.confirmations = confirmations

    def __repr__(self) -> str:
        return f"DevchainSource(confirmations={self.confirmations})"

    def head(self) -> int:
        return self.chain.w3.eth.block_number

    def finalized(self) -> int:
        return max(0, self.head() - self.confirmations)

    def headers(self, start: int, end: int) -> list[Header]:
        check_range(start, end)
        out = []
        for number in range(start, end + 1):
            try:
                block = self.chain.w3.eth.get_block(number)
            except BlockNotFound:
                raise SourceError(
                    f"the devchain has no block {number} (head is {self.head()}): it was "
                    "reverted or not mined yet"
                ) from None
            out.append(
                Header(
                    number=block["number"],
                    hash=bytes(block["hash"]),
                    parent_hash=bytes(block["parentHash"]),
                    timestamp=block["timestamp"],
                )
            )
        return out

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        check_range(start, end)
        if not addresses or start > end or (topics0 is not None and not topics0):
            return []
        head = self.head()
        if end > head:
            raise SourceError(
                f"logs asked up to block {end} but the devchain head is {head}: it was "
                "reverted or not mined yet"
            )
        # Read each block's receipts from py-evm once. Going through eth_getLogs instead makes
        # eth-tester look every receipt up by transaction hash, scanning back from the head:
        # quadratic in the chain's length (minutes for the demo's ~1,300 blocks).
        evm = self.chain.tester.backend.chain
        wanted = {bytes(a) for a in addresses}
        topics = None if topics0 is None else {bytes(t) for t in topics0}
        out = []
        for number in range(start, end + 1):
            block = evm.get_canonical_block_by_number(number)
            position = 0  # within the block, over every log, filtered out or not
            receipts = block.get_receipts(evm.chaindb)
            for i, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
                for lg in receipt.logs:
                    raw_topics = tuple(t.to_bytes(32, "big") for t in lg.topics)
                    if lg.address in wanted and (
                        topics is None or (raw_topics and raw_topics[0] in topics)
                    ):
                        out.append(Log(number, block.hash, tx.hash, i, position, lg.address,
                                       raw_topics, lg.data))
                    position += 1
        return out

    def close(self) -> None:
        """Nothing to release: the devchain belongs to whoever created it."""
