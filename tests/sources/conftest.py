from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from httpstub import Handler, StubServer


@pytest.fixture
def stub_server() -> Iterator[Callable[[Handler], StubServer]]:
    """Start loopback HTTP servers answering from a handler; all are stopped afterwards."""
    servers: list[StubServer] = []

    def start(handler: Handler) -> StubServer:
        server = StubServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def tron_reference(reference: Path) -> Path:
    return reference / "tron"
