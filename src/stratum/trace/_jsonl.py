"""`JsonlSink`: one JSON object per line, append-only, rotated by size."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import IO, Any

from stratum.exceptions import ConfigurationError
from stratum.trace._codec import FORMAT_VERSION, dumps
from stratum.trace._records import FlowRecord, TraceRecord
from stratum.trace._redact import Redaction, RedactMode, as_redaction, scrub
from stratum.trace._sinks import prepare_path
from stratum.trace._worker import DEFAULT_BATCH, DEFAULT_QUEUE, BackgroundSink

__all__ = ("JsonlSink", "rotated_paths")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Size at which a JSONL trace file is rotated."""

DEFAULT_BACKUPS = 3
"""Rotated files kept (`trace.jsonl.1` is the newest)."""


def rotated_paths(path: Path, backups: int | None = None) -> list[Path]:
    """The rotated files of `path` that exist, oldest first (`path.N` … `path.1`)."""
    found: list[Path] = []
    n = 1
    while backups is None or n <= backups:
        candidate = path.with_name(f"{path.name}.{n}")
        if not candidate.exists():
            break
        found.append(candidate)
        n += 1
    return found[::-1]


class _JsonlBackend:
    def __init__(self, path: Path, redaction: Redaction, max_bytes: int | None, backups: int) -> None:
        self._path = path
        self._redaction = redaction
        self._max_bytes = max_bytes
        self._backups = backups
        self._file: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("ab")
            self._size = self._file.tell()
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._backups == 0:
            self._path.unlink(missing_ok=True)
            return
        for n in range(self._backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{n}")
            if older.exists():
                os.replace(older, self._path.with_name(f"{self._path.name}.{n + 1}"))
        os.replace(self._path, self._path.with_name(f"{self._path.name}.1"))

    def _write_lines(self, lines: list[bytes]) -> None:
        out = self._open()
        chunk: list[bytes] = []
        for line in lines:
            if self._max_bytes is not None and self._size > 0 and self._size + len(line) > self._max_bytes:
                out.write(b"".join(chunk))
                chunk = []
                self._rotate()
                out = self._open()
            chunk.append(line)
            self._size += len(line)
        out.write(b"".join(chunk))
        out.flush()

    def write(self, items: list[TraceRecord | FlowRecord], /) -> None:
        self._write_lines([(dumps(r, self._redaction) + "\n").encode() for r in items])

    def note_dropped(self, count: int, reason: str | None, /) -> None:
        note = {
            "type": "dropped",
            "v": FORMAT_VERSION,
            "count": count,
            "reason": scrub(reason) if reason else None,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        self._write_lines([_line(note)])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()


class JsonlSink(BackgroundSink[TraceRecord | FlowRecord]):
    """Append every record to a JSON Lines file, one object per line, rotated by size.

    Writes happen on a background thread, so a call never waits for the disk. When the file
    would pass `max_bytes` it is renamed `PATH.1` (older ones shift to `PATH.2` … `PATH.N`,
    `backups` kept). `stratum audit PATH` and `stratum.trace.load(PATH)` read it back, rotated
    files included. Dropped records are written as `{"type": "dropped", "count": N}` lines.

    Example:
        ```python
        stratum.configure(trace_sinks=[JsonlSink("traces/stratum.jsonl", redact="hash")])
        ```

    Args:
        path: the file to append to (parent folders are created).
        redact: `"none"`, `"omit"` or `"hash"` for inputs and outputs, or a `Redaction`.
        max_bytes: rotate when the file would grow past this size (None: never rotate).
        backups: how many rotated files to keep.
        queue_size: records held in memory before new ones are dropped.
        batch_size: records written per batch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        redact: RedactMode | Redaction = "none",
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        queue_size: int = DEFAULT_QUEUE,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if backups < 0:
            raise ConfigurationError(f"JsonlSink(backups={backups}) must be 0 or more; pass backups=3 to keep three rotated files")
        self.path = Path(path)
        self.redaction = as_redaction(redact)
        prepare_path("JsonlSink", self.path)
        backend = _JsonlBackend(self.path, self.redaction, max_bytes, backups)
        super().__init__(backend, name=f"stratum-jsonl:{self.path.name}", queue_size=queue_size, batch_size=batch_size)

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r}, dropped={self.dropped})"
