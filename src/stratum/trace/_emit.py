"""Route records to the current store and the configured sinks."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from stratum import _context
from stratum._config import current_settings
from stratum.trace._records import FlowRecord, TraceRecord
from stratum.trace._sinks import MemorySink

__all__ = ("capture", "clear", "emit", "flows", "memory_store", "records")


def memory_store() -> MemorySink:
    """The in-memory store of the current context."""
    return _context.current_trace_store() or current_settings().memory


def emit(record: TraceRecord | FlowRecord) -> None:
    """Send `record` to the in-memory store and to every configured sink."""
    memory_store().emit(record)
    for sink in current_settings().trace_sinks:
        try:
            sink.emit(record)
        except Exception:  # noqa: BLE001 - a sink never breaks a call
            continue


def records() -> list[TraceRecord]:
    """Every `@infer` (and in-flow `@compute`) record kept, oldest first."""
    return memory_store().records()


def flows() -> list[FlowRecord]:
    """Every flow record kept, oldest first."""
    return memory_store().flows()


def clear() -> None:
    """Forget every record in the current in-memory store."""
    memory_store().clear()


@contextmanager
def capture(maxlen: int = 100_000) -> Generator[MemorySink, None, None]:
    """Collect the records made inside the block in a fresh store (tests, one request…).

    Example:
        ```python
        with stratum.trace.capture() as store:
            await classify(text="great")
        assert store.records()[0].status == "ok"
        ```
    """
    store = MemorySink(maxlen)
    with _context.storing_traces(store):
        yield store
