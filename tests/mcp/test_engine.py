"""The engine in-process: retries, failure, minutes, step budgets, crash safety, concurrency."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stratum.mcp import Engine, ToolFailure

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _linear(n: int, **step: Any) -> dict[str, Any]:
    return {"name": "linear", "steps": [{"id": f"s{i}", "intent": f"step {i}", **({"depends_on": [f"s{i - 1}"]} if i else {}), **step} for i in range(n)]}


def test_retries_run_out_and_the_plan_fails(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create(_linear(2, ensure=["result.ok == true"], retries=1))["plan_id"]
    engine.approve(pid, "eve")
    first = engine.step_done(pid, "s0", {"ok": False})
    assert (first["status"], first["retries_left"]) == ("retry", 1)
    second = engine.step_done(pid, "s0", {"ok": False})
    assert (second["status"], second["retries_left"], second["ready"]) == ("failed", 0, [])
    with pytest.raises(ToolFailure) as info:
        engine.step_done(pid, "s0", {"ok": True})
    assert info.value.code == "plan_closed"
    assert engine.audit(pid)["rendered"].endswith("Total: 0 tokens, 1 retry, 0/2 passing, 1 failed (failed)")


def test_schema_violations_name_the_rule_and_value(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = _linear(1, output={"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}}, "required": ["count"]}, ensure=["result.count < 10"])
    pid = engine.create(plan)["plan_id"]
    engine.approve(pid, "eve")
    out = engine.step_done(pid, "s0", {"count": 0})
    assert out["violations"] == ["schema: result.count: 0 is less than the minimum of 1 (rule: minimum)"]
    out = engine.step_done(pid, "s0", {"count": 12})
    assert out["violations"] == ["ensure: result.count < 10 (actual: result.count=12)"]


def test_independent_steps_are_ready_together(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    plan = {"steps": [{"id": "a", "intent": "x"}, {"id": "b", "intent": "y"}, {"id": "c", "intent": "z", "depends_on": ["a", "b"]}]}
    pid = engine.create(plan)["plan_id"]
    assert [r["id"] for r in engine.approve(pid, "eve")["ready"]] == ["a", "b"]
    assert [r["id"] for r in engine.step_done(pid, "a", {})["ready"]] == ["b"]
    assert [r["id"] for r in engine.step_done(pid, "b", {})["ready"]] == ["c"]


def test_minutes_are_measured_from_approval(tmp_path: Path) -> None:
    clock = Clock()
    engine = Engine(tmp_path, clock=clock)
    plan = _linear(3)
    plan["budget"] = {"minutes": 10}
    pid = engine.create(plan)["plan_id"]
    clock.now += 3600  # time before approval does not count
    engine.approve(pid, "eve")
    clock.now += 6 * 60
    out = engine.step_done(pid, "s0", {})
    assert out["budget"]["spent"]["minutes"] == 6.0
    assert out["budget"]["signals"][0]["threshold"] == 0.5
    clock.now += 4 * 60
    out = engine.step_done(pid, "s1", {})
    assert out["status"] == "budget_exhausted" and "s2" in out["handoff"]
    assert engine.status(pid)["status"] == "budget_exhausted"


def test_a_step_over_its_own_budget_gets_no_retry(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create(_linear(1, ensure=["result.ok"], retries=5, budget={"tokens": 1000}))["plan_id"]
    engine.approve(pid, "eve")
    assert engine.step_done(pid, "s0", {"ok": False}, {"tokens": 400})["status"] == "retry"
    out = engine.step_done(pid, "s0", {"ok": False}, {"tokens": 700})
    assert out["status"] == "failed"
    assert out["violations"][-1] == "step budget: tokens 1100 of 1000 spent, no retry fits"


def test_completed_plans_are_kept(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create(_linear(1))["plan_id"]
    engine.approve(pid, "eve")
    assert engine.step_done(pid, "s0", {"x": 1})["status"] == "complete"
    engine.close()
    reopened = Engine(tmp_path)
    assert reopened.list_plans()["plans"][0]["status"] == "complete"
    assert reopened.audit(pid)["steps"][0]["status"] == "done"  # attempt_log is kept for steps that retried


_KILL_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from stratum.mcp import Engine
    engine = Engine(Path(sys.argv[1]))
    real_event = engine._event
    def die(c, pid, kind, data):
        real_event(c, pid, kind, data)
        if kind == "attempt":  # attempt and step rows are written, the commit is not
            os.kill(os.getpid(), signal.SIGKILL)
    engine._event = die
    engine.step_done(sys.argv[2], "s0", {"ok": True}, {"tokens": 50})
    """
)


