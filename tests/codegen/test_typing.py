"""A type checker sees the typed surface of the declared functions (mypy on user code), and
finds nothing wrong in the generated modules themselves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USER_CODE = """
from dcmx_core.transports import Transport
from dcmx_generated.compliance_registry import ComplianceRegistry
from dcmx_generated.dcmx_token import DCMXToken
from dcmx_generated.royalty_distributor import RoyaltyDistributor


def use(t: Transport) -> None:
    token = DCMXToken("T", t)
    reveal_type(token.balance_of("T"))
    reveal_type(token.transfer("T", 1))
    reveal_type(DCMXToken.transfer.encode)
    reveal_type(DCMXToken.transfer.decode_output(b""))
    reveal_type(ComplianceRegistry("T", t).get_audit_trail("T"))
    reveal_type(RoyaltyDistributor("T", t).record_sale)
    token.balance_of(1.5)
    token.transfer("T")
    RoyaltyDistributor("T", t).record_sale(1, "T", call_value="1")
"""

EXPECTED = [
    (10, "note", 'Revealed type is "int"'),
    (11, "note", 'Revealed type is "Any"'),
    (12, "note", 'Revealed type is "def (to_: str | bytes, value: int) -> bytes"'),
    (13, "note", 'Revealed type is "bool"'),
    (14, "note", 'Revealed type is "tuple[dcmx_generated.compliance_registry.AuditEntry, ...]"'),
    (15, "note", 'Revealed type is "dcmx_core.abi_functions.Bound[[nft_token_id: int, '
                 'buyer: str | bytes, *, call_value: int =], Any]"'),
    (16, "error", 'Argument 1 to "__call__" of "Bound" has incompatible type "float"; '
                  'expected "str | bytes"  [arg-type]'),
    (17, "error", 'Missing positional argument "value" in call to "__call__" of "Bound"  '
                  "[call-arg]"),
    (18, "error", 'Argument "call_value" to "__call__" of "Bound" has incompatible type "str"; '
                  'expected "int"  [arg-type]'),
]


def test_mypy_sees_the_declared_functions(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    # the packages under their import names, as an installed dcmx gives them to a type checker
    (tmp_path / "dcmx_core").symlink_to(ROOT / "dcmx_core")
    (tmp_path / "dcmx_generated").symlink_to(ROOT / "generated")
    (tmp_path / "user.py").write_text(USER_CODE)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--show-error-codes",
         "--no-error-summary", "--hide-error-context", "--cache-dir", str(tmp_path / ".cache"),
         "--python-version", "3.11", "user.py", "dcmx_generated"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1 and not result.stderr, result.stderr  # 1: the errors below
    got = []
    for line in result.stdout.splitlines():
        # anything about a generated module (or a crash) fails the match
        m = re.match(r"user\.py:(\d+): (note|error): (.*)$", line)
        assert m, line
        got.append((int(m[1]), m[2], m[3]))
    assert got == EXPECTED
