"""One devchain per test module, deployed once; every test runs on a snapshot of it.

Each module defines a module-scoped ``deployment`` fixture. Taking the snapshot after it keeps
the deployment (it happened before the snapshot) while every test's own transactions are undone.
"""

from __future__ import annotations

import pytest

from dcmx_plugins.devchain import Devchain


@pytest.fixture(scope="module")
def chain() -> Devchain:
    return Devchain()


@pytest.fixture(autouse=True)
def _isolated(chain: Devchain, deployment):
    snapshot = chain.snapshot()
    yield
    chain.revert(snapshot)
