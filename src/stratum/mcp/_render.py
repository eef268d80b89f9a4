"""Text renderings for humans: the plan to approve, the handoff brief, the audit table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from stratum.mcp._plan import AXES, Plan

__all__ = ("render_budget", "render_handoff", "render_plan", "render_plan_audit")

_UNITS = MappingProxyType({"tool_calls": "tool calls", "tokens": "tokens", "minutes": "minutes", "usd": "USD"})
COMPACT_OVER = 40
"""Plans with more steps than this render one line per step."""


def render_plan(plan_id: str, plan: Plan) -> str:
    """The plan as a numbered list a human can review before approving."""
    lines = [f"Plan {plan_id}: {plan.name}"]
    compact = len(plan.steps) > COMPACT_OVER
    for step in plan.steps:
        head = f"{step.position}. [{step.id}] {step.name}"
        if step.intent and step.intent != step.name:
            head += f": {step.intent if not compact or len(step.intent) <= 40 else step.intent[:39] + '…'}"
        extras: list[str] = []
        if step.depends_on and not (compact and step.depends_on == (plan.steps[step.position - 2].id,) and step.position > 1):
            extras.append(f"after: {', '.join(step.depends_on)}")
        if step.output is not None:
            extras.append(f"{'→ ' if compact else 'output: '}{step.output_name or _compact(step.output, 60 if compact else 100)}")
        for expr in step.ensure:
            extras.append(f"ensure: {expr.source}")
        if step.retries != 2:
            extras.append(f"retries: {step.retries}")
        if step.on_fail:
            extras.append(f"on failure: back to {step.on_fail}")
        if step.next:
            extras.append(f"then: {step.next}")
        if step.gate:
            extras.append("GATE: waits for a human (approve/revise/kill)" + (f", {step.timeout:g}s timeout → {step.on_timeout}" if step.timeout else ""))
        if step.max_iterations:
            extras.append(f"iterate up to {step.max_iterations}x" + (f" until {step.exit_criterion.source}" if step.exit_criterion else ""))
        if step.guardrails:
            extras.append(f"guardrails: {len(step.guardrails)}")
        if step.skip_if:
            extras.append(f"skip if: {step.skip_if.source}")
        if compact:
            lines.append(head + (f" ({'; '.join(extras)})" if extras else ""))
        else:
            lines.append(head)
            lines.extend(f"   {e}" for e in extras)
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


def render_plan_audit(
    steps: Sequence[Mapping[str, Any]],
    totals: Mapping[str, Any],
    status: str,
    notes: Sequence[str] = (),
    *,
    format: str = "table",
) -> str:
    """The audit of an MCP plan: one line per step, retry reasons, gates, budget notes, totals.

    `format="md"` gives a Markdown table to commit next to the code. Runs of untroubled steps
    (one attempt, done) collapse into one line when the plan has more than `COMPACT_OVER` steps.
    """
    if format == "md":
        return _audit_md(steps, totals, status, notes)
    lines: list[str] = []
    compact = len(steps) > COMPACT_OVER
    run: list[tuple[int, Mapping[str, Any]]] = []

    def flush() -> None:
        if len(run) > 2:
            first, last = run[0][0], run[-1][0]
            tokens = sum(int(s["tokens"]) for _, s in run)
            lines.append(f"Steps {first}-{last}: {len(run)} steps, 1 attempt each, {tokens:,} tokens")
        else:
            lines.extend(_audit_line(i, s) for i, s in run)
        run.clear()

    for i, s in enumerate(steps, start=1):
        plain = s["status"] == "done" and int(s["attempts"]) == 1 and not s.get("retry_reasons") and "gate" not in s and "outcome" not in s
        if compact and plain:
            run.append((i, s))
            continue
        flush()
        lines.append(_audit_line(i, s))
        for reason in s.get("retry_reasons", ()):
            lines.append(f"  Retry reason: {reason}")
        if "gate" in s:
            g = s["gate"]
            lines.append(f"  Gate: {g['outcome']} by {g['resolved_by']}" + (f" — {g['rationale']}" if g.get("rationale") else ""))
        if s.get("note") and "gate" not in s:
            lines.append(f"  Note: {s['note']}")
    flush()
    lines.extend(notes)
    lines.append(_total_line(steps, totals, status))
    return "\n".join(lines)


def _audit_line(i: int, s: Mapping[str, Any]) -> str:
    attempts = int(s["attempts"])
    line = f"Step {i}: {s['function']} — {attempts} attempt{'s' if attempts != 1 else ''}, {int(s['tokens']):,} tokens"
    if s.get("cost_usd"):
        line += f", ${s['cost_usd']:.4f}"
    if s.get("outcome") and s["outcome"].startswith("exit_"):
        line += f", {s['outcome']}"
    if s["status"] != "done":
        line += f" ({'not run' if attempts == 0 and s['status'] == 'pending' else s['status']})"
    return line


def _total_line(steps: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], status: str) -> str:
    retries = int(totals["retries"])
    passing = sum(1 for s in steps if s["status"] == "done")
    settled = sum(1 for s in steps if s["status"] in ("done", "skipped", "routed"))
    if settled == len(steps) and status == "complete":
        skipped = len(steps) - passing
        outcome = "all passing" + (f" ({skipped} skipped)" if skipped else "")
    else:
        failed = sum(1 for s in steps if s["status"] == "failed")
        outcome = f"{passing}/{len(steps)} passing" + (f", {failed} failed" if failed else "") + f" ({status})"
    total = f"Total: {int(totals['tokens']):,} tokens, {retries} retr{'y' if retries == 1 else 'ies'}, {outcome}"
    if totals["cost_usd"]:
        total = total.replace(" tokens,", f" tokens, ${totals['cost_usd']:.4f},", 1)
    return total


def _audit_md(steps: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], status: str, notes: Sequence[str]) -> str:
    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| # | step | status | attempts | tokens | cost (USD) | retry reasons |", "|---|---|---|---|---|---|---|"]
    for i, s in enumerate(steps, start=1):
        reasons = list(s.get("retry_reasons", ()))
        if "gate" in s:
            reasons.append(f"gate: {s['gate']['outcome']} by {s['gate']['resolved_by']}")
        lines.append(f"| {i} | {cell(s['function'])} | {s['status']}{' (' + s['outcome'] + ')' if s.get('outcome') else ''} | "
                     f"{s['attempts']} | {int(s['tokens']):,} | {s.get('cost_usd', 0.0):.4f} | {cell('; '.join(reasons))} |")
    lines.append("")
    lines.extend(f"- {n}" for n in notes)
    lines.append(f"**{_total_line(steps, totals, status)}**")
    return "\n".join(lines)


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _compact(value: Any, size: int) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= size else text[: size - 1] + "…"
