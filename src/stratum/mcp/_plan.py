"""The plan format: parse a JSON plan, report every problem at once, and check step results.

A plan is plain JSON (see `docs/mcp.md` for its JSON Schema). Validation never stops at the
first problem: the agent gets the whole list in one round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from stratum.mcp._expr import Expression, ExpressionError, compile_expression

__all__ = ("Limits", "Plan", "PlanStep", "parse_plan", "schema_violations")

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

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_PLAN_KEYS = frozenset({"$schema", "name", "title", "goal", "description", "contracts", "steps", "budget"})
_STEP_KEYS = frozenset(
    {"id", "fn", "intent", "description", "output", "depends_on", "ensure", "retries", "budget", "inputs"}
)
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
    if errors.items:
        return None, errors.items
    return Plan(name=name[:200], steps=tuple(steps), budget=budget, source=plan), []


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
    if not isinstance(schema, (Mapping, bool)):
        errors.add(path, "invalid_schema", f"expected a JSON Schema object, got {_kind(schema)}")
        return False
    try:
        Draft202012Validator.check_schema(cast("Mapping[str, Any] | bool", schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        errors.add(path, "invalid_schema", f"invalid JSON Schema{f' at {where}' if where else ''}: {_short(exc.message)}")
        return False
    except RecursionError:
        errors.add(path, "invalid_schema", "JSON Schema nests too deeply")
        return False
    return True


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
    del ok  # an invalid step is still returned so the graph checks (cycles, ids) see it
    return PlanStep(
        id=step_id, position=i + 1, fn=fn, intent=intent, output=output, output_name=output_name,
        depends_on=tuple(deps), ensure=tuple(ensures), retries=retries, budget=budget, inputs=step.get("inputs"),
    )


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


def schema_violations(schema: Mapping[str, Any], result: Any, *, limit: int = 10) -> list[str]:
    """Every JSON Schema rule `result` breaks, as `schema: <where>: <what> (rule: <keyword>)`."""
    validator: Any = Draft202012Validator(schema)
    out: list[str] = []
    errors: list[Any] = list(validator.iter_errors(result))
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "result" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"schema: {where}: {_short(error.message)} (rule: {error.validator})")
        if len(out) >= limit:
            out.append("schema: further violations omitted")
            break
    return out


def _short(text: str, size: int = 240) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


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
