"""Trace records of every call and flow, where they go, and how to read them back.

`records()`, `flows()` and `clear()` read the in-memory store; `capture()` scopes a fresh one.
Durable sinks (`JsonlSink`, `SqliteSink`, `OtlpExporter`) are added with
`stratum.configure(trace_sinks=[...])` or, for one block of code, `with stratum.trace.sinks(...)`.
`load()` reads a JSONL file or SQLite store back and `render_audit()` prints the per-step audit
that `stratum audit` shows; `audit()` wraps it for Jupyter (an HTML page with a timeline).
"""

from __future__ import annotations

from stratum import BudgetEvent  # through the public door, which names its home `stratum`
from stratum.trace._audit import Audit, AuditFormat, audit, audit_report, render_audit
from stratum.trace._emit import capture, clear, emit, flows, records, sinks
from stratum.trace._jsonl import JsonlSink
from stratum.trace._load import load
from stratum.trace._otlp import OtlpExporter
from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord
from stratum.trace._redact import Redaction, RedactMode
from stratum.trace._sinks import MemorySink, TraceSink
from stratum.trace._sqlite import SqliteSink

__all__ = (
    "AttemptRecord",
    "Audit",
    "AuditFormat",
    "BudgetEvent",
    "FlowRecord",
    "JsonlSink",
    "MemorySink",
    "OtlpExporter",
    "RedactMode",
    "Redaction",
    "SqliteSink",
    "TraceRecord",
    "TraceSink",
    "audit",
    "audit_report",
    "capture",
    "clear",
    "emit",
    "flows",
    "load",
    "records",
    "render_audit",
    "sinks",
)

for _obj in (AttemptRecord, Audit, FlowRecord, JsonlSink, MemorySink, OtlpExporter, Redaction, SqliteSink, TraceRecord, TraceSink):
    _obj.__module__ = __name__
