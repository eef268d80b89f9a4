"""The MCP server: each tool is a thin async wrapper over `Engine`, returning structured JSON.

Every tool lists a typed argument schema (`plan` and `result` are objects, ids are strings),
but the Python parameters are `Any` with defaults: the SDK then never rejects a call with
pydantic text before our code runs, and a missing or wrong argument comes back in the
documented `{"error": {"code", "message"}}` shape, naming the fix. Engine calls run in a worker
thread, so a slow check never stops the server answering other calls.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from stratum.mcp._engine import Engine, ToolFailure

__all__ = ("build_server", "main", "resolve_directory")

INSTRUCTIONS = """\
Stratum gives you an execution model for non-trivial tasks. Write the plan first as JSON
(steps with id, intent, output schema, depends_on, ensure expressions over `result`, retries,
on_fail to send a failure back to the step that caused it; a plan budget), check it with
stratum_validate, submit it with stratum_plan, get it approved, then run each ready step with
your own tools and report it with stratum_step_done. A failed check comes back with only the
violations: fix those, report again. `reopened` means an earlier step runs again with the
failure as its retry_context. Watch the budget signals; at 80% call stratum_handoff. Finish
with stratum_audit and show the user its table."""

_PLAN_DOC = "The plan: {name, contracts?, input?, max_rounds?, budget?, steps: [{id, intent|fn, output, depends_on, ensure, retries, on_fail, next, mode, ...}]}"

_STR = {"type": "string"}
_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_SCHEMAS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "stratum_validate": ({"plan": {"type": "object", "description": _PLAN_DOC}}, ["plan"]),
    "stratum_plan": ({"plan": {"type": "object", "description": _PLAN_DOC}}, ["plan"]),
    "stratum_approve": ({"plan_id": _ID, "approved_by": {**_STR, "description": "who approved (the user's name)"}}, ["plan_id", "approved_by"]),
    "stratum_step_done": ({
        "plan_id": _ID, "step_id": _ID,
        "result": {"type": ["object", "array", "string", "number", "integer", "boolean"], "description": "the step's output, matching its output schema"},
        "usage": {"type": "object", "description": "what the step cost", "additionalProperties": False, "properties": {
            "input_tokens": {"type": "integer", "minimum": 0}, "output_tokens": {"type": "integer", "minimum": 0},
            "tokens": {"type": "integer", "minimum": 0}, "tool_calls": {"type": "integer", "minimum": 0},
            "usd": {"type": "number", "minimum": 0}, "cost_usd": {"type": "number", "minimum": 0}}},
        "reason": {**_STR, "description": "when the step failed: the failure in your words (shown in the audit)"},
    }, ["plan_id", "step_id", "result"]),
    "stratum_status": ({"plan_id": _ID}, ["plan_id"]),
    "stratum_handoff": ({"plan_id": _ID}, ["plan_id"]),
    "stratum_resume": ({"plan_id": _ID}, ["plan_id"]),
    "stratum_list": ({"status": {**_STR, "description": "only plans with this status"}}, []),
    "stratum_audit": ({"plan_id": _ID, "format": {"type": "string", "enum": ["table", "md"], "description": "rendering of `rendered`"}}, ["plan_id"]),
    "stratum_gate_resolve": ({
        "plan_id": _ID, "step_id": {**_ID, "description": "the gate step (or ':budget' for a pending budget extension)"},
        "outcome": {"type": "string", "enum": ["approve", "revise", "kill"]},
        "rationale": {**_STR, "description": "why, in the human's words"},
        "resolved_by": {**_STR, "description": "who decided: a name, or human/agent/system"},
    }, ["plan_id", "step_id", "outcome", "resolved_by"]),
    "stratum_commit": ({"plan_id": _ID, "label": {**_STR, "minLength": 1}}, ["plan_id", "label"]),
    "stratum_revert": ({"plan_id": _ID, "label": {**_STR, "minLength": 1}}, ["plan_id", "label"]),
    "stratum_skip_step": ({"plan_id": _ID, "step_id": _ID, "reason": {**_STR, "minLength": 1}}, ["plan_id", "step_id", "reason"]),
    "stratum_budget_extend": ({"plan_id": _ID, "budget": {"type": "object", "description": "amounts to add", "properties": {
        "tool_calls": {"type": "integer", "minimum": 1}, "tokens": {"type": "integer", "minimum": 1},
        "minutes": {"type": "number", "exclusiveMinimum": 0}, "usd": {"type": "number", "exclusiveMinimum": 0}}}}, ["plan_id", "budget"]),
}

_NO_ELICITATION = ("unavailable: this client cannot ask the user from the server (no MCP elicitation), so nothing was asked. "
                   "Show the user the request yourself and wait for their answer.")


class _Approval(BaseModel):
    approve: bool = Field(description="Approve this plan and let the agent start?")
    approved_by: str = Field(default="", description="Your name, recorded in the audit")


class _Extension(BaseModel):
    approve: bool = Field(description="Give this plan more budget?")
    approved_by: str = Field(default="", description="Your name, recorded in the audit")


def resolve_directory(explicit: str | None) -> Path:
    """The `.stratum/` directory: `--dir`, else $STRATUM_DIR, else $CLAUDE_PROJECT_DIR, else cwd."""
    base = explicit or os.environ.get("STRATUM_DIR") or os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    path = Path(base).expanduser().resolve()
    return path if path.name == ".stratum" else path / ".stratum"


def _result(payload: dict[str, Any], *, error: bool = False) -> CallToolResult:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=payload, is_error=error)


def _failure(exc: BaseException) -> CallToolResult:
    if isinstance(exc, ToolFailure):
        return _result(exc.to_json(), error=True)
    return _result({"error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}. This is a Stratum bug; the store is unchanged (the transaction rolled back)."}}, error=True)


async def _run(fn: Callable[[], dict[str, Any]]) -> CallToolResult:
    """Run an engine call in a worker thread (the event loop keeps answering other calls)."""
    try:
        return _result(await anyio.to_thread.run_sync(fn))
    except ToolFailure as exc:
        return _result(exc.to_json(), error=True)
    except Exception as exc:  # a bug must still come back as a structured error, not kill the session
        return _result({"error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}. This is a Stratum bug; the store is unchanged (the transaction rolled back)."}}, error=True)


def _elicitation_supported(ctx: Context[Any, Any]) -> bool:
    try:
        caps = ctx.client_capabilities
    except Exception:  # no request context (direct calls in tests)
        return False
    return caps is not None and caps.elicitation is not None


async def _ask(ctx: Context[Any, Any], message: str, schema: type[_Approval] | type[_Extension]) -> tuple[str, bool, str] | str:
    """Ask the human; returns (action, approve, who), or why nothing could be asked."""
    if not _elicitation_supported(ctx):
        return _NO_ELICITATION
    try:
        answer = await ctx.elicit(message, schema)
    except Exception as exc:  # e.g. NoBackChannelError: the client advertised it but cannot answer here
        return f"unavailable: asking the user failed ({type(exc).__name__}), so nothing was asked. Show the user the request yourself and wait for their answer."
    if answer.action == "accept":
        return ("accept", bool(answer.data.approve), answer.data.approved_by.strip())
    return (answer.action, False, "")


def build_server(directory: Path) -> MCPServer[Any]:
    """An `MCPServer` named `stratum` whose tools use the store in `directory`."""
    engine = Engine(directory)

    async def stratum_validate(plan: Any = None) -> CallToolResult:
        """Check a plan; returns {valid, errors} with every problem at once (cycles, unknown or duplicate ids, invalid or unsafe schemas, unsafe ensure expressions, unknown routing targets)."""
        return await _run(lambda: engine.validate(plan))

    async def stratum_plan(ctx: Context[Any, Any], plan: Any = None) -> CallToolResult:
        """Submit a plan; returns {plan_id, status, rendered, steps, contracts}. Status is awaiting_approval until the user approves (asked directly when the client supports elicitation, else via stratum_approve; `elicitation` says which)."""
        try:
            created = await anyio.to_thread.run_sync(lambda: engine.create(plan))
            asked = await _ask(ctx, f"{created['rendered']}\n\nApprove this plan?", _Approval)
            if isinstance(asked, str):
                created["elicitation"] = asked
                return _result(created)
            action, yes, who = asked
            pid = created["plan_id"]
            if action == "accept" and yes:
                decided = await anyio.to_thread.run_sync(lambda: engine.approve(pid, who or "user (via elicitation)", method="elicitation"))
            elif action in ("accept", "decline"):
                decided = await anyio.to_thread.run_sync(lambda: engine.reject(pid, who or "user (declined elicitation)"))
            else:
                created["elicitation"] = "the user dismissed the question; the plan is still awaiting approval"
                return _result(created)
            created.update(status=decided["status"], approval=decided, elicitation="asked")
            created["next"] = (
                "Approved by the user: run the ready steps and report each with stratum_step_done."
                if decided["status"] == "approved" else "The user declined the plan: ask what to change and submit a new plan."
            )
            return _result(created)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a structured error
            if isinstance(exc, (KeyboardInterrupt, SystemExit, anyio.get_cancelled_exc_class())):
                raise
            return _failure(exc)

    async def stratum_approve(plan_id: Any = None, approved_by: Any = None) -> CallToolResult:
        """Record the user's approval of a plan (when the client cannot ask them directly). Starts the budget clock; returns the ready steps."""
        return await _run(lambda: engine.approve(plan_id, approved_by))

    async def stratum_step_done(plan_id: Any = None, step_id: Any = None, result: Any = None, usage: Any = None, reason: Any = None) -> CallToolResult:
        """Report a step's result (JSON matching its output schema), usage {input_tokens, output_tokens, tool_calls, usd} and, when it failed, the reason in your words. Returns {status: next|retry|reopened|complete|budget_exhausted|failed, ready, violations, retries_left, budget}; `reopened` puts an earlier step back in `ready` with a `retry_context`."""
        return await _run(lambda: engine.step_done(plan_id, step_id, result, usage, reason))

    async def stratum_status(plan_id: Any = None) -> CallToolResult:
        """Progress, ready steps and budget state of a plan."""
        return await _run(lambda: engine.status(plan_id))

    async def stratum_handoff(plan_id: Any = None) -> CallToolResult:
        """The remaining work of a plan as a compact brief for a fresh context."""
        return await _run(lambda: engine.handoff(plan_id))

    async def stratum_resume(plan_id: Any = None) -> CallToolResult:
        """Pick a plan up after a restart or in a fresh context: state, ready steps, brief."""
        return await _run(lambda: engine.resume(plan_id))

    async def stratum_list(status: Any = None) -> CallToolResult:
        """Every plan in this project's store, newest first (optionally filtered by status)."""
        return await _run(lambda: engine.list_plans(status))

    async def stratum_audit(plan_id: Any = None, format: Any = None) -> CallToolResult:
        """The structured trace of a plan (steps, attempts charged to the step that was wrong, retry reasons, gates, budget events) and the rendered audit table (`format`: table or md)."""
        def go() -> dict[str, Any]:
            if format not in (None, "table", "md"):
                raise ToolFailure("invalid_argument", "`format` is 'table' or 'md'")
            return engine.audit(plan_id, format=format or "table")
        return await _run(go)

    async def stratum_gate_resolve(plan_id: Any = None, step_id: Any = None, outcome: Any = None, rationale: Any = None, resolved_by: Any = None) -> CallToolResult:
        """Resolve a gate step waiting for a human: approve (continue, or go to on_approve), revise (back to on_revise, a new round), kill (stop, or go to on_kill). Only on the human's word."""
        return await _run(lambda: engine.gate_resolve(plan_id, step_id, outcome, rationale, resolved_by))

    async def stratum_commit(plan_id: Any = None, label: Any = None) -> CallToolResult:
        """Save a named checkpoint of the plan's step states; stratum_revert(label) returns to it."""
        return await _run(lambda: engine.commit(plan_id, label))

    async def stratum_revert(plan_id: Any = None, label: Any = None) -> CallToolResult:
        """Return the plan's step states to a checkpoint saved by stratum_commit; returns the ready steps."""
        return await _run(lambda: engine.revert(plan_id, label))

    async def stratum_skip_step(plan_id: Any = None, step_id: Any = None, reason: Any = None) -> CallToolResult:
        """Skip a step that has not passed, with the reason (shown in the audit); its dependents may run."""
        return await _run(lambda: engine.skip_step(plan_id, step_id, reason))

    async def stratum_budget_extend(ctx: Context[Any, Any], plan_id: Any = None, budget: Any = None) -> CallToolResult:
        """Ask the user for more budget (amounts to add). The user is asked directly when the client supports elicitation; otherwise they approve with `stratum mcp gate PLAN_ID :budget approve`."""
        try:
            requested = await anyio.to_thread.run_sync(lambda: engine.request_extension(plan_id, budget))
            pid = requested["plan_id"]
            spent = requested["budget"]["spent"]
            asked = await _ask(ctx, f"Plan {pid} asks for more budget: {requested['extend_by']} (spent so far: {spent}). Extend it?", _Extension)
            if isinstance(asked, str):
                requested["elicitation"] = asked
                requested["next"] = (f"Ask the user. They approve in a terminal with `stratum mcp gate {pid} :budget approve` "
                                     f"(or you call stratum_gate_resolve(plan_id, ':budget', 'approve', rationale, resolved_by) with their words).")
                return _result(requested)
            action, yes, who = asked
            if action not in ("accept", "decline"):
                requested["elicitation"] = "the user dismissed the question; the extension is still waiting"
                return _result(requested)
            decided = await anyio.to_thread.run_sync(lambda: engine.resolve_extension(pid, action == "accept" and yes, who or "user (via elicitation)", method="elicitation"))
            decided["elicitation"] = "asked"
            return _result(decided)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a structured error
            if isinstance(exc, (KeyboardInterrupt, SystemExit, anyio.get_cancelled_exc_class())):
                raise
            return _failure(exc)

    functions: list[Callable[..., Any]] = [
        stratum_validate, stratum_plan, stratum_approve, stratum_step_done, stratum_status, stratum_handoff,
        stratum_resume, stratum_list, stratum_audit, stratum_gate_resolve, stratum_commit, stratum_revert,
        stratum_skip_step, stratum_budget_extend,
    ]
    tools: list[Tool] = []
    for fn in functions:
        properties, required = _SCHEMAS[fn.__name__]
        tool = Tool.from_function(fn, name=fn.__name__, description=(fn.__doc__ or "").strip())
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required, "title": f"{fn.__name__}Arguments"}
        tools.append(tool.model_copy(update={"parameters": schema}))
    return MCPServer("stratum", instructions=INSTRUCTIONS, log_level="WARNING", tools=tools)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve over stdio: `python -m stratum.mcp [--dir DIR]`."""
    parser = argparse.ArgumentParser(prog="stratum mcp serve", description="Serve Stratum's MCP tools over stdio.")
    parser.add_argument("--dir", default=None, help="project directory (default: $STRATUM_DIR, $CLAUDE_PROJECT_DIR or cwd)")
    args = parser.parse_args(argv)
    serve(args.dir)
    return 0


def serve(directory: str | None = None) -> None:
    """Run the server on stdio until the client disconnects."""
    build_server(resolve_directory(directory)).run("stdio")
