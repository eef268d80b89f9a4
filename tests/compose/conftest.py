from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import stratum
import stratum.trace
from stratum.trace import MemorySink


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def store() -> Iterator[MemorySink]:
    """A fresh trace store per test."""
    with stratum.trace.capture() as fresh:
        yield fresh


@pytest.fixture(autouse=True)
def cache_file(tmp_path: Path) -> Iterator[Path]:
    """`cache="global"` writes to a per-test SQLite file, never to the working directory."""
    with stratum.cache_store(tmp_path / "cache.sqlite3") as path:
        yield path
