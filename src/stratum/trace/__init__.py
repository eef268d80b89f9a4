"""Trace records of every call and flow, and where they go.

`records()`, `flows()` and `clear()` read the in-memory store; `capture()` scopes a fresh one.
"""

from __future__ import annotations

from stratum._budget import BudgetEvent
from stratum.trace._emit import capture, clear, emit, flows, records
from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord
from stratum.trace._sinks import MemorySink, TraceSink

__all__ = (
    "AttemptRecord",
    "BudgetEvent",
    "FlowRecord",
    "MemorySink",
    "TraceRecord",
    "TraceSink",
    "capture",
    "clear",
    "emit",
    "flows",
    "records",
)

for _obj in (AttemptRecord, FlowRecord, MemorySink, TraceRecord, TraceSink):
    _obj.__module__ = __name__
