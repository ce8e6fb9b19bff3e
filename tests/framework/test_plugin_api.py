"""The plugin API catches mistakes at start-up and orders plugins as declared."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import Batch, ConfigError, Declaration, PluginError, PluginHost, hookimpl
from dcmx_generated import dcmx_token


def _plugin(name: str, calls: list[str] | None = None, **declared) -> SimpleNamespace:
    def dcmx_declare() -> Declaration:
        return Declaration(name=name, consumes=[dcmx_token.Transfer], **declared)

    def dcmx_handle_batch(batch: Batch, conn: sa.Connection) -> None:
        if calls is not None:
            calls.append(name)

    return SimpleNamespace(
        dcmx_declare=hookimpl(dcmx_declare), dcmx_handle_batch=hookimpl(dcmx_handle_batch)
    )


def test_a_misspelt_hook_stops_the_start_and_says_which():
    plugin = _plugin("typo")
    plugin.dcmx_handle_batchs = plugin.dcmx_handle_batch
    with pytest.raises(PluginError, match="dcmx_handle_batchs.*did you mean dcmx_handle_batch"):
        PluginHost([plugin])


def test_a_misspelt_hook_without_the_marker_is_caught_too():
    plugin = _plugin("typo")
    plugin.dcmx_declar = lambda: None  # not marked: pluggy alone would ignore it silently
    with pytest.raises(PluginError, match="dcmx_declar.*did you mean dcmx_declare"):
        PluginHost([plugin])


def test_a_hook_with_an_argument_the_spec_lacks_is_refused():
    plugin = _plugin("odd")

    @hookimpl
    def dcmx_handle_batch(batch, conn, extra):
        pass

    plugin.dcmx_handle_batch = dcmx_handle_batch
    with pytest.raises(PluginError, match="plugin from registered.*extra"):
        PluginHost([plugin])


def test_plugins_run_after_those_they_name():
    calls: list[str] = []
    host = PluginHost([
        _plugin("b", calls, after=("c",)),
        _plugin("a", calls),
        _plugin("c", calls, after=("missing-is-fine",)),
    ])
    assert [p.declaration.name for p in host.plugins] == ["a", "c", "b"]


def test_an_order_cycle_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"cycle \((a -> b -> a|b -> a -> b)\)"):
        PluginHost([_plugin("a", after=("b",)), _plugin("b", after=("a",)), _plugin("z")])


def test_batch_of_keeps_the_event_type():
    transfer = dcmx_token.Transfer(from_="T1", to_="T2", value=5)
    log = dcmx_core.Log(1, b"\1" * 32, b"\2" * 32, 0, 0, b"\3" * 20, (), b"")
    batch = Batch(1, 1, [dcmx_core.Decoded(transfer, log, 0, "T3")], True)
    (only,) = batch.of(dcmx_token.Transfer)
    assert only.event.value == 5 and only.contract_address == "T3"
    assert batch.of(dcmx_token.Approval) == []
