"""Trace sinks: where records go. The in-memory sink is always there."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Protocol, runtime_checkable

from stratum.exceptions import ConfigurationError
from stratum.trace._records import FlowRecord, TraceRecord

__all__ = ("MemorySink", "TraceSink", "bad_path", "prepare_path")

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


def bad_path(sink: str, path: Path, problem: object) -> ConfigurationError:
    """The error for a sink whose file cannot be written."""
    return ConfigurationError(
        f"{sink}({str(path)!r}) cannot write its file: {problem}. Pass a path to a file in a folder "
        "you can write to (parent folders are created)"
    )


def prepare_path(sink: str, path: Path) -> None:
    """Create `path`'s parent folders and check the file can be opened for appending.

    Done when the sink is made, on the caller's thread: a bad path is a `ConfigurationError`
    naming it there, not a stream of lost records on the writer thread later.
    """
    try:
        if path.is_dir():
            raise IsADirectoryError("it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as exc:
        raise bad_path(sink, path, exc.strerror or exc) from exc
