"""Each setting is declared once; the example config and `dcmx run --help` follow it."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.settings import declared, load, settings_table

EXAMPLE = Path(__file__).resolve().parents[2] / "dcmx.example.toml"


def test_the_example_config_names_every_setting_and_nothing_else():
    text = EXAMPLE.read_text()
    named = set(re.findall(r"^#? ?([a-z_]+) = ", text, re.M)) - {"module", "address",
                                                                   "DCMXToken"}
    keys = {key for key, *_ in settings_table() if not declared(key).secret}
    named |= {"contracts"} if "contracts: per network" in text else set()
    assert named == keys


def test_the_example_config_loads(monkeypatch):
    monkeypatch.delenv("DCMX_NETWORK", raising=False)
    s = load(str(EXAMPLE), env={})
    assert s.network == "nile" and [c.name for c in s.contracts] == ["DCMXToken"]


def test_each_command_help_shows_every_flag_with_its_variable():
    helps = {
        name: CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
        for name in ("run", "serve")
    }
    group = CliRunner().invoke(cli, ["--help"], terminal_width=200).output
    for key, env, flag, _doc in settings_table():
        if flag is None:
            continue
        if key in ("log_format", "log_level"):  # the group's own options, for every command
            assert flag in group, key
        else:
            out = helps[declared(key).command]
            assert flag in out and env in out, key
