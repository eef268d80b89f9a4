"""The plan engine behind the MCP tools: pure Python over the SQLite store, no MCP types.

Each public method is one tool call and one transaction, and returns the JSON the tool sends.
Bad input never raises out of here: it becomes `ToolFailure`, which the server turns into a
structured error (`{"error": {"code", "message"}}`).
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from stratum.exceptions import StratumError
from stratum.mcp._plan import AXES, Plan, PlanStep, parse_plan, schema_violations
from stratum.mcp._render import render_audit, render_handoff, render_plan
from stratum.mcp._store import open_store, transaction

__all__ = ("Engine", "ToolFailure")

MAX_RESULT_BYTES = 256 * 1024
"""Largest step result accepted (JSON-encoded)."""
THRESHOLDS = (0.5, 0.8, 0.95)
"""Budget fractions that add an explicit signal when first crossed."""
_SIGNAL_TEXT = MappingProxyType({
    0.5: "half the budget is spent: checkpoint now (note what is done and what is left).",
    0.8: "80% of the budget is spent: checkpoint and prepare a handoff (call stratum_handoff).",
    0.95: "95% of the budget is spent: stop starting new work; call stratum_handoff and hand the brief to a fresh context.",
})
_USAGE_KEYS = frozenset({"input_tokens", "output_tokens", "tokens", "usd", "cost_usd", "tool_calls"})


class ToolFailure(StratumError):
    """A tool call that cannot proceed (unknown plan, bad argument, wrong state).

    Attributes:
        code: a stable machine-readable code (`unknown_plan`, `not_approved`...).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def to_json(self) -> dict[str, Any]:
        """The structured error the tool returns."""
        return {"error": {"code": self.code, "message": str(self)}}


@dataclass(frozen=True, slots=True)
class _Usage:
    tool_calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    usd: Decimal


