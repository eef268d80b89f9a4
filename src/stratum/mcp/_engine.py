"""The plan engine behind the MCP tools: pure Python over the SQLite store, no MCP types.

Each public method is one tool call and one transaction, and returns the JSON the tool sends.
Bad input never raises out of here: it becomes `ToolFailure`, which the server turns into a
structured error (`{"error": {"code", "message"}}`).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from stratum.exceptions import StratumError
from stratum.mcp._plan import (
    AXES,
    GATE_OUTCOMES,
    Plan,
    PlanStep,
    Reference,
    parse_plan,
    schema_violations,
)
from stratum.mcp._regex import RegexTimeout, search
from stratum.mcp._render import COMPACT_OVER, render_handoff, render_plan, render_plan_audit
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
MAX_SLIPS = 3
"""Formatting slips per step and round that do not spend a retry."""
BUDGET_GATE = ":budget"
"""The pseudo step id that resolves a pending budget extension (`stratum mcp gate PLAN :budget approve`)."""
_SETTLED = frozenset({"done", "skipped", "routed"})
_OPEN = frozenset({"approved", "budget_exhausted"})
_CLOSED = frozenset({"rejected", "complete", "failed", "killed"})
_SPLIT = frozenset({"input_tokens", "output_tokens", "tool_calls"})
_LEAN = "step_id, status, attempts, round_attempts, ready_at, retry_context, iterations"
_STEP_STATE = ("status", "attempts", "round_attempts", "slips", "ready_at", "done_at", "result", "retry_context", "outcome", "iterations", "note")


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


@dataclass(slots=True)
class _Verdict:
    """What the checks made of one report (computed outside the store lock)."""

    result: Any
    violations: list[str] = field(default_factory=lambda: [])
    slip: bool = False
    coerced: str | None = None
    exit_met: bool | None = None
    exit_violation: str | None = None


@dataclass(frozen=True, slots=True)
class _Usage:
    tool_calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    usd: Decimal


class Engine:
    """Plans, step reports, routing, gates, budgets and audits over one store.

    Args:
        directory: the `.stratum/` directory holding the store.
        clock: seconds since the epoch; injectable so tests can move time.
        root: the project root file checks read under (default: the parent of `directory`).
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time, root: Path | None = None) -> None:
        self.directory = directory
        self.root = root if root is not None else (directory.parent if directory.name == ".stratum" else directory)
        self.conn = open_store(directory)
        self.clock = clock
        self._lock = threading.RLock()
        self._plans: dict[str, Plan] = {}  # plans are immutable once stored, so caching is safe

    def close(self) -> None:
        """Close the store connection."""
        with self._lock:
            self.conn.close()

    @contextmanager
    def _tx(self) -> Generator[sqlite3.Connection]:
        with self._lock, transaction(self.conn) as c:
            yield c

    # -- tools --------------------------------------------------------------------------------

    def validate(self, raw: object) -> dict[str, Any]:
        """`stratum_validate`: every problem at once."""
        if raw is None:
            raise ToolFailure("missing_argument", "`plan` is required: the plan as a JSON object with `steps`")
        _, errors = parse_plan(raw)
        return {"valid": not errors, "errors": errors}

    def create(self, raw: object) -> dict[str, Any]:
        """`stratum_plan`: store the plan, awaiting approval."""
        if raw is None:
            raise ToolFailure("missing_argument", "`plan` is required: the plan as a JSON object with `steps`")
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
        with self._tx() as c:
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
        out: dict[str, Any] = {
            "plan_id": plan_id,
            "status": "awaiting_approval",
            "rendered": render_plan(plan_id, plan),
            "steps": [_step_summary(s, compact=len(plan.steps) > COMPACT_OVER, previous=plan.steps[s.position - 2].id if s.position > 1 else None)
                      for s in plan.steps],
        }
        if plan.contracts:
            out["contracts"] = dict(plan.contracts)
        out["next"] = ("Show `rendered` to the user. When they approve, call stratum_approve "
                       f"(plan_id={plan_id!r}, approved_by=<their name>), then run the ready steps.")
        return out

    def approve(self, plan_id: object, approved_by: object, *, method: str = "tool") -> dict[str, Any]:
        """`stratum_approve`: record who approved; starts the minutes clock."""
        pid = _id_arg(plan_id, "plan_id")
        who = _who(approved_by, "approved_by")
        with self._tx() as c:
            row, plan = self._load(c, pid)
            if row["status"] != "awaiting_approval":
                raise ToolFailure("not_awaiting_approval", f"plan {pid} is {row['status']}, not awaiting approval; call stratum_status to see where it is")
            now = self.clock()
            c.execute(
                "UPDATE plans SET status='approved', approved_by=?, approval_method=?, approved_at=? WHERE plan_id=?",
                (who, method, now, pid),
            )
            self._event(c, pid, "approved", {"approved_by": who, "method": method})
            self._advance(c, pid, plan)
            state = self._state(c, pid, plan)
        return {"plan_id": pid, "status": state["status"], "approved_by": who, **_ready_part(state, plan), "budget": state["budget"]}

    def reject(self, plan_id: str, by: str) -> dict[str, Any]:
        """Record that the human declined the plan (through elicitation)."""
        with self._tx() as c:
            row, _ = self._load(c, plan_id)
            if row["status"] != "awaiting_approval":
                raise ToolFailure("not_awaiting_approval", f"plan {plan_id} is {row['status']}")
            c.execute("UPDATE plans SET status='rejected', closed_at=? WHERE plan_id=?", (self.clock(), plan_id))
            self._event(c, plan_id, "rejected", {"by": by})
        return {"plan_id": plan_id, "status": "rejected"}

    def step_done(self, plan_id: object, step_id: object, result: object = None, usage: object = None, reason: object = None) -> dict[str, Any]:
        """`stratum_step_done`: check a step's result and say what comes next."""
        pid = _id_arg(plan_id, "plan_id")
        sid = _id_arg(step_id, "step_id")
        if result is None:
            raise ToolFailure("missing_argument", "`result` is required: the step's output as JSON (report {} when the step has no output)")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 2_000):
            raise ToolFailure("invalid_argument", "`reason` is the failure in your words, a string of at most 2,000 characters")
        spent = _parse_usage(usage)
        with self._tx() as c:
            _, plan = self._load(c, pid)
        step = plan.step(sid)
        if step is None:
            raise ToolFailure("unknown_step", f"plan {pid} has no step {sid!r}; its steps are {_ids(plan)}")
        if step.gate:
            raise ToolFailure("gate_step", f"step {sid!r} is a gate: a human resolves it (stratum_gate_resolve, or `stratum mcp gate {pid} {sid} approve|revise|kill`)")
        verdict = self._judge(plan, step, result)  # outside the store lock: one slow check never blocks other calls
        encoded = _encode_result(verdict.result)
        with self._tx() as c:
            row, plan = self._load(c, pid)
            self._advance(c, pid, plan)  # gate timeouts that fell due since the last call
            row = self._plan_row(c, pid)
            status = row["status"]
            if status == "awaiting_approval":
                raise ToolFailure("not_approved", f"plan {pid} is not approved yet; show its rendered plan to the user and call stratum_approve before reporting steps")
            if status in _CLOSED:
                raise ToolFailure("plan_closed", f"plan {pid} is {status}; nothing more can be reported. Call stratum_audit for the record, or submit a new plan")
            srow = self._step_row(c, pid, sid)
            if srow["status"] == "done":
                raise ToolFailure("step_already_done", f"step {sid!r} already passed; report one of the ready steps instead (stratum_status lists them)")
            if srow["status"] in ("skipped", "routed"):
                raise ToolFailure("step_not_ready", f"step {sid!r} is {srow['status']}; report one of the ready steps (stratum_status lists them)")
            if srow["status"] == "failed":
                raise ToolFailure("step_failed", f"step {sid!r} ran out of retries; call stratum_handoff")
            rows = self._rows(c, pid)
            pending = [d for d in step.depends_on if rows[d]["status"] not in _SETTLED]
            if pending:
                raise ToolFailure("step_not_ready", f"step {sid!r} depends on {', '.join(pending)}, not done yet; report those first")
            return self._record(c, row, plan, step, srow, verdict, encoded, spent, reason)

    def gate_resolve(self, plan_id: object, step_id: object, outcome: object, rationale: object = None,
                     resolved_by: object = None, *, method: str = "tool") -> dict[str, Any]:
        """`stratum_gate_resolve`: approve, revise or kill a gate step (or a pending budget extension)."""
        pid = _id_arg(plan_id, "plan_id")
        sid = _id_arg(step_id, "step_id")
        if outcome not in GATE_OUTCOMES:
            raise ToolFailure("invalid_argument" if outcome is not None else "missing_argument", f"`outcome` is one of {', '.join(GATE_OUTCOMES)}")
        who = _who(resolved_by, "resolved_by")
        why = "" if rationale is None else rationale
        if not isinstance(why, str) or len(why) > 2_000:
            raise ToolFailure("invalid_argument", "`rationale` is a string of at most 2,000 characters")
        if sid == BUDGET_GATE:
            if outcome == "revise":
                raise ToolFailure("invalid_argument", "a budget extension is approved or killed (declined), not revised")
            return self.resolve_extension(pid, outcome == "approve", who, method=method, rationale=why)
        with self._tx() as c:
            row, plan = self._load(c, pid)
            self._advance(c, pid, plan)
            row = self._plan_row(c, pid)
            if row["status"] not in _OPEN:
                raise ToolFailure("plan_closed" if row["status"] in _CLOSED else "not_approved", f"plan {pid} is {row['status']}; gates are resolved on an approved plan")
            step = plan.step(sid)
            if step is None or not step.gate:
                gates = ", ".join(s.id for s in plan.steps if s.gate) or "none"
                raise ToolFailure("unknown_gate", f"plan {pid} has no gate step {sid!r}; its gates are {gates}")
            if not self._is_ready(self._rows(c, pid), step):
                raise ToolFailure("gate_not_waiting", f"gate {sid!r} is not waiting (stratum_status shows where the plan is)")
            response = self._resolve_gate(c, pid, plan, step, cast(str, outcome), why, who, method)
            state = self._state(c, pid, plan)
        response.update(_ready_part(state, plan))
        response["budget"] = state["budget"]
        return response

    def skip_step(self, plan_id: object, step_id: object, reason: object) -> dict[str, Any]:
        """`stratum_skip_step`: skip a step that is not done, with the reason in the audit."""
        pid = _id_arg(plan_id, "plan_id")
        sid = _id_arg(step_id, "step_id")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 2_000:
            raise ToolFailure("missing_argument" if reason is None else "invalid_argument", "`reason` is required: why the step is skipped (1-2,000 characters), shown in the audit")
        with self._tx() as c:
            row, plan = self._load(c, pid)
            if row["status"] not in _OPEN:
                raise ToolFailure("plan_closed" if row["status"] in _CLOSED else "not_approved", f"plan {pid} is {row['status']}; steps are skipped on an approved plan")
            step = plan.step(sid)
            if step is None:
                raise ToolFailure("unknown_step", f"plan {pid} has no step {sid!r}; its steps are {_ids(plan)}")
            srow = self._step_row(c, pid, sid)
            if srow["status"] != "pending":
                raise ToolFailure("step_not_skippable", f"step {sid!r} is {srow['status']}; only a step that has not passed can be skipped")
            self._set_step(c, pid, sid, status="skipped", note=reason.strip(), done_at=self.clock())
            self._event(c, pid, "skipped", {"step_id": sid, "reason": reason.strip()})
            self._advance(c, pid, plan)
            state = self._state(c, pid, plan)
        return {"status": _flow_status(state["status"]), "step_id": sid, **_ready_part(state, plan), "budget": state["budget"]}

    def commit(self, plan_id: object, label: object) -> dict[str, Any]:
        """`stratum_commit`: save the plan's step states under `label`."""
        pid = _id_arg(plan_id, "plan_id")
        name = _label(label)
        with self._tx() as c:
            row, _ = self._load(c, pid)
            rows = self._rows(c, pid, full=True)
            snapshot = {"round": row["round"], "status": row["status"],
                        "steps": {sid: {k: r[k] for k in _STEP_STATE} for sid, r in rows.items()}}
            c.execute("INSERT OR REPLACE INTO checkpoints (plan_id, label, at, state) VALUES (?, ?, ?, ?)", (pid, name, self.clock(), json.dumps(snapshot)))
            self._event(c, pid, "committed", {"label": name})
            labels = [r[0] for r in c.execute("SELECT label FROM checkpoints WHERE plan_id=? ORDER BY at", (pid,))]
        return {"status": "committed", "plan_id": pid, "label": name, "checkpoints": labels}

    def revert(self, plan_id: object, label: object) -> dict[str, Any]:
        """`stratum_revert`: restore the step states saved by `stratum_commit(label)`."""
        pid = _id_arg(plan_id, "plan_id")
        name = _label(label)
        with self._tx() as c:
            row, plan = self._load(c, pid)
            if row["status"] in ("rejected", "awaiting_approval", "killed"):
                raise ToolFailure("not_revertible", f"plan {pid} is {row['status']}; only an approved, failed or finished plan can be reverted")
            saved = c.execute("SELECT state FROM checkpoints WHERE plan_id=? AND label=?", (pid, name)).fetchone()
            if saved is None:
                labels = [r[0] for r in c.execute("SELECT label FROM checkpoints WHERE plan_id=? ORDER BY at", (pid,))]
                raise ToolFailure("unknown_checkpoint", f"plan {pid} has no checkpoint {name!r}; its checkpoints: {', '.join(labels) or 'none'}")
            snapshot = json.loads(saved[0])
            for sid, values in cast(dict[str, dict[str, Any]], snapshot["steps"]).items():
                cols = ", ".join(f"{k}=?" for k in values)
                c.execute(f"UPDATE steps SET {cols} WHERE plan_id=? AND step_id=?", (*values.values(), pid, sid))
            status = snapshot["status"] if snapshot["status"] in _OPEN else "approved"
            c.execute("UPDATE plans SET status=?, round=?, closed_at=NULL, close_reason=NULL WHERE plan_id=?", (status, snapshot["round"], pid))
            self._event(c, pid, "reverted", {"label": name})
            self._advance(c, pid, plan)
            state = self._state(c, pid, plan)
        return {"status": _flow_status(state["status"]), "plan_id": pid, "reverted_to": name, **_ready_part(state, plan), "budget": state["budget"]}

    def request_extension(self, plan_id: object, budget: object) -> dict[str, Any]:
        """`stratum_budget_extend`, first half: record the request; a human approves it."""
        pid = _id_arg(plan_id, "plan_id")
        extra = _extension(budget)
        with self._tx() as c:
            row, plan = self._load(c, pid)
            if row["status"] not in _OPEN:
                raise ToolFailure("plan_closed" if row["status"] in _CLOSED else "not_approved", f"plan {pid} is {row['status']}; only an approved plan's budget can be extended")
            c.execute("UPDATE plans SET pending_extension=? WHERE plan_id=?", (json.dumps(extra), pid))
            self._event(c, pid, "budget_extension_requested", {"extend_by": extra})
            budget_now = self._budget(c, self._plan_row(c, pid), plan)
        return {"plan_id": pid, "status": "awaiting_approval", "extend_by": extra, "budget": budget_now}

    def resolve_extension(self, plan_id: str, approve: bool, by: str, *, method: str, rationale: str = "") -> dict[str, Any]:
        """`stratum_budget_extend`, second half: the human's answer."""
        with self._tx() as c:
            row, plan = self._load(c, plan_id)
            if row["pending_extension"] is None:
                raise ToolFailure("no_pending_extension", f"plan {plan_id} has no budget extension waiting; the agent asks with stratum_budget_extend")
            extra = cast(dict[str, Any], json.loads(row["pending_extension"]))
            c.execute("UPDATE plans SET pending_extension=NULL WHERE plan_id=?", (plan_id,))
            if not approve:
                self._event(c, plan_id, "budget_extension_declined", {"extend_by": extra, "by": by, "method": method, "rationale": rationale})
                state = self._state(c, plan_id, plan)
                return {"plan_id": plan_id, "status": "declined", "plan_status": state["status"], "budget": state["budget"]}
            total = cast(dict[str, Any], json.loads(row["extra_budget"] or "{}"))
            for axis, amount in extra.items():
                total[axis] = float(Decimal(str(total.get(axis, 0))) + Decimal(str(amount)))
            c.execute("UPDATE plans SET extra_budget=? WHERE plan_id=?", (json.dumps(total), plan_id))
            self._event(c, plan_id, "budget_extended", {"extend_by": extra, "by": by, "method": method, "rationale": rationale})
            row = self._plan_row(c, plan_id)
            budget = self._budget(c, row, plan, signal=False)
            fraction = budget["fraction_used"] or 0.0
            c.execute("UPDATE plans SET signaled=? WHERE plan_id=?", (max([t for t in THRESHOLDS if fraction >= t], default=0.0), plan_id))
            if row["status"] == "budget_exhausted" and not budget["exhausted"]:
                c.execute("UPDATE plans SET status='approved' WHERE plan_id=?", (plan_id,))
            state = self._state(c, plan_id, plan)
        return {"plan_id": plan_id, "status": "extended", "plan_status": state["status"], **_ready_part(state, plan), "budget": state["budget"]}

    def status(self, plan_id: object) -> dict[str, Any]:
        """`stratum_status`: progress, ready steps and budget."""
        pid = _id_arg(plan_id, "plan_id")
        with self._tx() as c:
            row, plan = self._load(c, pid)
            self._advance(c, pid, plan)
            state = self._state(c, pid, plan)
            rows = self._rows(c, pid)
            row = self._plan_row(c, pid)
        steps = [
            {"id": s.id, "status": rows[s.id]["status"], "attempts": rows[s.id]["attempts"],
             **({"retries_left": _retries_left(s, int(rows[s.id]["round_attempts"]))} if rows[s.id]["status"] == "pending" else {})}
            for s in plan.steps
        ]
        done = sum(1 for s in steps if s["status"] in _SETTLED)
        out: dict[str, Any] = {
            "plan_id": pid, "name": plan.name, "status": row["status"], "approved_by": row["approved_by"],
            "progress": {"done": done, "total": len(steps)}, "round": row["round"], "steps": steps,
            **_ready_part(state, plan), "budget": state["budget"],
        }
        if row["pending_extension"] is not None:
            out["pending_extension"] = json.loads(row["pending_extension"])
        return out

    def handoff(self, plan_id: object) -> dict[str, Any]:
        """`stratum_handoff`: the remaining work as a compact brief for a fresh context."""
        pid = _id_arg(plan_id, "plan_id")
        with self._tx() as c:
            _, plan = self._load(c, pid)
            out = self._handoff(c, pid, plan)
            self._event(c, pid, "handoff", {"remaining": [r["id"] for r in out["remaining"]]})
        return out

    def resume(self, plan_id: object) -> dict[str, Any]:
        """`stratum_resume`: pick a plan up after a restart or in a fresh context."""
        pid = _id_arg(plan_id, "plan_id")
        with self._tx() as c:
            row, plan = self._load(c, pid)
            self._advance(c, pid, plan)
            row = self._plan_row(c, pid)
            self._event(c, pid, "resumed", {"status": row["status"]})
            state = self._state(c, pid, plan)
            brief = self._handoff(c, pid, plan)
        out: dict[str, Any] = {"plan_id": pid, "status": row["status"], **_ready_part(state, plan), "budget": state["budget"],
                               "brief": brief["brief"], "done": brief["done"], "remaining": brief["remaining"]}
        if row["status"] == "budget_exhausted":
            out["next"] = ("The budget is spent: these steps are ready but need more budget. Ask the user, then call "
                           "stratum_budget_extend(plan_id, budget={...}) before reporting them.")
        return out

    def list_plans(self, status: object = None) -> dict[str, Any]:
        """`stratum_list`: every stored plan, newest first."""
        if status is not None and not isinstance(status, str):
            raise ToolFailure("invalid_argument", "status filter must be a string such as 'approved'")
        query = "SELECT p.plan_id, p.name, p.status, p.created_at, p.approved_by, " \
                "(SELECT COUNT(*) FROM steps s WHERE s.plan_id=p.plan_id AND s.status IN ('done','skipped','routed')) AS done, " \
                "(SELECT COUNT(*) FROM steps s WHERE s.plan_id=p.plan_id) AS total FROM plans p"
        args: tuple[Any, ...] = ()
        if status:
            query += " WHERE p.status=?"
            args = (status,)
        with self._lock:
            rows = self.conn.execute(query + " ORDER BY p.created_at DESC, p.rowid DESC LIMIT 200", args).fetchall()
        return {"plans": [
            {"plan_id": r["plan_id"], "name": r["name"], "status": r["status"], "created_at": r["created_at"],
             "approved_by": r["approved_by"], "progress": {"done": r["done"], "total": r["total"]}}
            for r in rows
        ]}

    def audit(self, plan_id: object, *, format: str = "table") -> dict[str, Any]:
        """`stratum_audit`: the structured trace and the rendered table (`format`: table or md)."""
        pid = _id_arg(plan_id, "plan_id")
        with self._tx() as c:
            row, plan = self._load(c, pid)
            self._advance(c, pid, plan)
            row = self._plan_row(c, pid)
            rows = self._rows(c, pid, full=True)
            charged: dict[str, list[sqlite3.Row]] = {s.id: [] for s in plan.steps}
            all_attempts = c.execute("SELECT * FROM attempts WHERE plan_id=? ORDER BY reported_at, rowid", (pid,)).fetchall()
            for a in all_attempts:
                charged[a["charged_to"] or a["step_id"]].append(a)
            events = [{"seq": e["seq"], "at": e["at"], "kind": e["kind"], **json.loads(e["data"])}
                      for e in c.execute("SELECT * FROM events WHERE plan_id=? AND kind != 'attempt' ORDER BY seq", (pid,)).fetchall()]
            budget = self._state(c, pid, plan)["budget"]
        gates = {e["step_id"]: e for e in events if e["kind"] == "gate_resolved"}
        steps: list[dict[str, Any]] = []
        for s in plan.steps:
            r = rows[s.id]
            mine = charged[s.id]
            own = [a for a in mine if a["charged_to"] is None]
            reasons = [_reason(a) for a in mine if not a["passed"] and (a["charged_to"] is not None or a["kind"] == "work")]
            started = r["ready_at"]
            ended = r["done_at"] or (own[-1]["reported_at"] if own else None)
            entry: dict[str, Any] = {
                "id": s.id, "function": s.name, "status": r["status"], "attempts": len(own),
                "tool_calls": sum(a["tool_calls"] for a in mine), "input_tokens": sum(a["input_tokens"] for a in mine),
                "output_tokens": sum(a["output_tokens"] for a in mine), "tokens": sum(a["tokens"] for a in mine),
                "cost_usd": float(sum((Decimal(a["usd"]) for a in mine), Decimal(0))),
                "duration_ms": None if started is None or ended is None else round((ended - started) * 1000),
                "retry_reasons": reasons,
            }
            if r["outcome"]:
                entry["outcome"] = r["outcome"]
            if r["note"]:
                entry["note"] = r["note"]
            if s.id in gates:
                g = gates[s.id]
                entry["gate"] = {k: g.get(k) for k in ("outcome", "resolved_by", "rationale", "method")}
            if len(mine) > 1 or any(not a["passed"] for a in mine):
                entry["attempt_log"] = [
                    {"step_id": a["step_id"], "attempt": a["attempt"], "passed": bool(a["passed"]), "kind": a["kind"],
                     "violations": json.loads(a["violations"]), **({"reason": a["reason"]} if a["reason"] else {}),
                     "tokens": a["tokens"], "tool_calls": a["tool_calls"], "reported_at": a["reported_at"]}
                    for a in mine
                ]
            if len(plan.steps) > COMPACT_OVER:  # a large plan's audit: what is zero or empty, and the token split, are left out
                entry = {k: v for k, v in entry.items()
                         if k not in _SPLIT and (v not in (0, 0.0, [], None) or k in ("attempts", "tokens"))}
            steps.append(entry)
        reported = {a["step_id"] for a in all_attempts}
        totals = {
            "attempts": len(all_attempts),
            "retries": len(all_attempts) - len(reported),
            "tool_calls": row["tool_calls"], "input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"],
            "tokens": row["tokens"], "cost_usd": float(Decimal(row["usd"])),
            "duration_ms": None if row["approved_at"] is None else round(((row["closed_at"] or self.clock()) - row["approved_at"]) * 1000),
        }
        budget_notes = _budget_notes(events)
        return {
            "plan_id": pid, "name": plan.name, "status": row["status"], "approved_by": row["approved_by"],
            "approval_method": row["approval_method"], "steps": steps, "totals": totals, "events": events,
            "budget": budget, "rendered": render_plan_audit(steps, totals, row["status"], budget_notes, format=format),
        }

    # -- checks (no store access) ------------------------------------------------------------

    def _judge(self, plan: Plan, step: PlanStep, result: Any) -> _Verdict:
        verdict = _Verdict(result)
        if isinstance(result, str) and step.output is not None and not _accepts_string(step.output):
            try:
                parsed = json.loads(result)
            except ValueError:
                parsed = None
            if parsed is not None and not isinstance(parsed, str):
                verdict.result, verdict.coerced = parsed, "the result was a JSON string; it was read as the JSON it holds"
        if step.output is not None:
            found = schema_violations(step.output, verdict.result)
            if found:
                verdict.violations, verdict.slip = found, True
                return verdict  # ensure reads fields the schema just said are wrong; skip it
        if step.guardrails:
            text = json.dumps(verdict.result, ensure_ascii=False, sort_keys=True)
            for pattern in step.guardrails:
                try:
                    if search(pattern, text):
                        verdict.violations.append(f"guardrail: the result matches {pattern!r}; remove it")
                except RegexTimeout:
                    verdict.violations.append(f"guardrail: {pattern!r} did not finish in time; the result is refused (fail-closed)")
        for expr in step.ensure:
            violation = expr.check(verdict.result, root=self.root)
            if violation is not None:
                verdict.violations.append(violation)
        if step.exit_criterion is not None and not verdict.violations:
            miss = step.exit_criterion.check(verdict.result, root=self.root, label="exit_criterion")
            verdict.exit_met, verdict.exit_violation = miss is None, miss
        del plan
        return verdict

    # -- state changes -----------------------------------------------------------------------

    def _record(self, c: sqlite3.Connection, row: sqlite3.Row, plan: Plan, step: PlanStep, srow: sqlite3.Row,
                verdict: _Verdict, encoded: str, spent: _Usage, reason: object) -> dict[str, Any]:
        pid, sid = row["plan_id"], step.id
        now = self.clock()
        violations = verdict.violations
        passed = not violations
        slip = verdict.slip and int(srow["slips"]) < MAX_SLIPS
        attempt = int(srow["attempts"]) + 1
        round_attempts = int(srow["round_attempts"]) + (0 if slip else 1)
        c.execute(
            "INSERT INTO attempts (plan_id, step_id, attempt, reported_at, passed, result, violations, tool_calls, input_tokens, "
            "output_tokens, tokens, usd, reason, kind, round) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, sid, attempt, now, int(passed), encoded, json.dumps(violations), spent.tool_calls, spent.input_tokens,
             spent.output_tokens, spent.tokens, str(spent.usd), reason, "format" if slip else "work", row["round"]),
        )
        c.execute(
            "UPDATE steps SET attempts=?, round_attempts=?, slips=slips+?, tool_calls=tool_calls+?, input_tokens=input_tokens+?, "
            "output_tokens=output_tokens+?, tokens=tokens+?, usd=? WHERE plan_id=? AND step_id=?",
            (attempt, round_attempts, int(slip), spent.tool_calls, spent.input_tokens, spent.output_tokens, spent.tokens,
             str(Decimal(srow["usd"]) + spent.usd), pid, sid),
        )
        c.execute(
            "UPDATE plans SET tool_calls=tool_calls+?, input_tokens=input_tokens+?, output_tokens=output_tokens+?, "
            "tokens=tokens+?, usd=? WHERE plan_id=?",
            (spent.tool_calls, spent.input_tokens, spent.output_tokens, spent.tokens, str(Decimal(row["usd"]) + spent.usd), pid),
        )
        self._event(c, pid, "attempt", {"step_id": sid, "attempt": attempt, "passed": passed, "violations": violations,
                                        **({"reason": reason} if reason else {})})
        response: dict[str, Any] = {"status": "next", "step_id": sid, "attempt": attempt}
        if verdict.coerced:
            response["note"] = verdict.coerced
        retries_left = _retries_left(step, round_attempts)
        over_step = None if passed else _step_over_budget(step, self._step_row(c, pid, sid), now)
        iteration: dict[str, Any] | None = None
        routed_to: str | None = None
        if passed and step.max_iterations is not None:
            fingerprints = [*json.loads(srow["iterations"] or "[]"), hashlib.sha256(encoded.encode()).hexdigest()[:16]]
            count = len(fingerprints)
            stagnant = len(fingerprints) >= step.stagnation and len(set(fingerprints[-step.stagnation:])) == 1
            if verdict.exit_met is None or verdict.exit_met:
                outcome = "exit_success"
            elif stagnant:
                outcome = "exit_stagnation"
            elif count >= step.max_iterations:
                outcome = "exit_max"
            else:
                outcome = "continue"
            iteration = {"iteration": count, "max_iterations": step.max_iterations, "exit_criterion_met": bool(verdict.exit_met or verdict.exit_met is None), "outcome": outcome}
            c.execute("UPDATE steps SET iterations=?, result=? WHERE plan_id=? AND step_id=?", (json.dumps(fingerprints), encoded, pid, sid))
            if outcome == "continue":
                passed = False
                violations = [verdict.exit_violation or "exit_criterion not met"]
                retries_left = _retries_left(step, int(srow["round_attempts"]))
                c.execute("UPDATE steps SET round_attempts=? WHERE plan_id=? AND step_id=?", (srow["round_attempts"], pid, sid))
            else:
                c.execute("UPDATE steps SET outcome=? WHERE plan_id=? AND step_id=?", (outcome, pid, sid))
                self._event(c, pid, "iteration_ended", {"step_id": sid, "outcome": outcome, "iterations": count})
        if passed:
            self._set_step(c, pid, sid, status="done", done_at=now, result=encoded, retry_context=None)
            if step.next is not None:
                routed_to = self._route(c, pid, plan, step, step.next, None, kind="next")
        elif slip:
            response["format_slip"] = True
            response["expected"] = _expected(step)
        elif iteration is not None and iteration["outcome"] == "continue":
            pass
        elif retries_left == 0 or over_step:
            if over_step:
                violations = [*violations, over_step]
                retries_left = 0
            context = {"from": sid, "violations": violations, "reason": reason if isinstance(reason, str) else None}
            if step.on_fail is not None:
                routed_to = self._route(c, pid, plan, step, step.on_fail, context, kind="on_fail")
            else:
                self._set_step(c, pid, sid, status="failed", done_at=now)
                self._close(c, pid, "failed", f"step {sid} failed with no retries left")
                self._event(c, pid, "failed", {"step_id": sid, "violations": violations})
        self._advance(c, pid, plan)
        state = self._state(c, pid, plan)
        budget = state["budget"]
        plan_status = state["status"]
        response.update(violations=violations, retries_left=retries_left, budget=budget)
        response.update(_ready_part(state, plan))
        if iteration is not None:
            response["iteration"] = iteration
        if plan_status == "complete":
            response.update(status="complete", ready=[], next="All steps passed. Call stratum_audit and show the user the rendered audit.")
        elif plan_status in ("failed", "killed"):
            why = self._plan_row(c, pid)["close_reason"] or f"step {sid!r} failed with no retries left"
            response.update(status="failed", ready=[], next=f"The plan {plan_status}: {why}. Tell the user what failed; stratum_handoff has the remaining work.")
        elif budget["exhausted"]:
            if plan_status != "budget_exhausted":
                c.execute("UPDATE plans SET status='budget_exhausted' WHERE plan_id=?", (pid,))
                self._event(c, pid, "budget_exhausted", {"spent": budget["spent"]})
            response.update(status="budget_exhausted", ready=[], handoff=self._handoff(c, pid, plan)["brief"],
                            next="The budget is spent. Stop and ask the user: stratum_budget_extend(plan_id, budget) asks them for more; "
                                 "or give them this handoff brief and resume later with stratum_resume.")
        elif routed_to is not None and step.on_fail == routed_to and not passed:
            response.update(status="reopened", next=f"Step {sid!r} failed; step {routed_to!r} runs again with that failure as its retry_context. "
                                                    "Fix what it names, report it, then the steps after it re-run.")
        elif slip:
            response.update(status="retry", next=f"The result is not the declared shape (a formatting slip: no retry spent). Report step {sid!r} again in the `expected` shape.")
        elif iteration is not None and iteration["outcome"] == "continue":
            response.update(status="retry", next=f"Iteration {iteration['iteration']} of {step.max_iterations}: the exit criterion is not met yet. Improve the result and report step {sid!r} again.")
        elif not passed:
            response.update(status="retry", next=f"Fix only what the violations name, then report step {sid!r} again.")
        else:
            response["next"] = "Run the ready steps (independent ones may run together) and report each with stratum_step_done."
        return response

    def _route(self, c: sqlite3.Connection, pid: str, plan: Plan, source: PlanStep, target_id: str,
               context: dict[str, Any] | None, *, kind: str) -> str | None:
        """Send the plan to `target_id`; returns it, or None when `max_rounds` stops the plan."""
        target = cast(PlanStep, plan.step(target_id))
        now = self.clock()
        row = self._plan_row(c, pid)
        backwards = target.position <= source.position
        if backwards:
            if int(row["round"]) >= plan.max_rounds:
                self._set_step(c, pid, source.id, status="failed", done_at=now)
                self._close(c, pid, "failed", f"{kind} from {source.id!r} to {target.id!r} would start round {int(row['round']) + 1}, over max_rounds={plan.max_rounds}")
                self._event(c, pid, "max_rounds_exceeded", {"from": source.id, "to": target.id, "max_rounds": plan.max_rounds})
                return None
            clear = self._downstream(plan, target)
            rows = self._rows(c, pid)
            self._event(c, pid, "round_archived", {
                "round": row["round"], "from": source.id, "to": target.id, "via": kind,
                "steps": {sid: rows[sid]["status"] for sid in sorted(clear, key=lambda i: cast(PlanStep, plan.step(i)).position)},
            })
            c.execute("UPDATE plans SET round=round+1 WHERE plan_id=?", (pid,))
            for sid in clear:
                self._set_step(c, pid, sid, status="pending", ready_at=None, done_at=None, result=None, retry_context=None,
                               round_attempts=0, slips=0, outcome=None, iterations="[]", note=None)
            if context is not None and kind == "on_fail":
                # The step that was wrong pays: this round's failed reports of the source are its attempts.
                c.execute("UPDATE attempts SET charged_to=? WHERE plan_id=? AND step_id=? AND passed=0 AND round=? AND charged_to IS NULL",
                          (target.id, pid, source.id, row["round"]))
        else:
            rows = self._rows(c, pid)
            if kind == "on_fail":
                self._set_step(c, pid, source.id, status="routed", done_at=now, note=f"failed; routed to {target.id}")
            for s in plan.steps:
                if source.position < s.position < target.position and rows[s.id]["status"] == "pending":
                    self._set_step(c, pid, s.id, status="skipped", done_at=now, note=f"jumped over: {kind} of {source.id} went to {target.id}")
            self._set_step(c, pid, target.id, status="pending", ready_at=None, done_at=None, result=None, round_attempts=0, slips=0)
        if context is not None:
            self._set_step(c, pid, target.id, retry_context=json.dumps(context))
        self._event(c, pid, "routed", {"from": source.id, "to": target.id, "via": kind, "backwards": backwards})
        return target.id

    def _downstream(self, plan: Plan, target: PlanStep) -> set[str]:
        """The target, every step listed after it, and everything depending on those."""
        clear = {s.id for s in plan.steps if s.position >= target.position}
        changed = True
        while changed:
            changed = False
            for s in plan.steps:
                if s.id not in clear and any(d in clear for d in s.depends_on):
                    clear.add(s.id)
                    changed = True
        return clear

    def _resolve_gate(self, c: sqlite3.Connection, pid: str, plan: Plan, step: PlanStep, outcome: str,
                      rationale: str, who: str, method: str) -> dict[str, Any]:
        now = self.clock()
        srow = self._step_row(c, pid, step.id)
        waited = None if srow["ready_at"] is None else round((now - srow["ready_at"]) * 1000)
        record = {"step_id": step.id, "outcome": outcome, "rationale": rationale, "resolved_by": who, "method": method, "waited_ms": waited}
        self._event(c, pid, "gate_resolved", record)
        note = f"{outcome} by {who}" + (f": {rationale}" if rationale else "")
        routed: str | None = None
        status = "next"
        if outcome == "approve":
            self._set_step(c, pid, step.id, status="done", done_at=now, outcome="approve", note=note)
            if step.on_approve is not None:
                routed = self._route(c, pid, plan, step, step.on_approve, None, kind="on_approve")
        elif outcome == "revise":
            if step.on_revise is None:
                raise ToolFailure("missing_on_revise", f"gate {step.id!r} has no `on_revise` step to send the work back to; approve or kill it")
            self._set_step(c, pid, step.id, outcome="revise", note=note)
            context: dict[str, Any] = {"from": step.id, "violations": [], "reason": rationale or "revise requested at the gate"}
            routed = self._route(c, pid, plan, step, step.on_revise, context, kind="on_revise")
            status = "reopened" if routed is not None else "failed"
        else:
            self._set_step(c, pid, step.id, status="done", done_at=now, outcome="kill", note=note)
            if step.on_kill is None:
                self._close(c, pid, "killed", f"gate {step.id} killed by {who}" + (f": {rationale}" if rationale else ""))
                status = "killed"
            else:
                routed = self._route(c, pid, plan, step, step.on_kill, None, kind="on_kill")
        self._advance(c, pid, plan)
        final = self._plan_row(c, pid)["status"]
        if final == "complete":
            status = "complete"
        elif final == "failed":
            status = "failed"
        out: dict[str, Any] = {"status": status, "plan_id": pid, "gate": record}
        if routed is not None:
            out["routed_to"] = routed
        return out

    def _advance(self, c: sqlite3.Connection, pid: str, plan: Plan) -> None:
        """Settle what follows from the current state: skip_if, gate timeouts, ready times, completion."""
        for _ in range(len(plan.steps) * 2 + 2):
            row = self._plan_row(c, pid)
            if row["status"] not in _OPEN:
                return
            rows = self._rows(c, pid)
            now = self.clock()
            changed = False
            for s in plan.steps:
                r = rows[s.id]
                if not self._is_ready(rows, s):
                    continue
                if s.skip_if is not None and self._should_skip(c, pid, s, plan):
                    self._set_step(c, pid, s.id, status="skipped", done_at=now, note=f"skip_if: {s.skip_if.source}")
                    self._event(c, pid, "skipped", {"step_id": s.id, "reason": f"skip_if: {s.skip_if.source}"})
                    changed = True
                    break
                if r["ready_at"] is None:
                    c.execute("UPDATE steps SET ready_at=? WHERE plan_id=? AND step_id=?", (now, pid, s.id))
                elif s.gate and s.timeout is not None and now - float(r["ready_at"]) >= s.timeout:
                    outcome = s.on_timeout
                    if outcome == "revise" and s.on_revise is None:
                        outcome = "kill"
                    self._resolve_gate(c, pid, plan, s, outcome, f"timeout after {s.timeout:g}s", "system", "timeout")
                    changed = True
                    break
            if not changed:
                idle = [s for s in plan.steps if s.recovery and rows[s.id]["status"] == "pending" and rows[s.id]["retry_context"] is None]
                if all(rows[s.id]["status"] in _SETTLED or s in idle for s in plan.steps):
                    for s in idle:
                        self._set_step(c, pid, s.id, status="skipped", done_at=now, note="recovery step not needed: nothing failed into it")
                    self._close(c, pid, "complete", None)
                    self._event(c, pid, "complete", {})
                return

    def _should_skip(self, c: sqlite3.Connection, pid: str, step: PlanStep, plan: Plan) -> bool:
        rows = self._rows(c, pid, full=True)
        scope = {"input": dict(plan.input or {}),
                 "steps": {sid: {"output": None if r["result"] is None else json.loads(r["result"]), "status": r["status"]} for sid, r in rows.items()}}
        try:
            return bool(cast(Any, step.skip_if).evaluate(root=self.root, scope=scope))
        except StratumError:
            return False  # a skip_if that cannot be evaluated runs the step: never skip work silently

    def _is_ready(self, rows: Mapping[str, sqlite3.Row], step: PlanStep) -> bool:
        r = rows[step.id]
        if step.recovery and r["retry_context"] is None:
            return False  # a recovery step runs only when a failure is routed to it
        return r["status"] == "pending" and all(rows[d]["status"] in _SETTLED for d in step.depends_on)

    def _close(self, c: sqlite3.Connection, pid: str, status: str, reason: str | None) -> None:
        c.execute("UPDATE plans SET status=?, closed_at=?, close_reason=? WHERE plan_id=?", (status, self.clock(), reason, pid))

    def _set_step(self, c: sqlite3.Connection, pid: str, sid: str, **values: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in values)
        c.execute(f"UPDATE steps SET {cols} WHERE plan_id=? AND step_id=?", (*values.values(), pid, sid))

    # -- reads -------------------------------------------------------------------------------

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

    def _plan_row(self, c: sqlite3.Connection, pid: str) -> sqlite3.Row:
        return c.execute("SELECT * FROM plans WHERE plan_id=?", (pid,)).fetchone()

    def _step_row(self, c: sqlite3.Connection, pid: str, sid: str) -> sqlite3.Row:
        return c.execute("SELECT * FROM steps WHERE plan_id=? AND step_id=?", (pid, sid)).fetchone()

    def _rows(self, c: sqlite3.Connection, pid: str, *, full: bool = False) -> dict[str, sqlite3.Row]:
        """Step rows by id; without `full`, only the columns that decide readiness (no results)."""
        cols = "*" if full else _LEAN
        return {r["step_id"]: r for r in c.execute(f"SELECT {cols} FROM steps WHERE plan_id=? ORDER BY position", (pid,)).fetchall()}

    def _event(self, c: sqlite3.Connection, pid: str, kind: str, data: Mapping[str, Any]) -> None:
        c.execute("INSERT INTO events (plan_id, at, kind, data) VALUES (?, ?, ?, ?)", (pid, self.clock(), kind, json.dumps(data)))

    def _state(self, c: sqlite3.Connection, pid: str, plan: Plan) -> dict[str, Any]:
        row = self._plan_row(c, pid)
        rows = self._rows(c, pid)
        ready: list[dict[str, Any]] = []
        if row["status"] in _OPEN:
            for s in plan.steps:
                r = rows[s.id]
                if self._is_ready(rows, s):
                    brief = _step_brief(s)
                    brief["retries_left"] = _retries_left(s, int(r["round_attempts"]))
                    if r["retry_context"]:
                        brief["retry_context"] = json.loads(r["retry_context"])
                    if s.references:
                        brief["inputs"] = _resolve(s.inputs, s.references, plan, lambda sid: self._step_row(c, pid, sid)["result"])
                    if s.max_iterations is not None:
                        brief["iteration"] = len(json.loads(r["iterations"] or "[]")) + 1
                    ready.append(brief)
        return {"status": row["status"], "ready": ready, "budget": self._budget(c, row, plan)}

    def _limits(self, row: sqlite3.Row, plan: Plan) -> dict[str, Any]:
        limits = plan.budget.to_json()
        extra = cast(dict[str, Any], json.loads(row["extra_budget"] or "{}"))
        for axis, amount in extra.items():
            if axis in limits:
                limits[axis] = _round(float(limits[axis]) + float(amount))
        return limits

    def _budget(self, c: sqlite3.Connection, row: sqlite3.Row, plan: Plan, *, signal: bool = True) -> dict[str, Any]:
        approved_at = row["approved_at"]
        end = row["closed_at"] or self.clock()
        minutes = 0.0 if approved_at is None else max(end - approved_at, 0.0) / 60.0
        spent: dict[str, Any] = {"tool_calls": row["tool_calls"], "tokens": row["tokens"], "minutes": round(minutes, 3),
                                 "usd": float(Decimal(row["usd"]))}
        limits = self._limits(row, plan)
        fractions = {axis: (float(spent[axis]) / float(limits[axis])) for axis in AXES if axis in limits}
        fraction = max(fractions.values(), default=None)
        budget: dict[str, Any] = {
            "limits": limits, "spent": spent,
            "remaining": {axis: _round(max(float(limits[axis]) - float(spent[axis]), 0.0)) for axis in limits},
            "fraction_used": None if fraction is None else round(fraction, 4),
            "exhausted": fraction is not None and fraction >= 1.0,
            "signals": [],
        }
        if json.loads(row["extra_budget"] or "{}"):
            budget["extended_by"] = json.loads(row["extra_budget"])
        if signal and fraction is not None and row["status"] in _OPEN:
            crossed = [t for t in THRESHOLDS if fraction >= t and t > float(row["signaled"])]
            if crossed:
                top = max(crossed)
                axis = max(fractions, key=lambda a: fractions[a])
                c.execute("UPDATE plans SET signaled=? WHERE plan_id=?", (top, row["plan_id"]))
                signal_entry = {"threshold": top, "axis": axis, "fraction_used": round(fraction, 4),
                                "action": "handoff" if top >= 0.8 else "checkpoint", "message": _SIGNAL_TEXT[top]}
                budget["signals"] = [signal_entry]
                self._event(c, row["plan_id"], "budget_signal", signal_entry)
        return budget

    def _handoff(self, c: sqlite3.Connection, pid: str, plan: Plan) -> dict[str, Any]:
        row = self._plan_row(c, pid)
        rows = self._rows(c, pid, full=True)
        done: list[dict[str, Any]] = []
        remaining: list[dict[str, Any]] = []
        needed = {d for s in plan.steps if rows[s.id]["status"] not in _SETTLED for d in s.depends_on}
        for s in plan.steps:
            r = rows[s.id]
            if r["status"] in _SETTLED:
                entry: dict[str, Any] = {"id": s.id, "fn": s.fn, **({"status": r["status"]} if r["status"] != "done" else {})}
                if s.id in needed and r["result"] is not None:
                    entry["result"] = json.loads(r["result"])  # what the remaining steps build on
                done.append(entry)
            else:
                last = c.execute("SELECT violations FROM attempts WHERE plan_id=? AND step_id=? ORDER BY attempt DESC LIMIT 1", (pid, s.id)).fetchone()
                entry = _step_brief(s)
                entry.update(status=r["status"], attempts=r["attempts"],
                             blocked_by=[d for d in s.depends_on if rows[d]["status"] not in _SETTLED],
                             last_violations=json.loads(last["violations"]) if last else [])
                remaining.append(entry)
        budget = self._budget(c, row, plan)
        brief = render_handoff(pid, plan.name, row["status"], row["approved_by"], done, remaining, budget)
        return {"plan_id": pid, "status": row["status"], "brief": brief, "done": done, "remaining": remaining, "budget": budget}


