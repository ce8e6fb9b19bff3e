"""A chain source over the in-process :class:`~dcmx_core.devchain.Devchain`.

It asks the devchain the same questions a JSON-RPC source asks a node (``eth_blockNumber``,
``eth_getBlockByNumber``, ``eth_getLogs``), so the indexer sees the devchain exactly as it would
see a real chain, reorganisations included.

One difference is papered over here: eth-tester numbers ``logIndex`` within each transaction
(every transaction's logs start at 0), while the rest of dcmx, like Ethereum and TRON nodes,
means the position within the block. :meth:`DevchainSource.logs` recomputes that position from
all the logs of the block, so it stays right when a filter hides other contracts' logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import BlockNotFound

from ..chain import Header, Log
from ..devchain import Devchain
from ..errors import ConfigError, SourceError


class DevchainSource:
    """A :class:`~dcmx_core.chain.Source` reading a :class:`Devchain`.

    ``confirmations`` is how many blocks below the head count as final; 0 (the default) makes
    the head final, which suits tests that do not stage reorganisations.
    """

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
        _check_range(start, end)
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
        _check_range(start, end)
        if not addresses or start > end or (topics0 is not None and not topics0):
            return []
        head = self.head()
        if end > head:
            raise SourceError(
                f"logs asked up to block {end} but the devchain head is {head}: it was "
                "reverted or not mined yet"
            )
        flt: dict[str, Any] = {
            "fromBlock": start,
            "toBlock": end,
            "address": [_checksum(a) for a in sorted({bytes(a) for a in addresses})],
        }
        if topics0 is not None:
            flt["topics"] = [["0x" + bytes(t).hex() for t in sorted({bytes(t) for t in topics0})]]
        matched = self.chain.w3.eth.get_logs(flt)
        if not matched:
            return []
        # Positions within the block count every log of the block, filtered out or not.
        first = min(raw["blockNumber"] for raw in matched)
        last = max(raw["blockNumber"] for raw in matched)
        everything = self.chain.w3.eth.get_logs({"fromBlock": first, "toBlock": last})
        position = _block_positions(everything)
        out = [
            Log(
                block_number=raw["blockNumber"],
                block_hash=bytes(raw["blockHash"]),
                tx_hash=bytes(raw["transactionHash"]),
                tx_index=raw["transactionIndex"],
                log_index=position[_key(raw)],
                address=bytes.fromhex(raw["address"][2:]),
                topics=tuple(bytes(t) for t in raw["topics"]),
                data=bytes(raw["data"]),
            )
            for raw in matched
        ]
        out.sort(key=lambda log: (log.block_number, log.log_index))
        return out

    def close(self) -> None:
        """Nothing to release: the devchain belongs to whoever created it."""


def _key(raw: Any) -> tuple[int, int, int]:
    return (raw["blockNumber"], raw["transactionIndex"], raw["logIndex"])


def _block_positions(raw_logs: Iterable[Any]) -> dict[tuple[int, int, int], int]:
    """Map (block, tx index, eth-tester log index) to the log's position in its block.

    Sorting by (tx index, log index) orders a block's logs as they were emitted whether the
    node numbers them per transaction (eth-tester) or per block (everyone else).
    """
    position: dict[tuple[int, int, int], int] = {}
    block, n = -1, 0
    for key in sorted(_key(raw) for raw in raw_logs):
        if key[0] != block:
            block, n = key[0], 0
        position[key] = n
        n += 1
    return position


def _checksum(raw20: bytes) -> str:
    if len(raw20) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(raw20)}: 0x{raw20.hex()}")
    return Web3.to_checksum_address(raw20)


def _check_range(start: int, end: int) -> None:
    if start < 0:
        raise ValueError(f"block range {start}..{end} has a negative bound")