class Engine:
    """Plans, step reports, budgets and audits over one store.

    Args:
        directory: the `.stratum/` directory holding the store.
        clock: seconds since the epoch; injectable so tests can move time.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.conn = open_store(directory)
        self.clock = clock
        self._plans: dict[str, Plan] = {}  # plans are immutable once stored, so caching is safe

    def close(self) -> None:
        """Close the store connection."""
        self.conn.close()

    # -- tools --------------------------------------------------------------------------------

    def validate(self, raw: object) -> dict[str, Any]:
        """`stratum_validate`: every problem at once."""
        _, errors = parse_plan(raw)
        return {"valid": not errors, "errors": errors}

    def create(self, raw: object) -> dict[str, Any]:
        """`stratum_plan`: store the plan, awaiting approval."""
        plan, errors = parse_plan(raw)
        if plan is None:
            raise ToolFailure(
                "invalid_plan",
                f"the plan has {len(errors)} problem(s): "
                + "; ".join(f"{e['path'] or 'plan'}: {e['message']}" for e in errors[:20])
                + ". Fix them (stratum_validate lists them all) and call stratum_plan again.",
            )
        plan_id = "p-" + secrets.token_hex(5)
        now = self.clock()
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO plans (plan_id, name, created_at, source, status) VALUES (?, ?, ?, ?, 'awaiting_approval')",
                (plan_id, plan.name, now, json.dumps(plan.source)),
            )
            c.executemany(
                "INSERT INTO steps (plan_id, step_id, position, status) VALUES (?, ?, ?, 'pending')",
                [(plan_id, s.id, s.position) for s in plan.steps],
            )
            self._event(c, plan_id, "created", {"steps": len(plan.steps)})
        self._plans[plan_id] = plan
        return {
            "plan_id": plan_id,
            "status": "awaiting_approval",
            "rendered": render_plan(plan_id, plan),
            "steps": [_step_brief(s) for s in plan.steps],
            "next": "Show `rendered` to the user. When they approve, call stratum_approve "
            f"(plan_id={plan_id!r}, approved_by=<their name>), then run the ready steps.",
        }

    def approve(self, plan_id: object, approved_by: object, *, method: str = "tool") -> dict[str, Any]:
        """`stratum_approve`: record who approved; starts the minutes clock."""
        pid = _id_arg(plan_id, "plan_id")
        if not isinstance(approved_by, str) or not approved_by.strip() or len(approved_by) > 200:
            raise ToolFailure("invalid_argument", "approved_by must name the person who approved (1-200 characters); ask the user, then call stratum_approve again")
        with transaction(self.conn) as c:
            row, plan = self._load(c, pid)
            if row["status"] != "awaiting_approval":
                raise ToolFailure("not_awaiting_approval", f"plan {pid} is {row['status']}, not awaiting approval; call stratum_status to see where it is")
            now = self.clock()
            c.execute(
                "UPDATE plans SET status='approved', approved_by=?, approval_method=?, approved_at=? WHERE plan_id=?",
                (approved_by.strip(), method, now, pid),
            )
            self._mark_ready(c, pid, plan, now)
            self._event(c, pid, "approved", {"approved_by": approved_by.strip(), "method": method})
            state = self._state(c, pid, plan)
        return {"plan_id": pid, "status": "approved", "approved_by": approved_by.strip(), "ready": state["ready"], "budget": state["budget"]}

    def reject(self, plan_id: str, by: str) -> dict[str, Any]:
        """Record that the human declined the plan (through elicitation)."""
        with transaction(self.conn) as c:
            row, _ = self._load(c, plan_id)
            if row["status"] != "awaiting_approval":
                raise ToolFailure("not_awaiting_approval", f"plan {plan_id} is {row['status']}")
            c.execute("UPDATE plans SET status='rejected', closed_at=? WHERE plan_id=?", (self.clock(), plan_id))
            self._event(c, plan_id, "rejected", {"by": by})
        return {"plan_id": plan_id, "status": "rejected"}

    def step_done(self, plan_id: object, step_id: object, result: object, usage: object = None) -> dict[str, Any]:
        """`stratum_step_done`: check a step's result and say what comes next."""
        pid = _id_arg(plan_id, "plan_id")
        sid = _id_arg(step_id, "step_id")
        encoded = _encode_result(result)
        spent = _parse_usage(usage)
        with transaction(self.conn) as c:
            row, plan = self._load(c, pid)
            status = row["status"]
            if status == "awaiting_approval":
                raise ToolFailure("not_approved", f"plan {pid} is not approved yet; show its rendered plan to the user and call stratum_approve before reporting steps")
            if status in ("rejected", "complete", "failed"):
                raise ToolFailure("plan_closed", f"plan {pid} is {status}; nothing more can be reported. Call stratum_audit for the record, or submit a new plan")
            step = plan.step(sid)
            if step is None:
                raise ToolFailure("unknown_step", f"plan {pid} has no step {sid!r}; its steps are {', '.join(s.id for s in plan.steps)}")
            srow = c.execute("SELECT * FROM steps WHERE plan_id=? AND step_id=?", (pid, sid)).fetchone()
            if srow["status"] == "done":
                raise ToolFailure("step_already_done", f"step {sid!r} already passed; report one of the ready steps instead (stratum_status lists them)")
            if srow["status"] == "failed":
                raise ToolFailure("step_failed", f"step {sid!r} ran out of retries; call stratum_handoff")
            pending = [d for d in step.depends_on if self._step_status(c, pid, d) != "done"]
            if pending:
                raise ToolFailure("step_not_ready", f"step {sid!r} depends on {', '.join(pending)}, not done yet; report those first")
            now = self.clock()
            attempt = int(srow["attempts"]) + 1
            violations = _check(step, result)
            passed = not violations
            c.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, sid, attempt, now, int(passed), encoded, json.dumps(violations), spent.tool_calls,
                 spent.input_tokens, spent.output_tokens, spent.tokens, str(spent.usd)),
            )
            c.execute(
                "UPDATE steps SET attempts=?, tool_calls=tool_calls+?, input_tokens=input_tokens+?, output_tokens=output_tokens+?, "
                "tokens=tokens+?, usd=? WHERE plan_id=? AND step_id=?",
                (attempt, spent.tool_calls, spent.input_tokens, spent.output_tokens, spent.tokens,
                 str(Decimal(srow["usd"]) + spent.usd), pid, sid),
            )
            c.execute(
                "UPDATE plans SET tool_calls=tool_calls+?, input_tokens=input_tokens+?, output_tokens=output_tokens+?, "
                "tokens=tokens+?, usd=? WHERE plan_id=?",
                (spent.tool_calls, spent.input_tokens, spent.output_tokens, spent.tokens,
                 str(Decimal(row["usd"]) + spent.usd), pid),
            )
            self._event(c, pid, "attempt", {"step_id": sid, "attempt": attempt, "passed": passed, "violations": violations})
            retries_left = max(step.retries + 1 - attempt, 0)
            over_step = _step_over_budget(step, c.execute("SELECT * FROM steps WHERE plan_id=? AND step_id=?", (pid, sid)).fetchone(), now)
            if passed:
                c.execute("UPDATE steps SET status='done', done_at=?, result=? WHERE plan_id=? AND step_id=?", (now, encoded, pid, sid))
                self._mark_ready(c, pid, plan, now)
            elif retries_left == 0 or over_step:
                if over_step:
                    violations = [*violations, over_step]
                    retries_left = 0
                c.execute("UPDATE steps SET status='failed', done_at=? WHERE plan_id=? AND step_id=?", (now, pid, sid))
                c.execute("UPDATE plans SET status='failed', closed_at=? WHERE plan_id=?", (now, pid))
                self._event(c, pid, "failed", {"step_id": sid, "violations": violations})
            all_done = all(self._step_status(c, pid, s.id) == "done" for s in plan.steps)
            if all_done:
                c.execute("UPDATE plans SET status='complete', closed_at=? WHERE plan_id=?", (now, pid))
                self._event(c, pid, "complete", {})
            state = self._state(c, pid, plan)
            budget = state["budget"]
            response: dict[str, Any] = {
                "status": "next", "ready": state["ready"], "violations": violations,
                "retries_left": retries_left, "budget": budget, "step_id": sid, "attempt": attempt,
            }
            if all_done:
                response.update(status="complete", ready=[], next="All steps passed. Call stratum_audit and show the user the rendered audit.")
            elif not passed and retries_left == 0:
                response.update(status="failed", ready=[], next=f"Step {sid!r} failed with no retries left. Tell the user what failed; stratum_handoff has the remaining work.")
            elif budget["exhausted"]:
                if status != "budget_exhausted":
                    c.execute("UPDATE plans SET status='budget_exhausted' WHERE plan_id=?", (pid,))
                    self._event(c, pid, "budget_exhausted", {"spent": budget["spent"]})
                response.update(status="budget_exhausted", ready=[], handoff=self._handoff(c, pid, plan)["brief"],
                                next="The budget is spent. Stop, give the user this handoff brief; a fresh context resumes with stratum_resume.")
            elif not passed:
                response.update(status="retry", next=f"Fix only what the violations name, then report step {sid!r} again.")
            else:
                response["next"] = "Run the ready steps (independent ones may run together) and report each with stratum_step_done."
        return response

    def status(self, plan_id: object) -> dict[str, Any]:
        """`stratum_status`: progress, ready steps and budget."""
        pid = _id_arg(plan_id, "plan_id")
        with transaction(self.conn) as c:
            row, plan = self._load(c, pid)
            state = self._state(c, pid, plan)
            steps = [
                {"id": s.id, "fn": s.fn, "status": r["status"], "attempts": r["attempts"],
                 "retries_left": _retries_left(s, int(r["attempts"])) if r["status"] != "done" else 0}
                for s, r in zip(plan.steps, self._step_rows(c, pid))
            ]
        done = sum(1 for s in steps if s["status"] == "done")
        return {
            "plan_id": pid, "name": plan.name, "status": row["status"], "approved_by": row["approved_by"],
            "progress": {"done": done, "total": len(steps)}, "steps": steps, "ready": state["ready"],
            "budget": state["budget"],
        }

    def handoff(self, plan_id: object) -> dict[str, Any]:
        """`stratum_handoff`: the remaining work as a compact brief for a fresh context."""
        pid = _id_arg(plan_id, "plan_id")
        with transaction(self.conn) as c:
            _, plan = self._load(c, pid)
            out = self._handoff(c, pid, plan)
            self._event(c, pid, "handoff", {"remaining": [r["id"] for r in out["remaining"]]})
        return out

    def resume(self, plan_id: object) -> dict[str, Any]:
        """`stratum_resume`: pick a plan up after a restart or in a fresh context."""
        pid = _id_arg(plan_id, "plan_id")
        with transaction(self.conn) as c:
            row, plan = self._load(c, pid)
            self._event(c, pid, "resumed", {"status": row["status"]})
            state = self._state(c, pid, plan)
            brief = self._handoff(c, pid, plan)
        return {"plan_id": pid, "status": row["status"], "ready": state["ready"], "budget": state["budget"],
                "brief": brief["brief"], "done": brief["done"], "remaining": brief["remaining"]}

    def list_plans(self, status: object = None) -> dict[str, Any]:
        """`stratum_list`: every stored plan, newest first."""
        if status is not None and not isinstance(status, str):
            raise ToolFailure("invalid_argument", "status filter must be a string such as 'approved'")
        query = "SELECT p.plan_id, p.name, p.status, p.created_at, p.approved_by, " \
                "(SELECT COUNT(*) FROM steps s WHERE s.plan_id=p.plan_id AND s.status='done') AS done, " \
                "(SELECT COUNT(*) FROM steps s WHERE s.plan_id=p.plan_id) AS total FROM plans p"
        args: tuple[Any, ...] = ()
        if status:
            query += " WHERE p.status=?"
            args = (status,)
        rows = self.conn.execute(query + " ORDER BY p.created_at DESC, p.rowid DESC LIMIT 200", args).fetchall()
        return {"plans": [
            {"plan_id": r["plan_id"], "name": r["name"], "status": r["status"], "created_at": r["created_at"],
             "approved_by": r["approved_by"], "progress": {"done": r["done"], "total": r["total"]}}
            for r in rows
        ]}

    def audit(self, plan_id: object) -> dict[str, Any]:
        """`stratum_audit`: the structured trace and the rendered table."""
        pid = _id_arg(plan_id, "plan_id")
        with transaction(self.conn) as c:
            row, plan = self._load(c, pid)
            steps: list[dict[str, Any]] = []
            for s, r in zip(plan.steps, self._step_rows(c, pid)):
                attempts = c.execute("SELECT * FROM attempts WHERE plan_id=? AND step_id=? ORDER BY attempt", (pid, s.id)).fetchall()
                reasons = ["; ".join(json.loads(a["violations"])) for a in attempts if not a["passed"]]
                started = r["ready_at"]
                ended = r["done_at"] or (attempts[-1]["reported_at"] if attempts else None)
                steps.append({
                    "id": s.id, "function": s.name, "status": r["status"], "attempts": r["attempts"],
                    "tool_calls": r["tool_calls"], "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
                    "tokens": r["tokens"], "cost_usd": float(Decimal(r["usd"])),
                    "duration_ms": None if started is None or ended is None else round((ended - started) * 1000),
                    "retry_reasons": reasons,
                    "attempt_log": [
                        {"attempt": a["attempt"], "passed": bool(a["passed"]), "violations": json.loads(a["violations"]),
                         "tokens": a["tokens"], "tool_calls": a["tool_calls"], "reported_at": a["reported_at"]}
                        for a in attempts
                    ],
                })
            events = [{"seq": e["seq"], "at": e["at"], "kind": e["kind"], **json.loads(e["data"])}
                      for e in c.execute("SELECT * FROM events WHERE plan_id=? ORDER BY seq", (pid,)).fetchall()]
            budget = self._state(c, pid, plan)["budget"]
        totals = {
            "attempts": sum(s["attempts"] for s in steps),
            "retries": sum(max(s["attempts"] - 1, 0) for s in steps),
            "tool_calls": row["tool_calls"], "input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"],
            "tokens": row["tokens"], "cost_usd": float(Decimal(row["usd"])),
            "duration_ms": None if row["approved_at"] is None else round(((row["closed_at"] or self.clock()) - row["approved_at"]) * 1000),
        }
        return {
            "plan_id": pid, "name": plan.name, "status": row["status"], "approved_by": row["approved_by"],
            "approval_method": row["approval_method"], "steps": steps, "totals": totals, "events": events,
            "budget": budget, "rendered": render_audit(steps, totals, row["status"]),
        }

    # -- internals ----------------------------------------------------------------------------

    def _load(self, c: sqlite3.Connection, plan_id: str) -> tuple[sqlite3.Row, Plan]:
        row = c.execute("SELECT * FROM plans WHERE plan_id=?", (plan_id,)).fetchone()
        if row is None:
            raise ToolFailure("unknown_plan", f"no plan {plan_id!r} in this project's store; call stratum_list to see the plans")
        plan = self._plans.get(plan_id)
        if plan is None:
            plan, errors = parse_plan(json.loads(row["source"]))
            if plan is None:  # only if the file was edited by hand
                raise ToolFailure("corrupt_plan", f"stored plan {plan_id} no longer validates: {errors[:3]}; submit it again")
            self._plans[plan_id] = plan
        return row, plan

    def _step_rows(self, c: sqlite3.Connection, pid: str) -> list[sqlite3.Row]:
        return c.execute("SELECT * FROM steps WHERE plan_id=? ORDER BY position", (pid,)).fetchall()

    def _step_status(self, c: sqlite3.Connection, pid: str, sid: str) -> str:
        return str(c.execute("SELECT status FROM steps WHERE plan_id=? AND step_id=?", (pid, sid)).fetchone()[0])

    def _mark_ready(self, c: sqlite3.Connection, pid: str, plan: Plan, now: float) -> None:
        statuses = {r["step_id"]: r for r in self._step_rows(c, pid)}
        for s in plan.steps:
            r = statuses[s.id]
            if r["ready_at"] is None and r["status"] == "pending" and all(statuses[d]["status"] == "done" for d in s.depends_on):
                c.execute("UPDATE steps SET ready_at=? WHERE plan_id=? AND step_id=?", (now, pid, s.id))

    def _event(self, c: sqlite3.Connection, pid: str, kind: str, data: Mapping[str, Any]) -> None:
        c.execute("INSERT INTO events (plan_id, at, kind, data) VALUES (?, ?, ?, ?)", (pid, self.clock(), kind, json.dumps(data)))

    def _state(self, c: sqlite3.Connection, pid: str, plan: Plan) -> dict[str, Any]:
        row = c.execute("SELECT * FROM plans WHERE plan_id=?", (pid,)).fetchone()
        rows = {r["step_id"]: r for r in self._step_rows(c, pid)}
        ready: list[dict[str, Any]] = []
        if row["status"] == "approved":
            for s in plan.steps:
                r = rows[s.id]
                if r["status"] == "pending" and all(rows[d]["status"] == "done" for d in s.depends_on):
                    brief = _step_brief(s)
                    brief["retries_left"] = _retries_left(s, int(r["attempts"]))
                    ready.append(brief)
        return {"ready": ready, "budget": self._budget(c, row, plan)}

    def _budget(self, c: sqlite3.Connection, row: sqlite3.Row, plan: Plan) -> dict[str, Any]:
        approved_at = row["approved_at"]
        end = row["closed_at"] or self.clock()
        minutes = 0.0 if approved_at is None else max(end - approved_at, 0.0) / 60.0
        spent: dict[str, Any] = {"tool_calls": row["tool_calls"], "tokens": row["tokens"], "minutes": round(minutes, 3),
                                 "usd": float(Decimal(row["usd"]))}
        limits = plan.budget.to_json()
        fractions = {axis: (float(spent[axis]) / float(limits[axis])) for axis in AXES if axis in limits}
        fraction = max(fractions.values(), default=None)
        budget: dict[str, Any] = {
            "limits": limits, "spent": spent,
            "remaining": {axis: _round(max(float(limits[axis]) - float(spent[axis]), 0.0)) for axis in limits},
            "fraction_used": None if fraction is None else round(fraction, 4),
            "exhausted": fraction is not None and fraction >= 1.0,
            "signals": [],
        }
        if fraction is not None and row["status"] in ("approved", "budget_exhausted"):
            crossed = [t for t in THRESHOLDS if fraction >= t and t > float(row["signaled"])]
            if crossed:
                top = max(crossed)
                axis = max(fractions, key=lambda a: fractions[a])
                c.execute("UPDATE plans SET signaled=? WHERE plan_id=?", (top, row["plan_id"]))
                signal = {"threshold": top, "axis": axis, "fraction_used": round(fraction, 4),
                          "action": "handoff" if top >= 0.8 else "checkpoint", "message": _SIGNAL_TEXT[top]}
                budget["signals"] = [signal]
                self._event(c, row["plan_id"], "budget_signal", signal)
        return budget

    def _handoff(self, c: sqlite3.Connection, pid: str, plan: Plan) -> dict[str, Any]:
        row = c.execute("SELECT * FROM plans WHERE plan_id=?", (pid,)).fetchone()
        rows = {r["step_id"]: r for r in self._step_rows(c, pid)}
        done: list[dict[str, Any]] = []
        remaining: list[dict[str, Any]] = []
        needed = {d for s in plan.steps if rows[s.id]["status"] != "done" for d in s.depends_on}
        for s in plan.steps:
            r = rows[s.id]
            if r["status"] == "done":
                entry: dict[str, Any] = {"id": s.id, "fn": s.fn}
                if s.id in needed and r["result"] is not None:
                    entry["result"] = json.loads(r["result"])  # what the remaining steps build on
                done.append(entry)
            else:
                last = c.execute("SELECT violations FROM attempts WHERE plan_id=? AND step_id=? ORDER BY attempt DESC LIMIT 1", (pid, s.id)).fetchone()
                entry = _step_brief(s)
                entry.update(status=r["status"], attempts=r["attempts"],
                             blocked_by=[d for d in s.depends_on if rows[d]["status"] != "done"],
                             last_violations=json.loads(last["violations"]) if last else [])
                remaining.append(entry)
        budget = self._budget(c, row, plan)
        brief = render_handoff(pid, plan.name, row["status"], row["approved_by"], done, remaining, budget)
        return {"plan_id": pid, "status": row["status"], "brief": brief, "done": done, "remaining": remaining, "budget": budget}


