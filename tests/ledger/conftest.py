from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import stratum.trace
from stratum.trace import MemorySink
from tests.ledger._redis_server import redis_server, redis_server_binary


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the whole session (skips only when the binary is missing here).

    CI sets STRATUM_REQUIRE_REDIS=1 (see `.ci/run`, which installs redis-server), where a
    missing binary fails instead of skipping.
    """
    if redis_server_binary() is None:
        if os.environ.get("STRATUM_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (STRATUM_REQUIRE_REDIS=1): apt-get install -y redis-server")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server); CI installs it")
    with redis_server() as url:
        yield url


@pytest.fixture
def key() -> str:
    """A fresh envelope name per test."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def store() -> Iterator[MemorySink]:
    with stratum.trace.capture() as fresh:
        yield fresh


@pytest.fixture
def anyio_backend() -> str:
    """redis.asyncio runs on asyncio only."""
    return "asyncio"
