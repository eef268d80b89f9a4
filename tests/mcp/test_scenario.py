"""The motivating scenario end to end over the real stdio transport: step 4's failure reopens step 3.

"Add rate limiting to all API endpoints. Exclude health checks. Use token bucket. Write tests."
Step 4's tests fail with "middleware not applied to the /api/v2/ prefix"; that failure goes back
to step 3 as its retry context, Claude fixes the prefix, step 4 passes, and the audit charges the
retry to step 3 with the reason a human would read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from stratum.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")
REASON = "middleware not applied to /api/v2/ prefix — only /api/ covered"

pytestmark = pytest.mark.anyio


async def _call(session: ClientSession, name: str, **args: Any) -> dict[str, Any]:
    result = await session.call_tool(name, args)
    assert result.structured_content is not None, result.content
    out = dict(result.structured_content)
    assert result.is_error == ("error" in out), out
    return out


async def test_step_4_failure_reopens_step_3_and_the_audit_says_why(tmp_path: Path, seed_plan: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    seed_plan["steps"][3].update(retries=0, on_fail="3")
    env = {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "stratum.mcp", "--dir", str(tmp_path)], env=env, cwd=str(tmp_path))
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            assert (await _call(s, "stratum_validate", plan=seed_plan))["valid"] is True
            pid = (await _call(s, "stratum_plan", plan=seed_plan))["plan_id"]
            await _call(s, "stratum_approve", plan_id=pid, approved_by="dev")
            await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": ["/api/users", "/api/v2/items", "/health"]}, usage={"tokens": 312})
            await _call(s, "stratum_step_done", plan_id=pid, step_id="2", result={"algorithm": "token_bucket", "exclude": ["/health"]}, usage={"tokens": 891})
            first = await _call(s, "stratum_step_done", plan_id=pid, step_id="3", result={"files": ["app/ratelimit.py"]}, usage={"tokens": 600})
            assert [r["id"] for r in first["ready"]] == ["4"]

            failed = await _call(s, "stratum_step_done", plan_id=pid, step_id="4", result={"passed": 11, "total": 12},
                                 usage={"tokens": 2108}, reason=REASON)
            assert failed["status"] == "reopened"
            assert [r["id"] for r in failed["ready"]] == ["3"]
            context = failed["ready"][0]["retry_context"]
            assert context == {"from": "4", "violations": ["ensure: result.passed == result.total (actual: result.passed=11, result.total=12)"], "reason": REASON}
            assert failed["contracts"]["MiddlewareCode"]["required"] == ["files"]  # the shape, once

            fixed = await _call(s, "stratum_step_done", plan_id=pid, step_id="3", result={"files": ["app/ratelimit.py", "app/routes_v2.py"]}, usage={"tokens": 604})
            assert fixed["status"] == "next" and [r["id"] for r in fixed["ready"]] == ["4"]
            assert "retry_context" not in fixed["ready"][0]
            done = await _call(s, "stratum_step_done", plan_id=pid, step_id="4", result={"passed": 12, "total": 12}, usage={"tokens": 0})
            assert done["status"] == "complete"

            audit = await _call(s, "stratum_audit", plan_id=pid)
    steps = {st["id"]: st for st in audit["steps"]}
    assert steps["3"]["attempts"] == 2 and steps["3"]["retry_reasons"] == [REASON]
    assert steps["3"]["tokens"] == 600 + 604 + 2108  # the failed run of step 4 is charged to step 3
    assert steps["4"]["attempts"] == 1 and steps["4"]["retry_reasons"] == []
    assert audit["rendered"].splitlines() == [
        "Step 1: read_routes — 1 attempt, 312 tokens",
        "Step 2: design_middleware — 1 attempt, 891 tokens",
        "Step 3: implement_middleware — 2 attempts, 3,312 tokens",
        f"  Retry reason: {REASON}",
        "Step 4: write_tests — 1 attempt, 0 tokens",
        "Total: 4,515 tokens, 2 retries, all passing",
    ]
    assert any(e["kind"] == "round_archived" and e["from"] == "4" and e["to"] == "3" for e in audit["events"])

    # The audit to commit with the code, from a terminal.
    assert main(["mcp", "audit", pid, "--dir", str(tmp_path), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "| 3 | implement_middleware | done | 2 | 3,312 |" in md and REASON in md
