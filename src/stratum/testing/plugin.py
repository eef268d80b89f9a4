"""The Stratum pytest plugin (auto-loaded through the `pytest11` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stratum.trace
from stratum.trace import TraceRecord


@pytest.fixture
def stratum_records() -> Iterator[list[TraceRecord]]:
    """The live list of trace records made during the test."""
    with stratum.trace.capture() as store:
        yield store.records()
