"""Trace sinks: where records go. The in-memory sink is always there."""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol, runtime_checkable

from stratum.trace._records import FlowRecord, TraceRecord

__all__ = ("MemorySink", "TraceSink")

DEFAULT_MEMORY_RECORDS = 10_000
"""How many records the default in-memory sink keeps (oldest dropped first)."""


@runtime_checkable
class TraceSink(Protocol):
    """Receives every record. `emit` must not block or raise; `flush`/`close` may do I/O."""

    def emit(self, record: TraceRecord | FlowRecord, /) -> None:
        """Take one record."""
        ...

    def flush(self) -> None:
        """Write out what is buffered."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...


class MemorySink:
    """A bounded in-memory sink (the default store behind `stratum.trace.records()`)."""

    def __init__(self, maxlen: int = DEFAULT_MEMORY_RECORDS) -> None:
        self._records: deque[TraceRecord] = deque(maxlen=maxlen)
        self._flows: deque[FlowRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0

    def emit(self, record: TraceRecord | FlowRecord, /) -> None:
        """Keep `record`, dropping the oldest when full."""
        with self._lock:
            target = self._flows if isinstance(record, FlowRecord) else self._records
            if target.maxlen is not None and len(target) == target.maxlen:
                self.dropped += 1
            target.append(record)  # pyright: ignore[reportArgumentType]

    def records(self) -> list[TraceRecord]:
        """Every call record kept, oldest first."""
        with self._lock:
            return list(self._records)

    def flows(self) -> list[FlowRecord]:
        """Every flow record kept, oldest first."""
        with self._lock:
            return list(self._flows)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
            self._flows.clear()
            self.dropped = 0

    def flush(self) -> None:
        """Nothing to write."""

    def close(self) -> None:
        """Nothing to release."""
