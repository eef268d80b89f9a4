"""JsonlSink: append-only JSON Lines, rotation, round trip, drops."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from trace_flows import run_triage

import stratum
from stratum.trace import FlowRecord, JsonlSink, TraceRecord, load, render_audit
from stratum.trace._jsonl import rotated_paths
from stratum.trace._load import load_store

pytestmark = pytest.mark.anyio


async def test_records_round_trip_with_every_audit_field(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with JsonlSink(path) as sink, stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
    flows, records = load(path)
    assert [f.flow_id for f in flows] == [run.flows[0].flow_id]
    assert [r.record_id for r in records] == [r.record_id for r in run.records]
    for live, back in zip(run.records, records, strict=True):
        assert back.cost_usd == live.cost_usd and isinstance(back.cost_usd, Decimal)
        assert (back.function, back.status, back.attempts, back.retry_reasons) == (live.function, live.status, live.attempts, live.retry_reasons)
        assert (back.input_tokens, back.output_tokens, back.started_at) == (live.input_tokens, live.output_tokens, live.started_at)
        assert back.duration_ms == live.duration_ms
        assert back.budget_events == live.budget_events
        assert [a.cost_usd for a in back.attempt_records] == [a.cost_usd for a in live.attempt_records]
        assert [a.violations for a in back.attempt_records] == [a.violations for a in live.attempt_records]
    assert flows[0].spent_usd == run.flows[0].spent_usd == Decimal("0.00096")
    assert flows[0].limits["usd"] == Decimal("0.001")
    assert flows[0].budget_events == run.flows[0].budget_events
    # The audit of the loaded records is the audit of the live ones.
    assert render_audit(flows, records, format="json") == render_audit(run.flows, run.records, format="json")
    assert render_audit(flows, records, format="md") == render_audit(run.flows, run.records, format="md")


async def test_file_is_append_only_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    for _ in range(2):
        with JsonlSink(path) as sink, stratum.configure(trace_sinks=[sink]):
            await run_triage()
    lines = path.read_text().splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds == ["call", "call", "flow"] * 2
    flows, records = load(path)
    assert len(flows) == 2 and len(records) == 4


async def test_rotation_keeps_n_backups_and_load_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with JsonlSink(path, max_bytes=4000, backups=2) as sink, stratum.configure(trace_sinks=[sink]):
        for _ in range(6):
            await run_triage()
    backups = rotated_paths(path)
    assert [p.name for p in backups] == ["trace.jsonl.2", "trace.jsonl.1"]
    assert not (tmp_path / "trace.jsonl.3").exists()
    assert all(p.stat().st_size <= 4000 for p in (*backups, path))
    # Every file holds whole lines only.
    for part in (*backups, path):
        for line in part.read_text().splitlines():
            json.loads(line)
    flows, records = load(path)
    assert 0 < len(flows) < 6  # the oldest rotated away
    assert all(isinstance(r, TraceRecord) for r in records)


async def test_backups_zero_truncates(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with JsonlSink(path, max_bytes=3000, backups=0) as sink, stratum.configure(trace_sinks=[sink]):
        for _ in range(4):
            await run_triage()
    assert rotated_paths(path) == []
    assert path.stat().st_size <= 3000


class _Gate:
    """Blocks the sink's worker thread so the queue fills up deterministically."""

    def __init__(self, sink: JsonlSink) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        backend = sink._worker._backend  # pyright: ignore[reportPrivateUsage]
        original = backend.write

        def gated(items: list[TraceRecord | FlowRecord], /) -> None:
            self.entered.set()
            self.release.wait(10)
            original(items)

        backend.write = gated  # type: ignore[method-assign]


async def test_full_queue_drops_counts_and_notes_it_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    sink = JsonlSink(path, queue_size=1, batch_size=1)
    gate = _Gate(sink)
    with stratum.configure(trace_sinks=[sink]):
        run = await run_triage()  # 3 records: one taken by the blocked worker, one queued, one dropped
        assert gate.entered.wait(5)
        await run_triage()
    assert sink.dropped >= 1
    dropped = sink.dropped
    gate.release.set()
    sink.close()
    notes = [json.loads(line) for line in path.read_text().splitlines() if '"dropped"' in line]
    assert sum(n["count"] for n in notes if n["type"] == "dropped") == dropped
    loaded = load_store(path)
    assert loaded.dropped == dropped
    assert len(loaded.records) + len(loaded.flows) == 6 - dropped
    assert "dropped" in render_audit(loaded.flows, loaded.records, dropped=loaded.dropped)
    assert run.records  # the calls themselves all succeeded


async def test_write_failure_never_reaches_the_call(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    sink = JsonlSink(folder / "trace.jsonl")
    (folder / "trace.jsonl").unlink()
    folder.rmdir()
    folder.write_text("x")  # after the sink was made, its folder became a file: every write fails
    with stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
    sink.flush()
    assert run.records[-1].status == "ok"
    assert sink.dropped == 3
    assert sink.last_error is not None and "Error" in sink.last_error
    sink.close()


async def test_closed_sink_counts_what_it_could_not_take(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "t.jsonl")
    sink.close()
    with stratum.configure(trace_sinks=[sink]):
        await run_triage()
    assert sink.dropped == 3


async def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with JsonlSink(path) as sink, stratum.configure(trace_sinks=[sink]):
        await run_triage()
    with path.open("a") as f:
        f.write('{"type":"call","v":1,"record_id":"abc')  # the process died mid-write
    flows, records = load(path)
    assert len(flows) == 1 and len(records) == 2


def test_not_a_trace_file_says_what_to_pass(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text('{"hello": 1}\n{"x": 2}\n')
    with pytest.raises(stratum.ConfigurationError, match="JsonlSink or SqliteSink"):
        load(path)
    with pytest.raises(stratum.ConfigurationError, match="no trace file"):
        load(tmp_path / "missing.jsonl")
