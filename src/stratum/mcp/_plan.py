"""The plan format: parse a JSON plan, report every problem at once, and check step results.

A plan is plain JSON (see `docs/mcp.md` for its JSON Schema). Validation never stops at the
first problem: the agent gets the whole list in one round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, cast

from stratum.mcp._expr import Expression, ExpressionError, compile_expression
from stratum.mcp._regex import compile_error
from stratum.mcp._schema import schema_problem, schema_violations

__all__ = ("Limits", "Plan", "PlanStep", "Reference", "parse_plan", "schema_violations")

AXES = ("tool_calls", "tokens", "minutes", "usd")
"""Budget axes, in display order."""
MAX_STEPS = 500
"""Most steps in one plan."""
MAX_ENSURE = 20
"""Most ensure expressions on one step."""
DEFAULT_RETRIES = 2
"""Retries after the first failure when a step does not say."""
MAX_RETRIES = 20
"""Largest accepted `retries`."""
DEFAULT_MAX_ROUNDS = 5
"""Times a plan may route back (on_fail to an earlier step, `next` backwards, gate revise)."""
MAX_ITERATIONS = 100
"""Largest accepted `max_iterations`."""
MAX_GUARDRAILS = 20
"""Most guardrail patterns on one step."""
GATE_OUTCOMES = ("approve", "revise", "kill")
"""How a gate is resolved."""
SKIP_IF_NAMES = ("input", "steps")
"""Names a `skip_if` expression reads: the plan's input and `steps.<id>.output`."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_PLAN_KEYS = frozenset({
    "$schema", "name", "title", "goal", "description", "contracts", "steps", "budget", "max_rounds", "input",
})
_STEP_KEYS = frozenset({
    "id", "fn", "intent", "description", "output", "depends_on", "ensure", "retries", "budget", "inputs",
    "on_fail", "retry", "next", "mode", "on_approve", "on_revise", "on_kill", "timeout", "on_timeout",
    "max_iterations", "exit_criterion", "stagnation", "guardrails", "skip_if",
})
_REF_PREFIX = "$."
_BUDGET_WORDS: Mapping[str, str] = MappingProxyType({
    "tool call": "tool_calls", "tool calls": "tool_calls", "call": "tool_calls", "calls": "tool_calls",
    "token": "tokens", "tokens": "tokens", "minute": "minutes", "minutes": "minutes", "min": "minutes",
    "mins": "minutes", "usd": "usd", "dollar": "usd", "dollars": "usd",
})
_BUDGET_PART = re.compile(
    r"^~?\s*(?P<dollar>\$)?\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>tool calls?|calls?|tokens?|minutes?|mins?|usd|dollars?)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Budget limits; None on an axis means unlimited."""

    tool_calls: int | None = None
    tokens: int | None = None
    minutes: float | None = None
    usd: Decimal | None = None

    def get(self, axis: str) -> float | None:
        """The limit on `axis` as a float, or None."""
        value = getattr(self, axis)
        return None if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        """The limits that are set, as JSON numbers."""
        return {axis: self.get(axis) if axis == "usd" else getattr(self, axis) for axis in AXES if getattr(self, axis) is not None}

    @property
    def empty(self) -> bool:
        """True when no axis is limited."""
        return all(getattr(self, axis) is None for axis in AXES)


@dataclass(frozen=True, slots=True)
class Reference:
    """`$.input.<name>...` or `$.steps.<id>.output.<field>...` in a step's `inputs`."""

    text: str
    step: str | None  # None: the plan's input
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One validated step."""

    id: str
    position: int
    fn: str | None
    intent: str
    output: Mapping[str, Any] | None
    output_name: str | None
    depends_on: tuple[str, ...]
    ensure: tuple[Expression, ...]
    retries: int
    budget: Limits
    inputs: Any
    on_fail: str | None = None
    next: str | None = None
    gate: bool = False
    on_approve: str | None = None
    on_revise: str | None = None
    on_kill: str | None = None
    timeout: float | None = None
    on_timeout: str = "kill"
    max_iterations: int | None = None
    exit_criterion: Expression | None = None
    stagnation: int = 3
    guardrails: tuple[str, ...] = ()
    skip_if: Expression | None = None
    references: tuple[Reference, ...] = ()
    recovery: bool = False  # the forward `on_fail` target of an earlier step: runs only when routed to

    @property
    def name(self) -> str:
        """The function name when given, else the id."""
        return self.fn or self.id


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated plan; `source` is the JSON it was built from."""

    name: str
    steps: tuple[PlanStep, ...]
    budget: Limits
    source: Mapping[str, Any]
    max_rounds: int = DEFAULT_MAX_ROUNDS
    input: Mapping[str, Any] | None = None
    contracts: Mapping[str, Mapping[str, Any]] | None = None

    def step(self, step_id: str) -> PlanStep | None:
        """The step with this id, or None."""
        for step in self.steps:
            if step.id == step_id:
                return step
        return None


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append({"path": path, "code": code, "message": message})


def parse_plan(raw: object) -> tuple[Plan | None, list[dict[str, str]]]:
    """Validate a plan; returns the plan (None when invalid) and every problem found.

    Each problem is `{"path", "code", "message"}`; `path` points into the plan JSON
    (`steps[2].ensure[0]`).
    """
    errors = _Errors()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            errors.add("", "invalid_json", f"the plan string is not JSON ({exc}); send a JSON object")
            return None, errors.items
    if not isinstance(raw, Mapping):
        errors.add("", "invalid_type", f"a plan is a JSON object with `steps`, got {_kind(raw)}")
        return None, errors.items
    plan = cast(Mapping[str, Any], raw)
    for key in plan:
        if key not in _PLAN_KEYS:
            errors.add(key, "unknown_field", f"unknown plan field {key!r}; allowed: {', '.join(sorted(_PLAN_KEYS))}")
    name = plan.get("name", plan.get("title", plan.get("goal", "plan")))
    if not isinstance(name, str):
        errors.add("name", "invalid_type", "`name` must be a string")
        name = "plan"
    contracts = _contracts(plan.get("contracts", {}), errors)
    budget = _limits(plan.get("budget"), "budget", errors)
    max_rounds = plan.get("max_rounds", DEFAULT_MAX_ROUNDS)
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or not 0 <= max_rounds <= 100:
        errors.add("max_rounds", "invalid_max_rounds", "`max_rounds` is an integer from 0 to 100 (times the plan may route back)")
        max_rounds = DEFAULT_MAX_ROUNDS
    plan_input = plan.get("input")
    if plan_input is not None and not isinstance(plan_input, Mapping):
        errors.add("input", "invalid_type", "`input` is an object; steps read it as `$.input.<name>`")
        plan_input = None
    steps_raw = plan.get("steps")
    steps: list[PlanStep] = []
    if not isinstance(steps_raw, list) or not steps_raw:
        errors.add("steps", "missing_steps", "a plan needs a non-empty `steps` list")
    elif len(cast(list[Any], steps_raw)) > MAX_STEPS:
        errors.add("steps", "too_many_steps", f"{len(cast(list[Any], steps_raw))} steps is over the {MAX_STEPS} limit; split the plan")
    else:
        for i, step_raw in enumerate(cast(list[Any], steps_raw)):
            step = _step(step_raw, i, contracts, errors)
            if step is not None:
                steps.append(step)
        _graph(steps, errors)
        _routes(steps, errors)
        positions = {s.id: s.position for s in steps}
        targets = {s.on_fail for s in steps if s.on_fail is not None and positions.get(s.on_fail, 0) > s.position}
        steps = [replace(s, recovery=True) if s.id in targets else s for s in steps]
    if errors.items:
        return None, errors.items
    return Plan(
        name=name[:200], steps=tuple(steps), budget=budget, source=plan, max_rounds=max_rounds,
        input=cast("Mapping[str, Any] | None", plan_input), contracts=contracts,
    ), []


def _contracts(raw: object, errors: _Errors) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    if not isinstance(raw, Mapping):
        errors.add("contracts", "invalid_type", "`contracts` maps contract names to JSON Schemas")
        return out
    for key, schema in cast(Mapping[Any, Any], raw).items():
        if not isinstance(key, str) or not _ID.match(key):
            errors.add(f"contracts.{key}", "invalid_name", "contract names are identifiers like RouteList")
            continue
        if _schema_ok(schema, f"contracts.{key}", errors):
            out[key] = cast(Mapping[str, Any], schema)
    return out


def _schema_ok(schema: object, path: str, errors: _Errors) -> bool:
    problem = schema_problem(schema)
    if problem is None:
        return True
    code = "unsafe_ref" if "points outside the schema" in problem else "invalid_schema"
    errors.add(path, code, problem if isinstance(schema, (Mapping, bool)) else f"{problem}, got {_kind(schema)}")
    return False


def _step(raw: object, i: int, contracts: Mapping[str, Mapping[str, Any]], errors: _Errors) -> PlanStep | None:
    path = f"steps[{i}]"
    if not isinstance(raw, Mapping):
        errors.add(path, "invalid_type", f"a step is an object with an `id`, got {_kind(raw)}")
        return None
    step = cast(Mapping[str, Any], raw)
    ok = True
    for key in step:
        if key not in _STEP_KEYS:
            errors.add(f"{path}.{key}", "unknown_field", f"unknown step field {key!r}; allowed: {', '.join(sorted(_STEP_KEYS))}")
            ok = False
    step_id = step.get("id")
    if isinstance(step_id, int) and not isinstance(step_id, bool):
        step_id = str(step_id)
    if not isinstance(step_id, str) or not _ID.match(step_id):
        errors.add(f"{path}.id", "invalid_id", "a step id is 1-64 letters, digits, '_', '.' or '-'")
        return None
    fn = step.get("fn")
    if fn is not None and (not isinstance(fn, str) or not fn.strip()):
        errors.add(f"{path}.fn", "invalid_type", "`fn` is the step's function name, a string")
        ok, fn = False, None
    intent = step.get("intent", step.get("description"))
    if intent is None:
        intent = fn or ""
        if not fn:
            errors.add(f"{path}.intent", "missing_intent", "a step needs an `intent` (what it does) or an `fn` name")
            ok = False
    elif not isinstance(intent, str):
        errors.add(f"{path}.intent", "invalid_type", "`intent` is a string")
        ok, intent = False, ""
    output: Mapping[str, Any] | None = None
    output_name: str | None = None
    out_raw = step.get("output")
    if isinstance(out_raw, str):
        if out_raw in contracts:
            output, output_name = contracts[out_raw], out_raw
        else:
            known = ", ".join(sorted(contracts)) or "none declared"
            errors.add(f"{path}.output", "unknown_contract", f"contract {out_raw!r} is not in the plan's `contracts` ({known}); declare it there as a JSON Schema")
            ok = False
    elif out_raw is not None:
        if _schema_ok(out_raw, f"{path}.output", errors):
            output = cast(Mapping[str, Any], out_raw) if isinstance(out_raw, Mapping) else {} if out_raw else {"not": {}}
        else:
            ok = False
    deps_raw = step.get("depends_on", [])
    deps: list[str] = []
    if isinstance(deps_raw, (str, int)) and not isinstance(deps_raw, bool):
        deps_raw = [deps_raw]
    if not isinstance(deps_raw, list):
        errors.add(f"{path}.depends_on", "invalid_type", "`depends_on` is a list of step ids")
        ok = False
    else:
        for j, dep in enumerate(cast(list[Any], deps_raw)):
            if isinstance(dep, int) and not isinstance(dep, bool):
                dep = str(dep)
            if not isinstance(dep, str):
                errors.add(f"{path}.depends_on[{j}]", "invalid_id", "a dependency is a step id string")
                ok = False
            else:
                deps.append(dep)
    ensure_raw = step.get("ensure", [])
    if isinstance(ensure_raw, str):
        ensure_raw = [ensure_raw]
    ensures: list[Expression] = []
    if not isinstance(ensure_raw, list):
        errors.add(f"{path}.ensure", "invalid_type", "`ensure` is an expression string or a list of them")
        ok = False
    elif len(cast(list[Any], ensure_raw)) > MAX_ENSURE:
        errors.add(f"{path}.ensure", "too_many_ensure", f"at most {MAX_ENSURE} ensure expressions per step")
        ok = False
    else:
        for j, text in enumerate(cast(list[Any], ensure_raw)):
            try:
                ensures.append(compile_expression(text))
            except ExpressionError as exc:
                errors.add(f"{path}.ensure[{j}]", "unsafe_ensure", str(exc))
                ok = False
    retries = step.get("retries", DEFAULT_RETRIES)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        errors.add(f"{path}.retries", "invalid_retries", f"`retries` is an integer from 0 to {MAX_RETRIES} (retries after the first failure)")
        ok, retries = False, 0
    budget = _limits(step.get("budget"), f"{path}.budget", errors)
    flow = _flow_fields(step, path, errors)
    references = _references(step.get("inputs"), f"{path}.inputs", errors)
    for ref in references:  # a reference to a step's output is a dependency on it
        if ref.step is not None and ref.step not in deps:
            deps.append(ref.step)
    del ok  # an invalid step is still returned so the graph checks (cycles, ids) see it
    return PlanStep(
        id=step_id, position=i + 1, fn=fn, intent=intent, output=output, output_name=output_name,
        depends_on=tuple(deps), ensure=tuple(ensures), retries=retries, budget=budget, inputs=step.get("inputs"),
        references=references, **flow,
    )


def _step_ref(value: object, path: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.match(value):
        errors.add(path, "invalid_id", "a step reference is a step id string")
        return None
    return value


def _flow_fields(step: Mapping[str, Any], path: str, errors: _Errors) -> dict[str, Any]:
    """Routing, gate, iteration, guardrail and skip_if fields of one step."""
    out: dict[str, Any] = {}
    if "on_fail" in step and "retry" in step and step["on_fail"] != step["retry"]:
        errors.add(f"{path}.retry", "conflicting_fields", "`retry` is another name for `on_fail`; give one of them")
    out["on_fail"] = _step_ref(step.get("on_fail", step.get("retry")), f"{path}.on_fail", errors)
    out["next"] = _step_ref(step.get("next"), f"{path}.next", errors)
    mode = step.get("mode")
    if mode not in (None, "gate", "step"):
        errors.add(f"{path}.mode", "invalid_mode", "`mode` is \"gate\" (wait for a human's approve/revise/kill) or omitted")
    gate = mode == "gate"
    out["gate"] = gate
    for key in ("on_approve", "on_revise", "on_kill"):
        out[key] = _step_ref(step.get(key), f"{path}.{key}", errors)
        if out[key] is not None and not gate:
            errors.add(f"{path}.{key}", "gate_field", f"`{key}` only applies to a step with mode \"gate\"")
    timeout = step.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 30 * 86400:
            errors.add(f"{path}.timeout", "invalid_timeout", "`timeout` is a number of seconds (up to 30 days)")
        elif not gate:
            errors.add(f"{path}.timeout", "gate_field", "`timeout` only applies to a step with mode \"gate\"")
        else:
            out["timeout"] = float(timeout)
    on_timeout = step.get("on_timeout", "kill")
    if on_timeout not in GATE_OUTCOMES:
        errors.add(f"{path}.on_timeout", "invalid_outcome", f"`on_timeout` is one of {', '.join(GATE_OUTCOMES)}")
    else:
        out["on_timeout"] = on_timeout
    if gate and step.get("skip_if") is not None:
        errors.add(f"{path}.skip_if", "gate_field", "a gate cannot be skipped by `skip_if`")
    max_iterations = step.get("max_iterations")
    if max_iterations is not None:
        if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) or not 1 <= max_iterations <= MAX_ITERATIONS:
            errors.add(f"{path}.max_iterations", "invalid_iterations", f"`max_iterations` is an integer from 1 to {MAX_ITERATIONS}")
        else:
            out["max_iterations"] = max_iterations
    criterion = step.get("exit_criterion")
    if criterion is not None:
        if max_iterations is None:
            errors.add(f"{path}.exit_criterion", "needs_iterations", "`exit_criterion` needs `max_iterations` on the same step")
        try:
            out["exit_criterion"] = compile_expression(criterion)
        except ExpressionError as exc:
            errors.add(f"{path}.exit_criterion", "unsafe_ensure", str(exc))
    stagnation = step.get("stagnation", 3)
    if not isinstance(stagnation, int) or isinstance(stagnation, bool) or not 2 <= stagnation <= MAX_ITERATIONS:
        errors.add(f"{path}.stagnation", "invalid_iterations", "`stagnation` (identical results in a row that end an iteration) is an integer of at least 2")
    else:
        out["stagnation"] = stagnation
    guards = step.get("guardrails", [])
    if isinstance(guards, str):
        guards = [guards]
    if not isinstance(guards, list) or len(cast(list[Any], guards)) > MAX_GUARDRAILS:
        errors.add(f"{path}.guardrails", "invalid_guardrails", f"`guardrails` is a list of at most {MAX_GUARDRAILS} regexes a result must not match")
    else:
        kept: list[str] = []
        for j, pattern in enumerate(cast(list[Any], guards)):
            problem = compile_error(pattern)
            if problem is not None:
                errors.add(f"{path}.guardrails[{j}]", "invalid_guardrail", problem)
            else:
                kept.append(cast(str, pattern))
        out["guardrails"] = tuple(kept)
    skip_if = step.get("skip_if")
    if skip_if is not None:
        try:
            out["skip_if"] = compile_expression(skip_if, names=SKIP_IF_NAMES)
        except ExpressionError as exc:
            errors.add(f"{path}.skip_if", "unsafe_ensure", str(exc))
    return out


def _references(value: Any, path: str, errors: _Errors) -> tuple[Reference, ...]:
    """Every `$.input...` / `$.steps.<id>.output...` string in `value`, parsed."""
    found: list[Reference] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < 200:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((f"{where}.{k}", v) for k, v in cast(Mapping[str, Any], item).items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{j}]", v) for j, v in enumerate(cast(list[Any], item)))
        elif isinstance(item, str) and item.startswith(_REF_PREFIX):
            ref = parse_reference(item)
            if ref is None:
                errors.add(where, "invalid_reference", f"cannot read reference {item[:80]!r}; write $.input.<name> or $.steps.<id>.output.<field>")
            else:
                found.append(ref)
    return tuple(found)


def parse_reference(text: str) -> Reference | None:
    """`$.input.a.b` → Reference(step=None, path=(a, b)); `$.steps.s1.output.x` → (s1, (x,))."""
    if text.startswith("$.input"):
        rest = text[len("$.input"):]
        if rest and not rest.startswith("."):
            return None
        return Reference(text, None, tuple(p for p in rest.split(".")[1:])) if "" not in rest.split(".")[1:] else None
    if not text.startswith("$.steps."):
        return None
    rest = text[len("$.steps."):]
    marker = rest.rfind(".output")
    while marker > 0:  # the id may contain dots: take the last `.output` that ends a segment
        tail = rest[marker + len(".output"):]
        if not tail or tail.startswith("."):
            step_id = rest[:marker]
            fields = tail.split(".")[1:] if tail else []
            if _ID.match(step_id) and "" not in fields:
                return Reference(text, step_id, tuple(fields))
        marker = rest.rfind(".output", 0, marker)
    return None


def _routes(steps: Sequence[PlanStep], errors: _Errors) -> None:
    ids = {s.id for s in steps}
    for step in steps:
        for key in ("on_fail", "next", "on_approve", "on_revise", "on_kill"):
            target = cast("str | None", getattr(step, key))
            if target is not None and target not in ids:
                errors.add(f"steps[{step.position - 1}].{key}", "unknown_step", f"`{key}` names {target!r}, which is not a step id")
        if step.gate and step.on_revise is None and step.on_timeout == "revise":
            errors.add(f"steps[{step.position - 1}].on_timeout", "missing_on_revise", "a gate that revises on timeout needs `on_revise`")


def _graph(steps: Sequence[PlanStep], errors: _Errors) -> None:
    index: dict[str, int] = {}
    for step in steps:
        if step.id in index:
            errors.add(f"steps[{step.position - 1}].id", "duplicate_id", f"step id {step.id!r} is also used by steps[{index[step.id]}]; ids must be unique")
        else:
            index[step.id] = step.position - 1
    for step in steps:
        for j, dep in enumerate(step.depends_on):
            if dep not in index:
                errors.add(f"steps[{step.position - 1}].depends_on[{j}]", "unknown_dependency", f"step {step.id!r} depends on {dep!r}, which is not a step id")
            elif dep == step.id:
                errors.add(f"steps[{step.position - 1}].depends_on[{j}]", "cycle", f"step {step.id!r} depends on itself")
    # Cycles among distinct steps: depth-first search with colors, reporting each cycle once.
    graph: dict[str, list[str]] = {}
    for s in steps:  # duplicate ids merge their edges so a cycle through either is still found
        graph.setdefault(s.id, []).extend(d for d in s.depends_on if d in index and d != s.id)
    color: dict[str, int] = {}
    reported: set[frozenset[str]] = set()
    for start in graph:
        if color.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, k = stack.pop()
            if k == 0:
                color[node] = 1
                trail.append(node)
            deps = graph[node]
            if k < len(deps):
                stack.append((node, k + 1))
                nxt = deps[k]
                if color.get(nxt) == 1:
                    cycle = trail[trail.index(nxt):]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        shown = " -> ".join([*cycle, nxt])
                        errors.add(f"steps[{index[nxt]}].depends_on", "cycle", f"dependency cycle: {shown}; remove one of these dependencies")
                elif not color.get(nxt):
                    stack.append((nxt, 0))
            else:
                color[node] = 2
                trail.pop()


def _limits(raw: object, path: str, errors: _Errors) -> Limits:
    if raw is None:
        return Limits()
    if isinstance(raw, str):
        raw = _budget_text(raw, path, errors)
        if raw is None:
            return Limits()
    if not isinstance(raw, Mapping):
        errors.add(path, "invalid_budget", "a budget is an object like {\"tool_calls\": 8, \"minutes\": 3}")
        return Limits()
    values: dict[str, Any] = {}
    for key, value in cast(Mapping[Any, Any], raw).items():
        if key not in AXES:
            errors.add(f"{path}.{key}", "unknown_field", f"unknown budget axis {key!r}; axes: {', '.join(AXES)}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            errors.add(f"{path}.{key}", "invalid_budget", f"budget {key} must be a positive number")
            continue
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            errors.add(f"{path}.{key}", "invalid_budget", f"budget {key} must be a positive number")
            continue
        if not number.is_finite() or number <= 0 or number > Decimal(10) ** 12:
            errors.add(f"{path}.{key}", "invalid_budget", f"budget {key} must be a positive number")
            continue
        if key in ("tool_calls", "tokens"):
            if number != number.to_integral_value():
                errors.add(f"{path}.{key}", "invalid_budget", f"budget {key} must be a whole number")
                continue
            values[key] = int(number)
        elif key == "minutes":
            values[key] = float(number)
        else:
            values[key] = number
    return Limits(**values)


def _budget_text(text: str, path: str, errors: _Errors) -> dict[str, Any] | None:
    """Read the seed's prose budget, e.g. "~8 tool calls, ~3 minutes"."""
    out: dict[str, Any] = {}
    for part in re.split(r",|\band\b", text):
        part = part.strip()
        if not part:
            continue
        m = _BUDGET_PART.match(part)
        unit = None if m is None else ("usd" if m["dollar"] else _BUDGET_WORDS.get((m["unit"] or "").lower()))
        if m is None or unit is None:
            errors.add(path, "invalid_budget", f"cannot read budget part {part!r}; write e.g. \"~8 tool calls, ~3 minutes, 20000 tokens, $0.50\" or an object")
            return None
        out[unit] = m["n"]
    return out


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__
