"""Fixtures every test package can use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._servers import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A loopback HTTP server that misbehaves on demand (see `tests/_servers/faults.py`)."""
    with FaultServer() as server:
        yield server