def _retries_left(step: PlanStep, attempts: int) -> int:
    """Retries still allowed: `retries` before any attempt, one fewer per failure after the first."""
    return max(min(step.retries, step.retries + 1 - attempts), 0)


def _step_brief(step: PlanStep) -> dict[str, Any]:
    brief: dict[str, Any] = {"id": step.id, "intent": step.intent}
    if step.fn:
        brief["fn"] = step.fn
    if step.output is not None:
        brief["output"] = step.output_name or step.output
        if step.output_name:
            brief["output_schema"] = step.output
    if step.ensure:
        brief["ensure"] = [e.source for e in step.ensure]
    if step.depends_on:
        brief["depends_on"] = list(step.depends_on)
    if step.inputs is not None:
        brief["inputs"] = step.inputs
    brief["retries"] = step.retries
    if not step.budget.empty:
        brief["budget"] = step.budget.to_json()
    return brief


def _check(step: PlanStep, result: Any) -> list[str]:
    if step.output is not None:
        violations = schema_violations(step.output, result)
        if violations:
            return violations  # ensure reads fields the schema just said are wrong; skip it
    out: list[str] = []
    for expr in step.ensure:
        violation = expr.check(result)
        if violation is not None:
            out.append(violation)
    return out


def _step_over_budget(step: PlanStep, row: sqlite3.Row, now: float) -> str | None:
    if step.budget.empty:
        return None
    spent = {"tool_calls": row["tool_calls"], "tokens": row["tokens"], "usd": float(Decimal(row["usd"])),
             "minutes": 0.0 if row["ready_at"] is None else (now - row["ready_at"]) / 60.0}
    for axis in AXES:
        limit = step.budget.get(axis)
        if limit is not None and spent[axis] >= limit:
            return f"step budget: {axis} {_round(float(spent[axis]))} of {_round(limit)} spent, no retry fits"
    return None


