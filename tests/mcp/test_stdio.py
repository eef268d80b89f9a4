"""The full cycle over stdio with the official MCP client, against `python -m stratum.mcp`."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

SRC = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = pytest.mark.anyio


def _params(directory: Path) -> StdioServerParameters:
    env = {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return StdioServerParameters(command=sys.executable, args=["-m", "stratum.mcp", "--dir", str(directory)], env=env, cwd=str(directory))


@asynccontextmanager
async def _client(directory: Path, elicit: Any = None) -> AsyncIterator[ClientSession]:
    with open(os.devnull, "w") as errlog:
        async with stdio_client(_params(directory), errlog=errlog) as (read, write):
            async with ClientSession(read, write, elicitation_callback=elicit) as session:
                await session.initialize()
                yield session


async def _call(session: ClientSession, name: str, **args: Any) -> dict[str, Any]:
    result = await session.call_tool(name, args)
    assert result.structured_content is not None, result.content
    out = dict(result.structured_content)
    assert result.is_error == ("error" in out)
    return out


async def test_tools_are_listed_with_their_pinned_names(tmp_path: Path) -> None:
    async with _client(tmp_path) as session:
        tools = {t.name for t in (await session.list_tools()).tools}
    assert tools == {
        "stratum_validate", "stratum_plan", "stratum_approve", "stratum_step_done", "stratum_status",
        "stratum_handoff", "stratum_resume", "stratum_list", "stratum_audit", "stratum_gate_resolve",
        "stratum_commit", "stratum_revert", "stratum_skip_step", "stratum_budget_extend",
    }


async def test_full_cycle_with_retry_budget_signals_restart_resume_and_audit(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    seed_plan["budget"] = {"tokens": 5000, "tool_calls": 20}
    async with _client(tmp_path) as s:
        checked = await _call(s, "stratum_validate", plan=seed_plan)
        assert checked == {"valid": True, "errors": []}

        planned = await _call(s, "stratum_plan", plan=seed_plan)
        assert planned["status"] == "awaiting_approval"
        assert "1. [1] read_routes" in planned["rendered"]
        assert [st["id"] for st in planned["steps"]] == ["1", "2", "3", "4"]
        pid = planned["plan_id"]

        early = await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": []})
        assert early["error"]["code"] == "not_approved"

        approved = await _call(s, "stratum_approve", plan_id=pid, approved_by="alice")
        assert [r["id"] for r in approved["ready"]] == ["1"]

        r1 = await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": ["/api/users", "/api/v2/items"]}, usage={"tokens": 312})
        assert r1["status"] == "next" and [r["id"] for r in r1["ready"]] == ["2"]
        r2 = await _call(s, "stratum_step_done", plan_id=pid, step_id="2", result={"algorithm": "token_bucket"}, usage={"input_tokens": 700, "output_tokens": 191})
        assert r2["status"] == "next"
        # 312 + 891 + 2000 = 3203 of 5000 tokens: crosses 50%, and says so once.
        r3 = await _call(s, "stratum_step_done", plan_id=pid, step_id="3", result={"files": ["app/ratelimit.py"]}, usage={"tokens": 2000})
        assert r3["budget"]["signals"][0]["threshold"] == 0.5
        assert r3["budget"]["signals"][0]["action"] == "checkpoint"

    # Kill the server (leaving the context closes its stdin and stops it) and start a new one.
    async with _client(tmp_path) as s:
        listed = await _call(s, "stratum_list")
        assert [p["plan_id"] for p in listed["plans"]] == [pid]
        resumed = await _call(s, "stratum_resume", plan_id=pid)
        assert resumed["status"] == "approved" and [r["id"] for r in resumed["ready"]] == ["4"]
        assert "app/ratelimit.py" in resumed["brief"]  # step 4 builds on step 3's result

        fail = await _call(s, "stratum_step_done", plan_id=pid, step_id="4", result={"passed": 11, "total": 12}, usage={"tokens": 1000})
        assert fail["status"] == "retry"
        assert fail["violations"] == ["ensure: result.passed == result.total (actual: result.passed=11, result.total=12)"]
        assert fail["retries_left"] == 2
        assert fail["budget"]["signals"][0]["threshold"] == 0.8
        assert fail["budget"]["signals"][0]["action"] == "handoff"

        handoff = await _call(s, "stratum_handoff", plan_id=pid)
        assert [r["id"] for r in handoff["remaining"]] == ["4"]
        assert "last failure: ensure: result.passed == result.total" in handoff["brief"]

        # 5311 of 5000 tokens, but this report finishes the plan: complete wins over exhausted.
        done = await _call(s, "stratum_step_done", plan_id=pid, step_id="4", result={"passed": 12, "total": 12}, usage={"tokens": 1108})
        assert done["status"] == "complete" and done["ready"] == []
        assert done["budget"]["exhausted"] is True

        status = await _call(s, "stratum_status", plan_id=pid)
        assert status["progress"] == {"done": 4, "total": 4}

        audit = await _call(s, "stratum_audit", plan_id=pid)
    assert audit["approved_by"] == "alice"
    assert audit["totals"]["tokens"] == 5311  # every reported token, across the restart
    assert audit["rendered"].splitlines() == [
        "Step 1: read_routes — 1 attempt, 312 tokens",
        "Step 2: design_middleware — 1 attempt, 891 tokens",
        "Step 3: implement_middleware — 1 attempt, 2,000 tokens",
        "Step 4: write_tests — 2 attempts, 2,108 tokens",
        "  Retry reason: ensure: result.passed == result.total (actual: result.passed=11, result.total=12)",
        "Total: 5,311 tokens, 1 retry, all passing",
    ]
    kinds = [e["kind"] for e in audit["events"]]
    assert kinds[:2] == ["created", "approved"] and "resumed" in kinds and kinds[-1] == "complete"


async def test_budget_exhausted_returns_the_handoff_brief(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    seed_plan["budget"] = {"tokens": 1000}
    async with _client(tmp_path) as s:
        pid = (await _call(s, "stratum_plan", plan=seed_plan))["plan_id"]
        await _call(s, "stratum_approve", plan_id=pid, approved_by="bob")
        out = await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": []}, usage={"tokens": 1200})
    assert out["status"] == "budget_exhausted"
    assert out["ready"] == []
    assert out["budget"]["exhausted"] is True
    assert "Remaining:" in out["handoff"] and "2 design_middleware" in out["handoff"]


async def test_bad_inputs_get_structured_errors(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    async with _client(tmp_path) as s:
        assert (await _call(s, "stratum_plan", plan=42))["error"]["code"] == "invalid_plan"
        assert (await _call(s, "stratum_plan", plan={"steps": []}))["error"]["code"] == "invalid_plan"
        bad = await _call(s, "stratum_validate", plan="not json")
        assert bad["valid"] is False and bad["errors"][0]["code"] == "invalid_json"
        assert (await _call(s, "stratum_status", plan_id="p-nope"))["error"]["code"] == "unknown_plan"
        assert (await _call(s, "stratum_status", plan_id={"x": 1}))["error"]["code"] == "invalid_argument"
        pid = (await _call(s, "stratum_plan", plan=seed_plan))["plan_id"]
        assert (await _call(s, "stratum_approve", plan_id=pid, approved_by=""))["error"]["code"] == "invalid_argument"
        await _call(s, "stratum_approve", plan_id=pid, approved_by="carol")
        cases = [
            ({"step_id": "9", "result": {}}, "unknown_step"),
            ({"step_id": "2", "result": {}}, "step_not_ready"),
            ({"step_id": "1", "result": {"routes": []}, "usage": "lots"}, "invalid_usage"),
            ({"step_id": "1", "result": {"routes": []}, "usage": {"tokens": -5}}, "invalid_usage"),
            ({"step_id": "1", "result": {"routes": []}, "usage": {"gpu_hours": 1}}, "invalid_usage"),
            ({"step_id": "1", "result": "x" * 300_000}, "result_too_large"),
            ({"step_id": None, "result": {}}, "missing_argument"),
            ({"step_id": 7.5, "result": {}}, "invalid_argument"),
            ({"step_id": "1"}, "missing_argument"),
        ]
        for args, code in cases:
            out = await _call(s, "stratum_step_done", plan_id=pid, **args)
            assert out["error"]["code"] == code, (args, out)
        # Nothing above was recorded: the first real report is attempt 1.
        ok = await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": ["/"]})
        assert ok["attempt"] == 1 and ok["status"] == "next"
        again = await _call(s, "stratum_step_done", plan_id=pid, step_id="1", result={"routes": ["/"]})
        assert again["error"]["code"] == "step_already_done"


async def test_tool_arguments_are_typed_and_missing_ones_get_the_error_shape(tmp_path: Path) -> None:
    async with _client(tmp_path) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        for tool in tools.values():
            props = tool.input_schema["properties"]
            assert all("type" in p for p in props.values()), (tool.name, props)
        assert tools["stratum_plan"].input_schema["properties"]["plan"]["type"] == "object"
        assert tools["stratum_plan"].input_schema["required"] == ["plan"]
        assert tools["stratum_step_done"].input_schema["properties"]["usage"]["type"] == "object"
        assert tools["stratum_gate_resolve"].input_schema["properties"]["outcome"]["enum"] == ["approve", "revise", "kill"]
        for name in tools:
            if tools[name].input_schema["required"]:
                out = await _call(s, name)
                assert out["error"]["code"] == "missing_argument", (name, out)
                assert "required" in out["error"]["message"]


async def test_without_elicitation_the_response_says_so(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    async with _client(tmp_path) as s:
        planned = await _call(s, "stratum_plan", plan=seed_plan)
        assert planned["status"] == "awaiting_approval"
        assert planned["elicitation"].startswith("unavailable")
        await _call(s, "stratum_approve", plan_id=planned["plan_id"], approved_by="ann")
        asked = await _call(s, "stratum_budget_extend", plan_id=planned["plan_id"], budget={"tool_calls": 5})
        assert asked["status"] == "awaiting_approval" and asked["elicitation"].startswith("unavailable")
        assert f"stratum mcp gate {planned['plan_id']} :budget approve" in asked["next"]


async def test_approval_through_elicitation(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True, "approved_by": "dana"})

    async with _client(tmp_path, elicit) as s:
        planned = await _call(s, "stratum_plan", plan=seed_plan)
        audit = await _call(s, "stratum_audit", plan_id=planned["plan_id"])
    assert "read_routes" in asked[0]
    assert planned["status"] == "approved"
    assert [r["id"] for r in planned["approval"]["ready"]] == ["1"]
    assert audit["approved_by"] == "dana" and audit["approval_method"] == "elicitation"


async def test_declined_elicitation_rejects_the_plan(tmp_path: Path, seed_plan: dict[str, Any]) -> None:
    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with _client(tmp_path, elicit) as s:
        planned = await _call(s, "stratum_plan", plan=seed_plan)
        out = await _call(s, "stratum_step_done", plan_id=planned["plan_id"], step_id="1", result={"routes": []})
    assert planned["status"] == "rejected"
    assert out["error"]["code"] == "plan_closed"
