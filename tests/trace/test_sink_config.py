"""How sinks are attached: configure() adds, trace.sinks() scopes, failures never reach calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from trace_flows import run_triage

import stratum
from stratum.trace import FlowRecord, JsonlSink, MemorySink, TraceRecord, TraceSink, load

pytestmark = pytest.mark.anyio


class Exploding:
    """A user sink with a bug in every method."""

    def emit(self, record: TraceRecord | FlowRecord, /) -> None:
        raise RuntimeError("sink bug")

    def flush(self) -> None:
        raise RuntimeError("sink bug")

    def close(self) -> None:
        raise RuntimeError("sink bug")


def test_every_sink_satisfies_the_protocol(tmp_path: Path) -> None:
    from stratum.trace import OtlpExporter, SqliteSink

    sinks = [MemorySink(), JsonlSink(tmp_path / "a.jsonl"), SqliteSink(tmp_path / "a.db"), OtlpExporter("http://127.0.0.1:9")]
    for sink in sinks:
        assert isinstance(sink, TraceSink)
        sink.close()


async def test_configured_sinks_add_to_the_memory_store(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "t.jsonl")
    with stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
    sink.close()
    assert len(run.records) == 2 and len(run.flows) == 1  # the in-memory store still has them
    assert len(load(sink.path)[1]) == 2


async def test_scoped_sinks_see_only_their_block(tmp_path: Path) -> None:
    scoped = JsonlSink(tmp_path / "scoped.jsonl")
    configured = JsonlSink(tmp_path / "all.jsonl")
    with stratum.configure(trace_sinks=[configured]):
        await run_triage()
        with stratum.trace.sinks(scoped) as active:
            assert active == (scoped,)
            with stratum.trace.sinks(scoped):  # nesting the same sink does not double-write
                run = await run_triage()
        await run_triage()
    scoped.close()
    configured.close()
    flows, records = load(scoped.path)
    assert [f.flow_id for f in flows] == [run.flows[-1].flow_id]
    assert len(records) == 2
    assert len(load(configured.path)[0]) == 3


async def test_a_broken_sink_never_breaks_a_call(tmp_path: Path) -> None:
    good = JsonlSink(tmp_path / "t.jsonl")
    with stratum.configure(trace_sinks=[Exploding(), good]):  # type: ignore[list-item]
        run = await run_triage()
    assert run.records[-1].status == "ok"
    good.close()
    assert len(load(good.path)[1]) == 2  # the sinks after it still got every record


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("jsonl", "parent-is-a-file"),
        ("jsonl", "path-is-a-folder"),
        ("sqlite", "parent-is-a-file"),
        ("sqlite", "path-is-a-folder"),
        ("sqlite", "not-a-database"),  # any file is a valid JSONL file to append to
    ],
)
def test_a_sink_on_a_bad_path_is_a_configuration_error_naming_the_path(
    tmp_path: Path, kind: str, problem: str
) -> None:
    from stratum.exceptions import ConfigurationError
    from stratum.trace import SqliteSink

    if problem == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "traces.db"
    elif problem == "path-is-a-folder":
        path = tmp_path / "folder"
        path.mkdir()
    else:
        path = tmp_path / "notes.txt"
        path.write_text("these are not the records you are looking for\n" * 20)
    make = JsonlSink if kind == "jsonl" else SqliteSink
    with pytest.raises(ConfigurationError) as caught:
        make(path)
    message = str(caught.value)
    assert str(path) in message and "cannot write" in message and "Pass a path" in message
