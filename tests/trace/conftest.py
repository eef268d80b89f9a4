"""Fixtures of the trace tests (the flows they run live in `trace_flows.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stratum
from stratum.trace import MemorySink


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _fresh_store() -> Iterator[MemorySink]:
    with stratum.trace.capture() as store:
        yield store
