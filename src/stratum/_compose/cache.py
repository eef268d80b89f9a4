"""Result caching for `@infer(cache="session"|"global")`.

The key covers everything that decides the answer: the bound inputs, the contract hash, the
compiled prompt hash (intent, context, rendered inputs, attachments) and the resolved model.
`"session"` keeps values on the current `FlowRun` (one flow run; outside a flow nothing is
cached). `"global"` keeps JSON in a SQLite file: `stratum.cache_store(path)` for a scope, else
`$STRATUM_CACHE_PATH`, else `.stratum/cache.sqlite3` under the working directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Generator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from stratum._runtime import context as _context
from stratum._runtime.spec import InferSpec
from stratum._util.jsonable import to_jsonable

__all__ = ("CACHE_PATH_ENV", "cache_key", "cache_path", "cache_store", "global_get", "global_put")

CACHE_PATH_ENV = "STRATUM_CACHE_PATH"
"""Environment variable naming the SQLite file of `cache="global"`."""

_MISSING: Any = object()


def cache_path() -> Path:
    """The SQLite file used by `cache="global"` in the current context."""
    scoped = _context.current_cache_path()
    if scoped is not None:
        return scoped
    env = os.environ.get(CACHE_PATH_ENV)
    if env:
        return Path(env)
    return Path.cwd() / ".stratum" / "cache.sqlite3"


@contextmanager
def cache_store(path: str | os.PathLike[str]) -> Generator[Path, None, None]:
    """Use the SQLite file `path` for `cache="global"` inside the block (tests, per-project stores).

    Example:
        ```python
        with stratum.cache_store(tmp_path / "cache.sqlite3"):
            await summarize(text=doc)   # @infer(..., cache="global")
        ```
    """
    chosen = Path(path)
    with _context.caching_at(chosen):
        yield chosen


def cache_key(spec: InferSpec, bound: Mapping[str, Any], *, model: str, prompt_hash: str) -> str:
    """A 64-hex key for one call's result."""
    payload = {
        "inputs": to_jsonable(dict(bound)),
        "contract": spec.output.hash,
        "prompt": prompt_hash,
        "model": model,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, function TEXT NOT NULL, "
    "contract_hash TEXT NOT NULL, value TEXT NOT NULL, stored_at TEXT NOT NULL)"
)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    conn.execute(_SCHEMA)
    return conn


def _read(path: Path, key: str) -> str | None:
    if not path.exists():
        return None
    with closing(_connect(path)) as conn:
        row = conn.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _write(path: Path, key: str, function: str, contract_hash: str, value: str) -> None:
    with closing(_connect(path)) as conn, conn:
        conn.execute(
            "INSERT OR REPLACE INTO results (key, function, contract_hash, value, stored_at) VALUES (?, ?, ?, ?, ?)",
            (key, function, contract_hash, value, dt.datetime.now(dt.UTC).isoformat()),
        )


async def global_get(spec: InferSpec, key: str) -> Any:
    """The stored value for `key` validated against the contract, or `MISSING`."""
    raw = await anyio.to_thread.run_sync(_read, cache_path(), key)
    if raw is None:
        return _MISSING
    try:
        return spec.output.adapter.validate_json(raw)
    except ValidationError:
        return _MISSING  # stored under an older shape of the same contract hash: recompute


async def global_put(spec: InferSpec, key: str, value: Any) -> None:
    """Store `value` (as contract JSON) under `key`."""
    raw = spec.output.adapter.dump_json(value).decode()
    await anyio.to_thread.run_sync(_write, cache_path(), key, spec.qualname, spec.output.hash, raw)


def is_missing(value: Any) -> bool:
    """True for the sentinel `global_get` returns on a miss."""
    return value is _MISSING


MISSING: Any = _MISSING
"""Sentinel for a cache miss."""
