"""`render_audit` and `stratum audit`: the per-step table, markdown, and the pinned JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trace_flows import PRICE, classify, outer, run_triage, triage_model

import stratum
from stratum.cli import main
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import JsonlSink, SqliteSink, render_audit

pytestmark = pytest.mark.anyio

STEP_KEYS = ["function", "status", "attempts", "input_tokens", "output_tokens", "cost_usd", "duration_ms", "retry_reasons"]
TOTAL_KEYS = ["attempts", "retries", "input_tokens", "output_tokens", "cost_usd", "duration_ms"]


async def test_json_has_exactly_the_pinned_shape() -> None:
    run = await run_triage()
    data = json.loads(render_audit(run.flows, run.records, format="json"))
    assert list(data) == ["flows"]
    [flow] = data["flows"]
    assert list(flow) == ["flow_id", "name", "steps", "totals"]
    assert (flow["flow_id"], flow["name"]) == (run.flows[0].flow_id, "triage")
    assert [list(s) for s in flow["steps"]] == [STEP_KEYS, STEP_KEYS]
    first, second = flow["steps"]
    assert first["function"] == "classify" and first["status"] == "ok" and first["attempts"] == 2
    assert (first["input_tokens"], first["output_tokens"]) == (230, 40)
    assert first["cost_usd"] == "0.00078"  # exact decimal string
    assert first["retry_reasons"] == ["ensure: r.confidence > 0.7 (actual: r.confidence=0.4)"]
    assert second["retry_reasons"] == [] and second["attempts"] == 1
    assert list(flow["totals"]) == TOTAL_KEYS
    totals = flow["totals"]
    assert (totals["attempts"], totals["retries"], totals["input_tokens"], totals["output_tokens"]) == (3, 1, 280, 50)
    assert totals["cost_usd"] == "0.00096"
    assert totals["duration_ms"] == pytest.approx(run.flows[0].duration_ms, abs=0.001)


async def test_table_shows_steps_retry_reasons_totals_and_budget_events() -> None:
    run = await run_triage()
    text = render_audit(run.flows, run.records)
    lines = text.splitlines()
    assert lines[0].startswith("Flow triage (") and "budget usd $0.001" in lines[0]
    assert lines[1].split() == ["#", "function", "status", "attempts", "in", "tok", "out", "tok", "cost", "duration"]
    assert lines[2].split()[:6] == ["1", "classify", "ok", "2", "230", "40"]
    assert "attempt 1 failed: ensure: r.confidence > 0.7 (actual: r.confidence=0.4)" in lines[3]
    assert lines[4].split()[:6] == ["2", "summarize", "ok", "1", "50", "10"]
    assert "Total: 2 steps, 3 attempts (1 retry), 330 tokens (in 280 / out 50), $0.00096" in text
    assert "all passing" in text
    assert "Budget: usd passed 95% of its limit (spent $0.00096 of $0.001)" in text


async def test_markdown_is_a_committable_table() -> None:
    run = await run_triage()
    md = render_audit(run.flows, run.records, format="md")
    assert md.startswith("# Stratum audit\n")
    assert "| # | function | status | attempts | input tokens | output tokens | cost | duration | retry reasons |" in md
    assert "| 1 | `classify` | ok | 2 | 230 | 40 | $0.00078 |" in md
    assert "attempt 1: ensure: r.confidence > 0.7 (actual: r.confidence=0.4) |" in md
    assert "**Total:** 2 steps, 3 attempts (1 retry)" in md
    assert "- usd passed 50% of its limit" in md
    # Stable output (no generation time): the same records render the same file.
    assert md == render_audit(run.flows, run.records, format="md")


async def test_pipes_in_reasons_do_not_break_the_markdown_table() -> None:
    @stratum.infer("Pick", ensure=lambda r: "|" not in r, retries=1)
    def pick(text: str) -> str: ...

    with use_model(ScriptedModel(["a|b", "ab"])):
        await pick(text="x")
    md = render_audit([], stratum.trace.records(), format="md")
    row = next(line for line in md.splitlines() if line.startswith("| 1 |"))
    assert row.count(" | ") == 8  # nine cells, whatever the reason says


async def test_calls_outside_flows_and_failures_are_audited() -> None:
    model = ScriptedModel([Reply({"label": "negative", "confidence": 0.1}, usage=(10, 5))] * 3, price=PRICE)
    with use_model(model), pytest.raises(stratum.PostconditionFailed):
        await classify(text="meh")
    data = json.loads(render_audit([], stratum.trace.records(), format="json"))
    [flow] = data["flows"]
    assert flow["flow_id"] is None and flow["name"] == "(outside any flow)"
    assert flow["steps"][0]["status"] == "failed" and len(flow["steps"][0]["retry_reasons"]) == 3
    assert flow["totals"]["retries"] == 2
    text = render_audit([], stratum.trace.records())
    assert "error: PostconditionFailed: classify: ensure failed after 3 attempts" in text
    assert "1 failed" in text


async def test_nested_flows_are_audited_separately_and_selectable() -> None:
    model = ScriptedModel([{"label": "positive", "confidence": 0.9}, *triage_model()._responses], price=PRICE)  # pyright: ignore[reportPrivateUsage]
    with use_model(model):
        await outer("hi")
    flows, records = stratum.trace.flows(), stratum.trace.records()
    data = json.loads(render_audit(flows, records, format="json"))
    assert [(f["name"], len(f["steps"])) for f in data["flows"]] == [("outer", 1), ("triage", 2)]
    inner = next(f for f in flows if f.name == "triage")
    only = json.loads(render_audit(flows, records, format="json", flow=inner.flow_id[:6]))
    assert [f["flow_id"] for f in only["flows"]] == [inner.flow_id]
    by_name = json.loads(render_audit(flows, records, format="json", flow="outer"))
    assert [f["name"] for f in by_name["flows"]] == ["outer"]
    assert f"inside flow {by_name['flows'][0]['flow_id'][:8]}" in render_audit(flows, records, flow="triage")
    with pytest.raises(stratum.ConfigurationError, match="no flow matches"):
        render_audit(flows, records, flow="nope")


def test_nothing_recorded() -> None:
    assert render_audit([], []) == "No records.\n"
    assert json.loads(render_audit([], [], format="json")) == {"flows": []}


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
async def test_cli_reads_both_stores(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ("t.jsonl" if kind == "jsonl" else "t.db")
    sink = JsonlSink(path) if kind == "jsonl" else SqliteSink(path)
    with sink, stratum.configure(trace_sinks=[sink]):
        run = await run_triage()
        await run_triage()
    assert main(["audit", str(path), "--format", "json", "--flow", run.flows[0].flow_id]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["flow_id"] for f in data["flows"]] == [run.flows[0].flow_id]
    assert data == json.loads(render_audit(run.flows, run.records, format="json"))
    assert main(["audit", str(path)]) == 0
    assert capsys.readouterr().out.count("Flow triage (") == 2
    assert main(["audit", str(path), "--last", "1", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["flows"]) == 1
    out = tmp_path / "AUDIT.md"
    assert main(["audit", str(path), "--format", "md", "-o", str(out)]) == 0
    assert out.read_text().startswith("# Stratum audit")


def test_cli_errors_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(tmp_path / "missing.db")]) == 1
    assert "JsonlSink or SqliteSink" in capsys.readouterr().err
