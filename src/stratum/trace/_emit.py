"""Route records to the current store, the configured sinks and the sinks of this context."""

from __future__ import annotations

import functools
from collections.abc import Generator
from contextlib import contextmanager

from stratum._runtime import context as _context
from stratum._runtime.config import current_settings
from stratum.trace._records import FlowRecord, TraceRecord
from stratum.trace._sinks import MemorySink, TraceSink

__all__ = ("capture", "clear", "emit", "flows", "memory_store", "records", "sinks")


@functools.cache
def _process_store() -> MemorySink:
    """The process's in-memory store (bounded), used where no scope set one."""
    return MemorySink()


def memory_store() -> MemorySink:
    """The in-memory store of the current context."""
    return _context.current_trace_store() or _process_store()


def emit(record: TraceRecord | FlowRecord) -> None:
    """Send `record` to the in-memory store, every configured sink and every sink of this context.

    A sink that raises is skipped: tracing never breaks a call.
    """
    memory_store().emit(record)
    configured = current_settings().trace_sinks
    scoped = _context.current_trace_sinks()
    for sink in (*configured, *scoped) if scoped else configured:
        try:
            sink.emit(record)
        except Exception:  # noqa: BLE001 - a sink never breaks a call
            continue


@contextmanager
def sinks(*extra: TraceSink) -> Generator[tuple[TraceSink, ...]]:
    """Also send the records made inside the block (a flow run, a request…) to `extra`.

    They add to the in-memory store and to `configure(trace_sinks=...)`; nested blocks add up.
    The sinks are not closed on exit (they may be shared); close them when you are done.

    Example:
        ```python
        with stratum.trace.sinks(JsonlSink("runs/triage.jsonl")):
            await triage(tickets)
        ```
    """
    current = _context.current_trace_sinks()
    added = tuple(s for s in extra if s not in current)
    with _context.sending_traces((*current, *added)) as now:
        yield now


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