def _ready_part(state: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """`ready`, plus the contracts the ready steps name (each schema once, not once per step)."""
    ready = cast(list[dict[str, Any]], state["ready"])
    out: dict[str, Any] = {"ready": ready}
    names = {r["output"] for r in ready if isinstance(r.get("output"), str)}
    if names and plan.contracts:
        out["contracts"] = {n: plan.contracts[n] for n in sorted(names) if n in plan.contracts}
    return out


def _flow_status(plan_status: str) -> str:
    return {"complete": "complete", "failed": "failed", "killed": "killed", "budget_exhausted": "budget_exhausted"}.get(plan_status, "next")


def _resolve(inputs: Any, refs: tuple[Reference, ...], plan: Plan, result_of: Callable[[str], str | None]) -> Any:
    values: dict[str, Any] = {}
    for ref in refs:
        if ref.step is None:
            value: Any = dict(plan.input or {})
        else:
            raw = result_of(ref.step)
            value = None if raw is None else json.loads(raw)
        for part in ref.path:
            if isinstance(value, Mapping):
                value = cast(Mapping[str, Any], value).get(part)
            elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(cast(list[Any], value)) <= int(part) < len(cast(list[Any], value)):
                value = cast(list[Any], value)[int(part)]
            else:
                value = None
        values[ref.text] = value

    def walk(item: Any) -> Any:
        if isinstance(item, str) and item in values:
            return values[item]
        if isinstance(item, Mapping):
            return {k: walk(v) for k, v in cast(Mapping[str, Any], item).items()}
        if isinstance(item, list):
            return [walk(v) for v in cast(list[Any], item)]
        return item

    return walk(inputs)


def _accepts_string(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind is None:
        return True
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def _expected(step: PlanStep) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": step.output}
    if step.output_name:
        out["contract"] = step.output_name
    return out


def _reason(attempt: sqlite3.Row) -> str:
    if attempt["reason"]:
        return str(attempt["reason"])
    return "; ".join(json.loads(attempt["violations"]))


def _budget_notes(events: list[dict[str, Any]]) -> list[str]:
    notes: list[str] = []
    for e in events:
        if e["kind"] == "budget_exhausted":
            notes.append("Budget exceeded: " + ", ".join(f"{k} {v}" for k, v in cast(dict[str, Any], e.get("spent", {})).items()))
        elif e["kind"] == "budget_extended":
            notes.append("Budget extended by " + ", ".join(f"{k} {v}" for k, v in cast(dict[str, Any], e.get("extend_by", {})).items())
                         + f" (approved by {e.get('by')}, {e.get('method')})")
    return notes


def _ids(plan: Plan) -> str:
    ids = [s.id for s in plan.steps]
    return ", ".join(ids[:30]) + (f" and {len(ids) - 30} more" if len(ids) > 30 else "")


def _who(value: object, name: str) -> str:
    if value is None:
        raise ToolFailure("missing_argument", f"`{name}` is required: the person (or 'agent'/'system') deciding, recorded in the audit")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ToolFailure("invalid_argument", f"`{name}` must name who decided (1-200 characters); ask the user, then call again")
    return value.strip()


def _label(value: object) -> str:
    if value is None:
        raise ToolFailure("missing_argument", "`label` is required: a checkpoint name such as 'after_analysis'")
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ToolFailure("invalid_argument", "`label` is a checkpoint name of 1-100 characters")
    return value.strip()


def _extension(budget: object) -> dict[str, Any]:
    if budget is None:
        raise ToolFailure("missing_argument", "`budget` is required: what to add, e.g. {\"tool_calls\": 10, \"minutes\": 5}")
    if not isinstance(budget, Mapping) or not budget:
        raise ToolFailure("invalid_argument", "`budget` is an object of amounts to add, e.g. {\"tool_calls\": 10, \"minutes\": 5}")
    out: dict[str, Any] = {}
    for axis, amount in cast(Mapping[str, Any], budget).items():
        if axis not in AXES:
            raise ToolFailure("invalid_argument", f"unknown budget axis {axis!r}; axes: {', '.join(AXES)}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or not 0 < amount <= 10**12:
            raise ToolFailure("invalid_argument", f"budget.{axis} must be a positive number to add")
        out[axis] = amount
    return out


def _retries_left(step: PlanStep, attempts: int) -> int:
    """Retries still allowed this round: `retries` before any attempt, one fewer per failure after the first."""
    return max(min(step.retries, step.retries + 1 - attempts), 0)


def _step_summary(step: PlanStep, *, compact: bool = False, previous: str | None = None) -> dict[str, Any]:
    """One line of the plan: contracts by name, long text cut (a 500-step plan stays small).

    In a large plan (`compact`) the intent is left to `rendered`, and a dependency on just the
    step before is implied.
    """
    out: dict[str, Any] = {"id": step.id}
    if compact:  # names and intents are in `rendered`; a dependency on the step listed before is implied
        if step.output_name or step.output is not None:
            out["output"] = step.output_name or "inline schema"
        if step.depends_on and step.depends_on != (previous,):
            out["depends_on"] = list(step.depends_on)
        if step.gate:
            out["mode"] = "gate"
        return out
    if step.fn:
        out["fn"] = step.fn
    if step.intent and step.intent != step.fn:
        out["intent"] = step.intent if len(step.intent) <= 120 else step.intent[:119] + "…"
    if step.output_name:
        out["output"] = step.output_name
    elif step.output is not None:
        out["output"] = "inline schema"
    if step.depends_on:
        out["depends_on"] = list(step.depends_on)
    if step.gate:
        out["mode"] = "gate"
    return out


def _step_brief(step: PlanStep) -> dict[str, Any]:
    brief: dict[str, Any] = {"id": step.id, "intent": step.intent}
    if step.fn:
        brief["fn"] = step.fn
    if step.output is not None:
        brief["output"] = step.output_name or step.output  # a named contract's schema is in `contracts`
    if step.ensure:
        brief["ensure"] = [e.source for e in step.ensure]
    if step.depends_on:
        brief["depends_on"] = list(step.depends_on)
    if step.inputs is not None:
        brief["inputs"] = step.inputs
    brief["retries"] = step.retries
    if not step.budget.empty:
        brief["budget"] = step.budget.to_json()
    if step.guardrails:
        brief["guardrails"] = list(step.guardrails)
    if step.on_fail:
        brief["on_fail"] = step.on_fail
    if step.next:
        brief["next"] = step.next
    if step.max_iterations is not None:
        brief["max_iterations"] = step.max_iterations
        if step.exit_criterion is not None:
            brief["exit_criterion"] = step.exit_criterion.source
    if step.gate:
        brief["mode"] = "gate"
        brief["gate"] = {"on_approve": step.on_approve, "on_revise": step.on_revise, "on_kill": step.on_kill,
                         "timeout": step.timeout, "on_timeout": step.on_timeout,
                         "how": "a human resolves it: stratum_gate_resolve(plan_id, step_id, outcome, rationale, resolved_by) "
                                "or `stratum mcp gate PLAN_ID STEP_ID approve|revise|kill` in a terminal"}
    return brief


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
    if value is None:
        raise ToolFailure("missing_argument", f"`{name}` is required" + ("; stratum_list shows plan ids" if name == "plan_id" else "; stratum_status lists the steps"))
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

