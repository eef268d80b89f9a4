"""Pricing tests run offline: every socket connect fails, on asyncio and trio."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from stratum import trace


class NetworkTouched(AssertionError):
    """A pricing test tried to open a connection."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Block every outgoing connection: price data and encodings must come from installed files."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkTouched(f"network touched: connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # pyright: ignore
    yield


@pytest.fixture(autouse=True)
def clean_trace() -> Iterator[None]:
    trace.clear()
    yield
    trace.clear()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param
