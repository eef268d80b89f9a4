"""SqliteSink: the embedded store (WAL), its query API and the round trip."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from trace_flows import PRICE, classify, run_triage

import stratum
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import SqliteSink, load, render_audit

pytestmark = pytest.mark.anyio


async def test_store_is_wal_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    with SqliteSink(path) as sink, stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    flows, records = load(path)
    assert [r.record_id for r in records] == [r.record_id for r in run.records]
    assert records[0].cost_usd == Decimal("0.00078") == run.records[0].cost_usd
    assert records[0].attempt_records[0].violations == run.records[0].attempt_records[0].violations
    assert flows[0].spent_usd == run.flows[0].spent_usd
    assert render_audit(flows, records, format="json") == render_audit(run.flows, run.records, format="json")


async def test_query_by_flow_function_status_and_time(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "traces.db")
    with stratum.configure(trace_sinks=[sink]):
        first = await run_triage()
        second = await run_triage()
        with use_model(ScriptedModel([Reply({"label": "negative", "confidence": 0.1}, usage=(10, 5))] * 3, price=PRICE)):
            with pytest.raises(stratum.PostconditionFailed):
                await classify(text="meh")
    flow_one = first.flows[0].flow_id
    assert [r.function for r in sink.records(flow_id=flow_one)] == ["classify", "summarize"]
    assert len(sink.records(function="classify")) == 3
    failed = sink.records(status="failed")
    assert [(r.function, r.attempts, r.flow_id) for r in failed] == [("classify", 3, None)]
    assert len(failed[0].retry_reasons) == 3
    everything = sink.records()
    assert len(everything) == 5
    cut = everything[2].started_at
    assert sink.records(since=cut) == everything[2:]
    assert sink.records(until=cut) == everything[:2]
    assert sink.records(since=cut.isoformat(), until=everything[4].started_at) == everything[2:4]
    assert sink.records(limit=2) == everything[-2:]
    assert [f.flow_id for f in sink.flows()] == [flow_one, second.flows[-1].flow_id]
    assert [f.flow_id for f in sink.flows(limit=1)] == [second.flows[-1].flow_id]
    assert sink.flows(name="triage", status="ok") == sink.flows()
    assert sink.records(since=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == []
    sink.close()


async def test_detected_by_content_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"  # a SQLite file with an unhelpful name
    with SqliteSink(path) as sink, stratum.configure(trace_sinks=[sink]):
        await run_triage()
    flows, records = load(path)
    assert len(flows) == 1 and len(records) == 2


async def test_two_sinks_on_one_database_and_reads_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    a, b = SqliteSink(path), SqliteSink(path)
    with stratum.configure(trace_sinks=[a]):
        await run_triage()
    with stratum.configure(trace_sinks=[b]):
        await run_triage()
    b.flush()
    assert len(a.records()) == len(b.records()) == 4  # one store, whoever wrote it
    a.close()
    b.close()
    assert len(load(path)[0]) == 2


async def test_locked_database_never_breaks_the_call(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    sink = SqliteSink(path, timeout=0.05)
    blocker = sqlite3.connect(path, timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    with stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
    assert run.records[-1].status == "ok"
    sink.flush()
    assert sink.dropped == 3
    assert sink.last_error is not None and "locked" in sink.last_error
    blocker.execute("ROLLBACK")
    blocker.close()
    with stratum.configure(trace_sinks=[sink]):
        await run_triage()
    assert len(sink.records()) == 2  # writing resumes once the lock is gone
    sink.close()
