from __future__ import annotations

from collections.abc import Iterator

import pytest

import stratum.trace
from stratum.trace import MemorySink


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def store() -> Iterator[MemorySink]:
    with stratum.trace.capture() as fresh:
        yield fresh
