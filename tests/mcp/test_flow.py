"""Control flow in plans, in-process: routing, gates, iteration, references, skip, checkpoints, budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stratum.cli import main
from stratum.mcp import Engine, ToolFailure


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _start(engine: Engine, plan: dict[str, Any]) -> str:
    pid = engine.create(plan)["plan_id"]
    engine.approve(pid, "eve")
    return pid


def _ready(out: dict[str, Any]) -> list[str]:
    return [r["id"] for r in out["ready"]]


def test_on_fail_loop_is_bounded_by_max_rounds(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = {"max_rounds": 2, "steps": [
        {"id": "code", "intent": "write"},
        {"id": "test", "intent": "test", "depends_on": ["code"], "ensure": "result.ok", "retries": 0, "on_fail": "code"},
    ]}
    pid = _start(engine, plan)
    for round_no in range(2):
        engine.step_done(pid, "code", {})
        out = engine.step_done(pid, "test", {"ok": False}, reason=f"round {round_no}")
        assert out["status"] == "reopened" and _ready(out) == ["code"]
    engine.step_done(pid, "code", {})
    out = engine.step_done(pid, "test", {"ok": False})
    assert out["status"] == "failed" and "max_rounds=2" in out["next"]
    assert engine.status(pid)["status"] == "failed"


def test_forward_on_fail_runs_a_recovery_step_and_next_goes_back(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = {"steps": [
        {"id": "test", "intent": "run tests", "ensure": "result.failed == 0", "retries": 0, "on_fail": "fix"},
        {"id": "ship", "intent": "ship", "depends_on": ["test"]},
        {"id": "fix", "intent": "fix the failure", "next": "test"},
    ]}
    pid = _start(engine, plan)
    out = engine.step_done(pid, "test", {"failed": 2})
    assert out["status"] == "reopened" and _ready(out) == ["fix"]
    assert out["ready"][0]["retry_context"]["from"] == "test"
    out = engine.step_done(pid, "fix", {"patched": True})
    assert _ready(out) == ["test"]  # `next` went back: test, ship and fix run again
    out = engine.step_done(pid, "test", {"failed": 0})
    assert _ready(out) == ["ship"]
    assert engine.step_done(pid, "ship", {})["status"] == "complete"  # the recovery step was not needed this round
    assert engine.audit(pid)["steps"][2]["status"] == "skipped"


def test_gate_approve_revise_kill_timeout_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    engine = Engine(tmp_path / ".stratum", clock=clock)
    plan = {"steps": [
        {"id": "draft", "intent": "write the design"},
        {"id": "review", "intent": "human review", "mode": "gate", "depends_on": ["draft"], "on_revise": "draft"},
        {"id": "build", "intent": "build it", "depends_on": ["review"]},
    ]}
    pid = _start(engine, plan)
    out = engine.step_done(pid, "draft", {"v": 1})
    assert _ready(out) == ["review"] and out["ready"][0]["mode"] == "gate"
    with pytest.raises(ToolFailure) as info:
        engine.step_done(pid, "review", {})
    assert info.value.code == "gate_step"
    revised = engine.gate_resolve(pid, "review", "revise", "cover the v2 routes", "ann")
    assert revised["status"] == "reopened" and _ready(revised) == ["draft"]
    assert revised["ready"][0]["retry_context"]["reason"] == "cover the v2 routes"
    engine.step_done(pid, "draft", {"v": 2})
    engine.close()
    assert main(["mcp", "gate", pid, "review", "approve", "--dir", str(tmp_path), "--by", "ann", "--rationale", "ok now"]) == 0
    assert "ready: build" in capsys.readouterr().out
    engine = Engine(tmp_path / ".stratum", clock=clock)
    audit = engine.audit(pid)
    gate = next(s for s in audit["steps"] if s["id"] == "review")
    assert gate["gate"] == {"outcome": "approve", "resolved_by": "ann", "rationale": "ok now", "method": "cli"}
    assert "Gate: approve by ann — ok now" in audit["rendered"]

    # A second plan: nobody answers the gate; after its timeout the declared outcome (kill) applies.
    plan["steps"][1]["timeout"] = 60
    pid2 = _start(engine, plan)
    engine.step_done(pid2, "draft", {"v": 1})
    clock.now += 61
    status = engine.status(pid2)
    assert status["status"] == "killed"
    assert any(e["kind"] == "gate_resolved" and e["resolved_by"] == "system" for e in engine.audit(pid2)["events"])


def test_iteration_ends_on_exit_criterion_or_stagnation(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = {"steps": [{"id": "tune", "intent": "raise the score", "max_iterations": 5, "exit_criterion": "result.score >= 0.9", "retries": 0}]}
    pid = _start(engine, plan)
    out = engine.step_done(pid, "tune", {"score": 0.5})
    assert out["status"] == "retry" and out["iteration"]["outcome"] == "continue" and out["retries_left"] == 0
    assert out["violations"] == ["exit_criterion: result.score >= 0.9 (actual: result.score=0.5)"]
    out = engine.step_done(pid, "tune", {"score": 0.95})
    assert out["status"] == "complete" and out["iteration"]["outcome"] == "exit_success"

    pid = _start(engine, plan)
    outcomes = [engine.step_done(pid, "tune", {"score": 0.6})["iteration"]["outcome"] for _ in range(3)]
    assert outcomes == ["continue", "continue", "exit_stagnation"]
    assert engine.audit(pid)["steps"][0]["outcome"] == "exit_stagnation"


def test_references_resolve_in_ready_steps_and_imply_dependencies(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = {"input": {"repo": "acme/api"}, "steps": [
        {"id": "scan", "intent": "list routes", "inputs": {"repo": "$.input.repo"}},
        {"id": "patch", "intent": "patch them", "inputs": {"routes": "$.steps.scan.output.routes", "first": "$.steps.scan.output.routes.0"}},
    ]}
    pid = engine.create(plan)["plan_id"]
    approved = engine.approve(pid, "eve")
    assert _ready(approved) == ["scan"]  # patch depends on scan through its reference
    assert approved["ready"][0]["inputs"] == {"repo": "acme/api"}
    out = engine.step_done(pid, "scan", {"routes": ["/a", "/b"]})
    assert out["ready"][0]["inputs"] == {"routes": ["/a", "/b"], "first": "/a"}
    bad = engine.validate({"steps": [{"id": "x", "intent": "y", "inputs": {"z": "$.steps.nope.output.a"}}]})
    assert bad["errors"][0]["code"] == "unknown_dependency"


def test_skip_if_file_checks_and_guardrails(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "limits.py").write_text("BUCKET = 10\n")
    (tmp_path / "outside").mkdir()
    engine = Engine(tmp_path / ".stratum")
    plan = {"input": {"fast": True}, "steps": [
        {"id": "write", "intent": "write the module", "ensure": ["file_exists('app/limits.py')", "file_contains('app/limits.py', 'BUCKET')", "int(result.n) == 3"],
         "guardrails": ["sk-[A-Za-z0-9]{20,}", "rm -rf /"]},
        {"id": "docs", "intent": "write docs", "depends_on": ["write"], "skip_if": "input.fast and steps.write.output.n == '3'"},
    ]}
    pid = _start(engine, plan)
    out = engine.step_done(pid, "write", {"n": "3", "cmd": "rm -rf / --no-preserve-root"})
    assert out["violations"] == ["guardrail: the result matches 'rm -rf /'; remove it"]
    out = engine.step_done(pid, "write", {"n": "3"})
    assert out["status"] == "complete"  # docs skipped by skip_if
    assert engine.audit(pid)["steps"][1]["status"] == "skipped"
    escape = engine.create({"steps": [{"id": "a", "intent": "b", "ensure": "file_exists('../outside')"}]})["plan_id"]
    engine.approve(escape, "eve")
    assert "contains '..'" in engine.step_done(escape, "a", {})["violations"][0]


def test_formatting_slips_do_not_spend_retries(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    schema = {"type": "object", "properties": {"passed": {"type": "integer"}}, "required": ["passed"]}
    pid = _start(engine, {"contracts": {"Tests": schema}, "steps": [{"id": "t", "intent": "run", "output": "Tests", "retries": 0}]})
    out = engine.step_done(pid, "t", {"pased": 3})
    assert out["status"] == "retry" and out["format_slip"] is True and out["retries_left"] == 0
    assert out["expected"] == {"schema": schema, "contract": "Tests"}
    out = engine.step_done(pid, "t", json.dumps({"passed": 3}))  # a JSON string is read as the JSON it holds
    assert out["status"] == "complete" and "note" in out


def test_checkpoints_and_budget_extension(tmp_path: Path) -> None:
    engine = Engine(tmp_path / ".stratum")
    pid = _start(engine, {"budget": {"tool_calls": 2}, "steps": [{"id": f"s{i}", "intent": "x", **({"depends_on": [f"s{i - 1}"]} if i else {})} for i in range(3)]})
    engine.step_done(pid, "s0", {})
    assert engine.commit(pid, "after-s0")["checkpoints"] == ["after-s0"]
    out = engine.step_done(pid, "s1", {})
    assert out["status"] == "budget_exhausted"
    assert _ready(engine.resume(pid)) == ["s2"]  # ready steps are listed after a handoff
    asked = engine.request_extension(pid, {"tool_calls": 3})
    assert asked["status"] == "awaiting_approval"
    engine.close()
    assert main(["mcp", "gate", pid, ":budget", "approve", "--dir", str(tmp_path)]) == 0
    engine = Engine(tmp_path / ".stratum")
    assert engine.status(pid)["status"] == "approved"
    reverted = engine.revert(pid, "after-s0")
    assert _ready(reverted) == ["s1"]
    audit = engine.audit(pid)
    assert any(line.startswith("Budget extended by tool_calls 3") for line in audit["rendered"].splitlines())
    assert any(line.startswith("Budget exceeded") for line in audit["rendered"].splitlines())


def test_cli_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "plan.json"
    good.write_text(json.dumps({"steps": [{"id": "a", "intent": "b"}]}))
    assert main(["mcp", "validate", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"steps": [{"id": "a", "intent": "b", "on_fail": "zz"}]}))
    assert main(["mcp", "validate", str(bad)]) == 1
    assert "unknown_step" in capsys.readouterr().out
