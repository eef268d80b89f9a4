"""The MCP server: each tool is a thin async wrapper over `Engine`, returning structured JSON.

Tool arguments are typed `Any` on purpose: the SDK would otherwise reject a wrong type with a
plain-text error before our code runs, and agents need a structured error naming the fix.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from stratum.mcp._engine import Engine, ToolFailure

__all__ = ("build_server", "main", "resolve_directory")

INSTRUCTIONS = """\
Stratum gives you an execution model for non-trivial tasks. Write the plan first as JSON
(steps with id, intent, output schema, depends_on, ensure expressions over `result`, retries;
a plan budget), check it with stratum_validate, submit it with stratum_plan, get it approved,
then run each ready step with your own tools and report it with stratum_step_done. A failed
check comes back with only the violations: fix those, report again. Watch the budget signals;
at 80% call stratum_handoff. Finish with stratum_audit and show the user its table."""

_PLAN_DOC = "The plan JSON object: {name, contracts?, steps: [{id, intent|fn, output, depends_on, ensure, retries, budget?}], budget?}"


class _Approval(BaseModel):
    approve: bool = Field(description="Approve this plan and let the agent start?")
    approved_by: str = Field(default="", description="Your name, recorded in the audit")


def resolve_directory(explicit: str | None) -> Path:
    """The `.stratum/` directory: `--dir`, else $STRATUM_DIR, else $CLAUDE_PROJECT_DIR, else cwd."""
    base = explicit or os.environ.get("STRATUM_DIR") or os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    path = Path(base).expanduser().resolve()
    return path if path.name == ".stratum" else path / ".stratum"


def _result(payload: dict[str, Any], *, error: bool = False) -> CallToolResult:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=payload, is_error=error)


async def _run(fn: Callable[[], dict[str, Any]] | Callable[[], Awaitable[dict[str, Any]]]) -> CallToolResult:
    try:
        out = fn()
        if isinstance(out, Awaitable):
            out = await out
        return _result(out)
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


async def _elicit_approval(engine: Engine, ctx: Context[Any, Any], plan_id: str, rendered: str) -> dict[str, Any] | None:
    """Ask the human through the client; None when the client cannot ask or the user dismissed it."""
    if not _elicitation_supported(ctx):
        return None
    try:
        answer = await ctx.elicit(f"{rendered}\n\nApprove this plan?", _Approval)
    except Exception:  # a client that advertised elicitation but failed to answer: fall back to the tool
        return None
    if answer.action == "accept":
        who = answer.data.approved_by.strip() or "user (via elicitation)"
        if answer.data.approve:
            return engine.approve(plan_id, who, method="elicitation")
        return engine.reject(plan_id, who)
    if answer.action == "decline":
        return engine.reject(plan_id, "user (declined elicitation)")
    return None


def build_server(directory: Path) -> MCPServer[Any]:
    """An `MCPServer` named `stratum` whose tools use the store in `directory`."""
    engine = Engine(directory)
    server: MCPServer[Any] = MCPServer("stratum", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(name="stratum_validate", description="Check a plan; returns {valid, errors} with every problem at once (cycles, unknown or duplicate ids, invalid schemas, unsafe ensure expressions).")
    async def stratum_validate(plan: Annotated[Any, Field(description=_PLAN_DOC)]) -> CallToolResult:
        return await _run(lambda: engine.validate(plan))

    @server.tool(name="stratum_plan", description="Submit a plan; returns {plan_id, status, rendered, steps}. Status is awaiting_approval until the user approves (asked directly when the client supports elicitation, else via stratum_approve).")
    async def stratum_plan(plan: Annotated[Any, Field(description=_PLAN_DOC)], ctx: Context[Any, Any]) -> CallToolResult:
        async def go() -> dict[str, Any]:
            created = engine.create(plan)
            decided = await _elicit_approval(engine, ctx, created["plan_id"], created["rendered"])
            if decided is not None:
                created.update(status=decided["status"], approval=decided)
                created["next"] = (
                    "Approved by the user: run the ready steps and report each with stratum_step_done."
                    if decided["status"] == "approved" else "The user declined the plan: ask what to change and submit a new plan."
                )
            return created
        return await _run(go)

    @server.tool(name="stratum_approve", description="Record the user's approval of a plan (when the client cannot ask them directly). Starts the budget clock; returns the ready steps.")
    async def stratum_approve(
        plan_id: Annotated[Any, Field(description="The plan id from stratum_plan")],
        approved_by: Annotated[Any, Field(description="Who approved (the user's name), recorded in the audit")],
    ) -> CallToolResult:
        return await _run(lambda: engine.approve(plan_id, approved_by))

    @server.tool(name="stratum_step_done", description="Report a step's result (JSON matching its output schema) and usage {input_tokens, output_tokens, tool_calls, usd}. Returns {status: next|retry|complete|budget_exhausted|failed, ready, violations, retries_left, budget}.")
    async def stratum_step_done(
        plan_id: Annotated[Any, Field(description="The plan id")],
        step_id: Annotated[Any, Field(description="The step id")],
        result: Annotated[Any, Field(description="The step's output, as JSON")],
        usage: Annotated[Any, Field(description="What the step cost: {input_tokens, output_tokens, tokens, tool_calls, usd}")] = None,
    ) -> CallToolResult:
        return await _run(lambda: engine.step_done(plan_id, step_id, result, usage))

    @server.tool(name="stratum_status", description="Progress, ready steps and budget state of a plan.")
    async def stratum_status(plan_id: Annotated[Any, Field(description="The plan id")]) -> CallToolResult:
        return await _run(lambda: engine.status(plan_id))

    @server.tool(name="stratum_handoff", description="The remaining work of a plan as a compact brief for a fresh context.")
    async def stratum_handoff(plan_id: Annotated[Any, Field(description="The plan id")]) -> CallToolResult:
        return await _run(lambda: engine.handoff(plan_id))

    @server.tool(name="stratum_resume", description="Pick a plan up after a restart or in a fresh context: state, ready steps, brief.")
    async def stratum_resume(plan_id: Annotated[Any, Field(description="The plan id")]) -> CallToolResult:
        return await _run(lambda: engine.resume(plan_id))

    @server.tool(name="stratum_list", description="Every plan in this project's store, newest first (optionally filtered by status).")
    async def stratum_list(status: Annotated[Any, Field(description="Only plans with this status")] = None) -> CallToolResult:
        return await _run(lambda: engine.list_plans(status))

    @server.tool(name="stratum_audit", description="The structured trace of a plan (steps, attempts, retry reasons, usage, events) and the rendered audit table.")
    async def stratum_audit(plan_id: Annotated[Any, Field(description="The plan id")]) -> CallToolResult:
        return await _run(lambda: engine.audit(plan_id))

    return server


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
