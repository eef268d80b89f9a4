"""Read records back from a JSONL file or a SQLite store (chosen by content, not name)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from stratum.exceptions import ConfigurationError
from stratum.trace._codec import decode
from stratum.trace._jsonl import rotated_paths
from stratum.trace._records import FlowRecord, TraceRecord
from stratum.trace._sqlite import SQLITE_MAGIC, query_flows, query_records, read_drops

__all__ = ("Loaded", "is_sqlite", "load", "load_store")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a trace file holds: flows, call records, and how many records its sink dropped."""

    flows: list[FlowRecord]
    records: list[TraceRecord]
    dropped: int = 0


def is_sqlite(path: Path) -> bool:
    """True when `path` is a SQLite database (by its header, whatever its extension)."""
    with path.open("rb") as f:
        return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _read_jsonl(path: Path, flows: dict[str, FlowRecord], records: dict[str, TraceRecord]) -> int:
    dropped = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
                if data.get("type") == "dropped":
                    dropped += int(data.get("count", 0))
                    continue
                record = decode(data)
            except (ValueError, KeyError, TypeError) as exc:
                # A torn last line (the process died mid-write) must not hide every other record.
                if number > 1 and not raw.endswith(b"\n"):
                    break
                raise ConfigurationError(
                    f"{path}:{number} is not a Stratum trace record ({exc}); pass a file written by "
                    "stratum.trace.JsonlSink or SqliteSink"
                ) from exc
            if isinstance(record, FlowRecord):
                flows[record.flow_id] = record
            else:
                records[record.record_id] = record
    return dropped


def load_store(path: str | os.PathLike[str]) -> Loaded:
    """Everything in a trace file, oldest first (rotated JSONL files included)."""
    where = Path(path)
    if not where.is_file():
        raise ConfigurationError(
            f"no trace file at {where}; pass a file written by stratum.trace.JsonlSink or SqliteSink"
        )
    if is_sqlite(where):
        return Loaded(query_flows(where), query_records(where), read_drops(where))
    flows: dict[str, FlowRecord] = {}
    records: dict[str, TraceRecord] = {}
    dropped = 0
    for part in (*rotated_paths(where), where):
        dropped += _read_jsonl(part, flows, records)
    return Loaded(
        sorted(flows.values(), key=lambda f: f.started_at),
        sorted(records.values(), key=lambda r: r.started_at),
        dropped,
    )


def load(path: str | os.PathLike[str]) -> tuple[list[FlowRecord], list[TraceRecord]]:
    """Read the flows and call records kept in a JSONL file or SQLite store, oldest first.

    The file kind is detected from its content. Rotated JSONL files (`PATH.1` …) are read too.
    Outputs come back in their JSON form (a contract instance becomes a dict); money stays
    `Decimal`.

    Example:
        ```python
        flows, records = stratum.trace.load("traces/stratum.jsonl")
        print(stratum.trace.render_audit(flows, records, format="md"))
        ```

    Raises:
        ConfigurationError: when the file is missing or is not a trace file.
    """
    loaded = load_store(path)
    return loaded.flows, loaded.records