def _id_arg(value: object, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise ToolFailure("invalid_argument", f"{name} must be a non-empty string (got {type(value).__name__}); stratum_list shows plan ids")
    return value


def _encode_result(result: object) -> str:
    try:
        encoded = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ToolFailure("invalid_result", f"result must be JSON data ({type(exc).__name__}); report the step's output as a JSON value") from None
    if len(encoded) > MAX_RESULT_BYTES:
        raise ToolFailure("result_too_large", f"result is {len(encoded)} bytes, over the {MAX_RESULT_BYTES} limit; report a summary (counts, paths), not file contents")
    return encoded


def _parse_usage(usage: object) -> _Usage:
    if usage is None:
        return _Usage(1, 0, 0, 0, Decimal(0))
    if not isinstance(usage, Mapping):
        raise ToolFailure("invalid_usage", "usage is an object like {\"input_tokens\": 900, \"output_tokens\": 300, \"tool_calls\": 2, \"usd\": 0.01}")
    data = cast(Mapping[str, Any], usage)
    unknown = [str(k) for k in data if k not in _USAGE_KEYS]
    if unknown:
        raise ToolFailure("invalid_usage", f"unknown usage field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_USAGE_KEYS))}")
    ints: dict[str, int] = {}
    for key in ("input_tokens", "output_tokens", "tokens", "tool_calls"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or value != int(value) or value > 10**12:
            raise ToolFailure("invalid_usage", f"usage.{key} must be a non-negative whole number")
        ints[key] = int(value)
    usd_raw = data.get("usd", data.get("cost_usd"))
    usd = Decimal(0)
    if usd_raw is not None:
        try:
            usd = Decimal(str(usd_raw)) if not isinstance(usd_raw, bool) and isinstance(usd_raw, (int, float, str)) else Decimal("NaN")
        except InvalidOperation:
            usd = Decimal("NaN")
        if not usd.is_finite() or usd < 0 or usd > 10**9:
            raise ToolFailure("invalid_usage", "usage.usd must be a non-negative number of dollars")
    inp, outp = ints.get("input_tokens", 0), ints.get("output_tokens", 0)
    tokens = ints.get("tokens", inp + outp)
    return _Usage(ints.get("tool_calls", 1), inp, outp, tokens, usd)


def _round(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 4)

