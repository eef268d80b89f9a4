"""Sinks are flushed at interpreter exit and when dropped; the public door is complete."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from trace_flows import run_triage

import stratum
import stratum.trace
from stratum.trace import JsonlSink, SqliteSink, load

SRC = str(Path(stratum.__file__).resolve().parents[1])


@pytest.mark.parametrize("sink", ["JsonlSink", "SqliteSink"])
def test_records_are_written_when_the_process_exits_without_close(sink: str, tmp_path: Path) -> None:
    path = tmp_path / ("t.jsonl" if sink == "JsonlSink" else "t.db")
    script = textwrap.dedent(
        f"""
        import stratum
        from stratum.testing import ScriptedModel, use_model
        from stratum.trace import {sink}

        @stratum.infer("Say hi")
        def hi(name: str) -> str: ...

        stratum.configure(trace_sinks=[{sink}({str(path)!r})])
        with use_model(ScriptedModel(["hello"] * 50)):
            for i in range(50):
                stratum.run(hi(name=str(i)))
        # no flush, no close: the exit hook must write everything
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    _, records = load(path)
    assert len(records) == 50


@pytest.mark.anyio
async def test_an_unreferenced_sink_is_flushed_and_its_thread_stops(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sink = JsonlSink(path)
    worker = sink._worker  # pyright: ignore[reportPrivateUsage]
    with stratum.configure(trace_sinks=[sink]):
        await run_triage()
    del sink
    gc.collect()
    assert not worker._thread.is_alive()  # pyright: ignore[reportPrivateUsage]
    assert len(load(path)[1]) == 2


def test_close_is_idempotent_and_flush_after_close_is_harmless(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "t.db")
    sink.close()
    sink.close()
    sink.flush()


def test_public_door() -> None:
    for name in stratum.trace.__all__:
        obj = getattr(stratum.trace, name)
        if isinstance(obj, type):
            assert obj.__module__ in ("stratum.trace", "stratum"), name
    for kept in ("records", "flows", "clear", "capture", "emit", "TraceRecord", "FlowRecord", "AttemptRecord", "MemorySink", "TraceSink", "BudgetEvent"):
        assert kept in stratum.trace.__all__
    for added in ("JsonlSink", "SqliteSink", "OtlpExporter", "render_audit", "load", "sinks", "Redaction"):
        assert added in stratum.trace.__all__
