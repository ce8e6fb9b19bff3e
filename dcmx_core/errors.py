"""Errors a user can cause. Each message says what was wrong and what to do next.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``; library users
catch :class:`DcmxError` (or a subclass) and never need to parse messages.
"""

from __future__ import annotations


class DcmxError(Exception):
    """Base of every error dcmx raises on purpose."""

    exit_code = 1


class ConfigError(DcmxError):
    """A bad configuration value, URL, flag or file."""

    exit_code = 2


class AddressError(ConfigError):
    """An address that is not valid for the chain profile (checksum, prefix, length)."""


class AbiError(DcmxError):
    """A malformed artifact or ABI entry."""

    exit_code = 2


class SourceError(DcmxError):
    """The chain node failed, timed out, or gave an answer that does not hold together."""

    exit_code = 3


class InconsistentAnswer(SourceError):
    """The node's answers do not hold together: a block fetched a moment ago has left its
    chain, a log's block hash disagrees with its header, a replica lags. Nothing of the step
    is stored; the indexer fetches the whole step again."""


class DeepForkError(DcmxError):
    """The chain reorganised deeper than the unfinalized window allows; nothing was changed."""

    exit_code = 4


class PluginError(DcmxError):
    """A plugin raised while handling a batch; the batch was rolled back."""

    exit_code = 5


class StoreError(DcmxError):
    """The database refused, was locked by another indexer, or its schema does not match."""

    exit_code = 6


class DecodeError(DcmxError, ValueError):
    """A log whose topics or data do not fit the event's ABI layout."""

    exit_code = 3


class EncodeError(DcmxError, ValueError):
    """Values that do not fit the ABI types they are to be encoded as (an event's ``encode()``,
    a test chain's log)."""

    exit_code = 2


class MissingExtraError(ConfigError, ImportError):
    """An optional part of dcmx is used without the ``pip install`` extra that brings it
    (:mod:`dcmx_core.extras`); the message names the extra."""


class TransactionError(DcmxError):
    """A transaction was refused by the node, failed on chain (revert, out of energy), or was not
    confirmed in time. ``txid`` names it when it has one; nothing here ever holds a key."""

    exit_code = 7

    def __init__(self, message: str, *, txid: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.txid = txid
        self.reason = reason
