"""`SqliteSink`: the embedded default store (WAL), with a small query API."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stratum.trace._codec import decode, dumps, parse_time
from stratum.trace._records import FlowRecord, Status, TraceRecord
from stratum.trace._redact import Redaction, RedactMode, as_redaction, scrub
from stratum.trace._sinks import bad_path, prepare_path
from stratum.trace._worker import DEFAULT_BATCH, DEFAULT_QUEUE, BackgroundSink

__all__ = ("SqliteSink", "query_flows", "query_records", "read_drops")

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    flow_id TEXT,
    parent_id TEXT,
    function TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_ms REAL,
    attempts INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_flow ON records(flow_id);
CREATE INDEX IF NOT EXISTS records_function ON records(function, started_at);
CREATE INDEX IF NOT EXISTS records_status ON records(status, started_at);
CREATE INDEX IF NOT EXISTS records_time ON records(started_at);
CREATE TABLE IF NOT EXISTS flows (
    flow_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_flow_id TEXT,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_ms REAL,
    spent_usd TEXT,
    spent_tokens INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flows_time ON flows(started_at);
CREATE INDEX IF NOT EXISTS flows_name ON flows(name, started_at);
CREATE TABLE IF NOT EXISTS sink_events (
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    detail TEXT
);
"""