def test_a_server_killed_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create(_linear(2))["plan_id"]
    engine.approve(pid, "eve")
    engine.close()
    proc = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(tmp_path), pid], env={**os.environ, "PYTHONPATH": SRC}, capture_output=True)
    assert proc.returncode == -9
    conn = sqlite3.connect(tmp_path / "mcp.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0
    conn.close()
    engine = Engine(tmp_path)
    status = engine.status(pid)
    assert status["steps"][0]["attempts"] == 0 and status["budget"]["spent"]["tokens"] == 0
    out = engine.step_done(pid, "s0", {"ok": True}, {"tokens": 50})
    assert out["attempt"] == 1 and out["status"] == "next"


_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from stratum.mcp import Engine
    engine = Engine(Path(sys.argv[1]))
    plan_id, parity = sys.argv[2], int(sys.argv[3])
    for i in range(parity, 40, 2):
        engine.step_done(plan_id, f"s{i}", {"i": i}, {"tokens": 10, "tool_calls": 1})
    """
)


def test_two_processes_on_one_store_do_not_corrupt_it(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create({"steps": [{"id": f"s{i}", "intent": "parallel"} for i in range(40)]})["plan_id"]
    engine.approve(pid, "eve")
    env = {**os.environ, "PYTHONPATH": SRC}
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), pid, str(k)], env=env, stderr=subprocess.PIPE) for k in (0, 1)]
    for w in workers:
        _, err = w.communicate(timeout=60)
        assert w.returncode == 0, err.decode()
    audit = engine.audit(pid)
    assert audit["status"] == "complete"
    assert audit["totals"]["tokens"] == 400 and audit["totals"]["tool_calls"] == 40
    assert audit["totals"]["attempts"] == 40  # attempts are in the steps, not repeated as events
    conn = sqlite3.connect(tmp_path / "mcp.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _without_extra(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a Python where the MCP SDK cannot be imported."""
    prelude = "import sys; sys.modules['mcp'] = None; sys.modules['jsonschema'] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], env={**os.environ, "PYTHONPATH": SRC},
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)


def test_importing_without_the_extra_names_the_install_command(tmp_path: Path) -> None:
    out = _without_extra("try:\n from stratum.mcp import build_server\nexcept ImportError as e:\n print(e)", tmp_path)
    assert "pip install 'stratum[mcp]'" in out.stdout


def test_serve_without_the_extra_prints_one_line_and_uninstall_still_works(tmp_path: Path) -> None:
    served = _without_extra("from stratum.cli import main; sys.exit(main(['mcp', 'serve']))", tmp_path)
    assert served.returncode == 1
    assert served.stderr.strip().count("\n") == 0 and "pip install 'stratum[mcp]'" in served.stderr
    assert "Traceback" not in served.stderr
    installed = _without_extra("from stratum.cli import main; sys.exit(main(['mcp', 'install', '--dir', '.']))", tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / ".mcp.json").exists()
    removed = _without_extra("from stratum.cli import main; sys.exit(main(['mcp', 'uninstall', '--dir', '.']))", tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert not (tmp_path / ".mcp.json").exists()


def test_audit_json_shape(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    pid = engine.create(_linear(1))["plan_id"]
    engine.approve(pid, "eve")
    engine.step_done(pid, "s0", {}, {"input_tokens": 10, "output_tokens": 5, "usd": 0.002})
    audit = engine.audit(pid)
    step = audit["steps"][0]
    assert {"function", "status", "attempts", "input_tokens", "output_tokens", "cost_usd", "duration_ms", "retry_reasons"} <= set(step)
    assert {"attempts", "retries", "input_tokens", "output_tokens", "cost_usd", "duration_ms"} <= set(audit["totals"])
    assert audit["rendered"] == "Step 1: s0 — 1 attempt, 15 tokens, $0.0020\nTotal: 15 tokens, $0.0020, 0 retries, all passing"
    json.dumps(audit)
