"""Text renderings for humans: the plan to approve, the handoff brief, the audit table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from stratum.mcp._plan import AXES, Plan

__all__ = ("render_audit", "render_budget", "render_handoff", "render_plan")

_UNITS = MappingProxyType({"tool_calls": "tool calls", "tokens": "tokens", "minutes": "minutes", "usd": "USD"})


def render_plan(plan_id: str, plan: Plan) -> str:
    """The plan as a numbered list a human can review before approving."""
    lines = [f"Plan {plan_id}: {plan.name}"]
    for step in plan.steps:
        head = f"{step.position}. [{step.id}] {step.name}"
        if step.intent and step.intent != step.name:
            head += f": {step.intent}"
        lines.append(head)
        if step.depends_on:
            lines.append(f"   after: {', '.join(step.depends_on)}")
        if step.output is not None:
            lines.append(f"   output: {step.output_name or _compact(step.output, 100)}")
        for expr in step.ensure:
            lines.append(f"   ensure: {expr.source}")
        lines.append(f"   retries: {step.retries}")
    limits = plan.budget.to_json()
    lines.append("Budget: " + (", ".join(f"{_num(limits[a])} {_UNITS[a]}" for a in AXES if a in limits) or "unlimited"))
    return "\n".join(lines)


def render_budget(budget: Mapping[str, Any]) -> str:
    """`6/8 tool calls, 2.1/3 minutes` (spent/limit on each limited axis)."""
    limits: Mapping[str, Any] = budget.get("limits", {})
    spent: Mapping[str, Any] = budget.get("spent", {})
    if not limits:
        return "unlimited (spent: " + ", ".join(f"{_num(spent.get(a, 0))} {_UNITS[a]}" for a in AXES) + ")"
    return ", ".join(f"{_num(spent.get(a, 0))}/{_num(limits[a])} {_UNITS[a]}" for a in AXES if a in limits)


def render_handoff(
    plan_id: str,
    name: str,
    status: str,
    approved_by: str | None,
    done: Sequence[Mapping[str, Any]],
    remaining: Sequence[Mapping[str, Any]],
    budget: Mapping[str, Any],
) -> str:
    """A compact brief a fresh context can pick the plan up from."""
    total = len(done) + len(remaining)
    lines = [f"Stratum handoff: plan {plan_id} \"{name}\" ({status}" + (f", approved by {approved_by})" if approved_by else ")")]
    lines.append(f"Done ({len(done)}/{total}): " + (", ".join(str(d["id"]) + (f" {d['fn']}" if d.get("fn") else "") for d in done) or "none"))
    for d in done:
        if "result" in d:
            lines.append(f"  result of {d['id']}: {_compact(d['result'], 600)}")
    lines.append("Remaining:" if remaining else "Remaining: nothing")
    for r in remaining:
        blocked = cast(list[str], r.get("blocked_by") or [])
        where = f"after {', '.join(blocked)}" if blocked else ("failed" if r.get("status") == "failed" else "ready")
        lines.append(f"- {r['id']} {r.get('fn') or ''} [{where}]: {r.get('intent', '')}".replace("  ", " "))
        if "output" in r:
            lines.append(f"  output: {r['output'] if isinstance(r['output'], str) else _compact(r['output'], 200)}")
        for e in r.get("ensure", []):
            lines.append(f"  ensure: {e}")
        if r.get("attempts"):
            lines.append(f"  attempts so far: {r['attempts']} (retries allowed: {r.get('retries')})")
        for v in r.get("last_violations", [])[:5]:
            lines.append(f"  last failure: {v}")
    lines.append(f"Budget: {render_budget(budget)}")
    lines.append(f"To continue: call stratum_resume(plan_id=\"{plan_id}\"), run the ready steps, report each with stratum_step_done.")
    return "\n".join(lines)


def render_audit(steps: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], status: str) -> str:
    """The audit table of the seed: one line per step, retry reasons, totals."""
    lines: list[str] = []
    for i, s in enumerate(steps, start=1):
        attempts = int(s["attempts"])
        line = f"Step {i}: {s['function']} — {attempts} attempt{'s' if attempts != 1 else ''}, {int(s['tokens']):,} tokens"
        if s["cost_usd"]:
            line += f", ${s['cost_usd']:.4f}"
        if s["status"] != "done":
            line += f" ({'not run' if attempts == 0 else s['status']})"
        lines.append(line)
        for reason in s["retry_reasons"]:
            lines.append(f"  Retry reason: {reason}")
    retries = int(totals["retries"])
    passing = sum(1 for s in steps if s["status"] == "done")
    if passing == len(steps):
        outcome = "all passing"
    else:
        failed = sum(1 for s in steps if s["status"] == "failed")
        outcome = f"{passing}/{len(steps)} passing" + (f", {failed} failed" if failed else "") + f" ({status})"
    total = f"Total: {int(totals['tokens']):,} tokens, {retries} retr{'y' if retries == 1 else 'ies'}, {outcome}"
    if totals["cost_usd"]:
        total = total.replace(" tokens,", f" tokens, ${totals['cost_usd']:.4f},", 1)
    lines.append(total)
    return "\n".join(lines)


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _compact(value: Any, size: int) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= size else text[: size - 1] + "…"