def _connect(path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    # isolation_level=None: explicit BEGIN/COMMIT per batch, one transaction per batch.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def _ts(value: dt.datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).timestamp()


class _SqliteBackend:
    def __init__(self, path: Path, redaction: Redaction, timeout: float) -> None:
        self._path = path
        self._redaction = redaction
        self._timeout = timeout
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        # Created on the worker thread: sqlite3 connections belong to the thread that made them.
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self._path, self._timeout)
        return self._conn

    def write(self, items: list[TraceRecord | FlowRecord], /) -> None:
        calls: list[tuple[Any, ...]] = []
        flows: list[tuple[Any, ...]] = []
        for r in items:
            text = dumps(r, self._redaction)
            if isinstance(r, FlowRecord):
                spent = None if r.spent_usd is None else str(r.spent_usd)
                flows.append((r.flow_id, scrub(r.name), r.parent_flow_id, r.status, _ts(r.started_at), r.duration_ms, spent, r.spent_tokens, text))
            else:
                cost = None if r.cost_usd is None else str(r.cost_usd)
                calls.append((r.record_id, r.flow_id, r.parent_id, scrub(r.function), scrub(r.model), r.provider, r.status, _ts(r.started_at), r.duration_ms, r.attempts, r.input_tokens, r.output_tokens, cost, text))
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", calls)
            db.executemany("INSERT OR REPLACE INTO flows VALUES (?,?,?,?,?,?,?,?,?)", flows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def note_dropped(self, count: int, reason: str | None, /) -> None:
        self._db().execute(
            "INSERT INTO sink_events VALUES (?,?,?,?)",
            (dt.datetime.now(dt.UTC).timestamp(), "dropped", count, scrub(reason) if reason else None),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _when(value: dt.datetime | str | None) -> float | None:
    if value is None:
        return None
    return _ts(parse_time(value) if isinstance(value, str) else value)


def _where(filters: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    parts = [clause for clause, value in filters if value is not None]
    args = [value for _, value in filters if value is not None]
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def _read(path: Path, sql: str, args: Sequence[Any]) -> list[Any]:
    # A read-only connection of its own: safe from any thread, never blocks the writer (WAL).
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _query(
    path: str | os.PathLike[str],
    table: str,
    kind: type[Any],
    filters: list[tuple[str, Any]],
    limit: int | None,
) -> list[Any]:
    """Rows of `table` decoded as `kind`, oldest first (`limit`: the most recent N)."""
    where, args = _where(filters)
    sql = f"SELECT data FROM {table}{where} ORDER BY started_at DESC, rowid DESC"  # noqa: S608 - fixed clauses
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    rows = _read(Path(path), sql, args)
    found = [r for r in (decode(json.loads(row[0])) for row in rows) if isinstance(r, kind)]
    return found[::-1]


def query_records(
    path: str | os.PathLike[str],
    *,
    flow_id: str | None = None,
    function: str | None = None,
    status: Status | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    limit: int | None = None,
) -> list[TraceRecord]:
    """Call records in a SQLite trace store, oldest first, filtered as asked."""
    filters = [
        ("flow_id = ?", flow_id),
        ("function = ?", function),
        ("status = ?", status),
        ("started_at >= ?", _when(since)),
        ("started_at < ?", _when(until)),
    ]
    return _query(path, "records", TraceRecord, filters, limit)


def query_flows(
    path: str | os.PathLike[str],
    *,
    flow_id: str | None = None,
    name: str | None = None,
    status: Status | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    limit: int | None = None,
) -> list[FlowRecord]:
    """Flow records in a SQLite trace store, oldest first (`limit`: the most recent N)."""
    filters = [
        ("flow_id = ?", flow_id),
        ("name = ?", name),
        ("status = ?", status),
        ("started_at >= ?", _when(since)),
        ("started_at < ?", _when(until)),
    ]
    return _query(path, "flows", FlowRecord, filters, limit)


def read_drops(path: str | os.PathLike[str]) -> int:
    """How many records the sink writing this store reported as dropped."""
    rows = _read(Path(path), "SELECT COALESCE(SUM(count), 0) FROM sink_events WHERE kind = 'dropped'", ())
    return int(rows[0][0])


class SqliteSink(BackgroundSink[TraceRecord | FlowRecord]):
    """Store every record in a SQLite database (WAL): the embedded default store.

    Writes happen on a background thread in one transaction per batch, so a call never waits
    for the database. Query it with `.records(...)` / `.flows(...)` (which flush first), or
    read it with `stratum audit PATH` and `stratum.trace.load(PATH)`. Several processes may
    write the same file; WAL lets readers run while they do.

    Example:
        ```python
        store = SqliteSink(".stratum/traces.db")
        stratum.configure(trace_sinks=[store])
        ...
        failed = store.records(status="failed", since="2025-01-01")
        ```

    Args:
        path: the database file (created with its tables if missing).
        redact: `"none"`, `"omit"` or `"hash"` for inputs and outputs, or a `Redaction`.
        timeout: seconds the writer waits for a database locked by another process before the
            batch is counted as dropped (the call never waits).
        queue_size: records held in memory before new ones are dropped.
        batch_size: records written per transaction.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        redact: RedactMode | Redaction = "none",
        timeout: float = 10.0,
        queue_size: int = DEFAULT_QUEUE,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.path = Path(path)
        self.redaction = as_redaction(redact)
        # Create the schema now, on the caller's thread, so queries work before the first write.
        prepare_path("SqliteSink", self.path)
        try:
            _connect(self.path, timeout).close()
        except sqlite3.Error as exc:  # e.g. the file exists but is not a database
            raise bad_path("SqliteSink", self.path, exc) from exc
        super().__init__(_SqliteBackend(self.path, self.redaction, timeout), name=f"stratum-sqlite:{self.path.name}", queue_size=queue_size, batch_size=batch_size)

    def records(
        self,
        *,
        flow_id: str | None = None,
        function: str | None = None,
        status: Status | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        limit: int | None = None,
    ) -> list[TraceRecord]:
        """Call records stored so far, oldest first, filtered by flow, function, status, time.

        `since`/`until` are datetimes or ISO 8601 strings (naive ones are UTC), `until`
        exclusive; `limit` keeps the most recent N.
        """
        self.flush()
        return query_records(self.path, flow_id=flow_id, function=function, status=status, since=since, until=until, limit=limit)

    def flows(
        self,
        *,
        flow_id: str | None = None,
        name: str | None = None,
        status: Status | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        limit: int | None = None,
    ) -> list[FlowRecord]:
        """Flow records stored so far, oldest first (`limit`: the most recent N)."""
        self.flush()
        return query_flows(self.path, flow_id=flow_id, name=name, status=status, since=since, until=until, limit=limit)

    def __repr__(self) -> str:
        return f"SqliteSink({str(self.path)!r}, dropped={self.dropped})"
