"""Without the devchain extra, what needs it says which extra to install, in one line."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.errors import ConfigError, MissingExtraError
from dcmx_core.extras import missing_extra

HINT = "pip install 'dcmx[devchain]'"


@pytest.fixture
def no_devchain(monkeypatch):
    """web3, eth-tester and py-evm not installed, as after a plain `pip install dcmx`."""
    for name in list(sys.modules):
        top = name.split(".")[0]
        if top in ("web3", "eth_tester", "eth") or name.endswith((".devchain", ".simulator")):
            monkeypatch.delitem(sys.modules, name)
    for top in ("web3", "eth_tester", "eth"):
        monkeypatch.setitem(sys.modules, top, None)  # importing it raises ModuleNotFoundError


def test_importing_the_devchain_names_the_extra(no_devchain):
    with pytest.raises(MissingExtraError, match=r"embedded devchain .* pip install 'dcmx\[dev"):
        import dcmx_core.devchain
    with pytest.raises(ImportError):  # still an ImportError for code that checks for one
        import dcmx_core.sources.devchain  # noqa: F401
    assert issubclass(MissingExtraError, ConfigError)


@pytest.mark.parametrize("command", [["demo", "--db", "{tmp}/d.db"], ["simulate", "--rpc", "x"]])
def test_commands_that_need_it_say_so(no_devchain, tmp_path, command):
    args = [a.format(tmp=tmp_path) for a in command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.strip().endswith(HINT)
    assert result.output.count("\n") == 1


def test_other_import_errors_are_left_alone():
    assert missing_extra(ModuleNotFoundError("No module named 'x'", name="x")) is None
    assert missing_extra(ValueError("web3")) is None
    assert HINT in str(missing_extra(ModuleNotFoundError("", name="web3.exceptions")))
