"""SQLite persistence for plans, attempts and audit events, under the project's `.stratum/`.

Every tool call is one `BEGIN IMMEDIATE` transaction: it takes the write lock before reading,
so two server processes on one store serialize their updates instead of overwriting each
other, and a process killed mid-call leaves the last committed state (WAL journaling makes
the commit atomic). Nothing is ever deleted: completed, failed and rejected plans stay for audit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

__all__ = ("STORE_FILE", "open_store", "transaction")

STORE_FILE = "mcp.sqlite3"
"""File name of the store inside the `.stratum/` directory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    approved_by TEXT,
    approval_method TEXT,
    approved_at REAL,
    closed_at REAL,
    signaled REAL NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    usd TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE IF NOT EXISTS steps (
    plan_id TEXT NOT NULL REFERENCES plans(plan_id),
    step_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    ready_at REAL,
    done_at REAL,
    result TEXT,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    usd TEXT NOT NULL DEFAULT '0',
    PRIMARY KEY (plan_id, step_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    plan_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    reported_at REAL NOT NULL,
    passed INTEGER NOT NULL,
    result TEXT NOT NULL,
    violations TEXT NOT NULL,
    tool_calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    usd TEXT NOT NULL,
    PRIMARY KEY (plan_id, step_id, attempt),
    FOREIGN KEY (plan_id, step_id) REFERENCES steps(plan_id, step_id)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL REFERENCES plans(plan_id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_plan ON events(plan_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    plan_id TEXT NOT NULL REFERENCES plans(plan_id),
    label TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (plan_id, label)
);
"""

_ADDED_COLUMNS = (
    # (table, column, declaration): columns added after the first release, so stores written
    # by an older server open unchanged and gain them.
    ("plans", "round", "INTEGER NOT NULL DEFAULT 0"),
    ("plans", "extra_budget", "TEXT NOT NULL DEFAULT '{}'"),
    ("plans", "pending_extension", "TEXT"),
    ("plans", "close_reason", "TEXT"),
    ("steps", "round_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("steps", "slips", "INTEGER NOT NULL DEFAULT 0"),
    ("steps", "retry_context", "TEXT"),
    ("steps", "outcome", "TEXT"),
    ("steps", "iterations", "TEXT NOT NULL DEFAULT '[]'"),
    ("steps", "note", "TEXT"),
    ("attempts", "charged_to", "TEXT"),
    ("attempts", "reason", "TEXT"),
    ("attempts", "kind", "TEXT NOT NULL DEFAULT 'work'"),
    ("attempts", "round", "INTEGER NOT NULL DEFAULT 0"),
)


def open_store(directory: Path) -> sqlite3.Connection:
    """Open (creating if needed) the store in `directory` (the project's `.stratum/`)."""
    directory.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) below.
    conn = sqlite3.connect(directory / STORE_FILE, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # Idempotent DDL; each statement commits on its own, so a concurrent first start is safe.
    conn.executescript(_SCHEMA)
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError:  # a concurrent first start added it
                pass
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Generator[sqlite3.Connection]:
    """One write transaction: the lock is taken first, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
