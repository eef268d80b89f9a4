"""The plan format: the seed plan as written, and every problem reported at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stratum.mcp import parse_plan


def test_the_seed_plan_is_expressible(seed_plan: dict[str, Any]) -> None:
    plan, errors = parse_plan(seed_plan)
    assert errors == [] and plan is not None
    assert [s.name for s in plan.steps] == ["read_routes", "design_middleware", "implement_middleware", "write_tests"]
    assert plan.steps[3].depends_on == ("3",)
    assert plan.budget.tool_calls == 8 and plan.budget.minutes == 3.0
    assert plan.steps[0].retries == 2


def test_free_text_ensure_is_rejected_with_the_fix(seed_plan: dict[str, Any]) -> None:
    seed_plan["steps"][3]["ensure"] = "all tests pass"
    _, errors = parse_plan(seed_plan)
    assert [e["path"] for e in errors] == ["steps[3].ensure[0]"]
    assert errors[0]["code"] == "unsafe_ensure"


def test_every_problem_is_reported_at_once() -> None:
    plan = {
        "steps": [
            {"id": "a", "intent": "x", "depends_on": ["b"]},
            {"id": "b", "intent": "y", "depends_on": ["a", "ghost"], "ensure": ["result.__class__"], "output": {"type": "nope"}},
            {"id": "a", "intent": "dup"},
            {"id": "c", "output": "Missing", "retries": -1, "colour": "red"},
        ],
        "budget": {"tokens": 0, "weeks": 2},
    }
    parsed, errors = parse_plan(plan)
    assert parsed is None
    found = {(e["path"], e["code"]) for e in errors}
    assert found == {
        ("budget.tokens", "invalid_budget"),
        ("budget.weeks", "unknown_field"),
        ("steps[1].output", "invalid_schema"),
        ("steps[1].ensure[0]", "unsafe_ensure"),
        ("steps[3].colour", "unknown_field"),
        ("steps[3].intent", "missing_intent"),
        ("steps[3].output", "unknown_contract"),
        ("steps[3].retries", "invalid_retries"),
        ("steps[2].id", "duplicate_id"),
        ("steps[1].depends_on[1]", "unknown_dependency"),
        ("steps[0].depends_on", "cycle"),
    }
    cycle = next(e for e in errors if e["code"] == "cycle")
    assert "a -> b -> a" in cycle["message"]


def test_long_cycles_and_self_dependencies() -> None:
    steps = [{"id": str(i), "intent": "s", "depends_on": [str((i + 1) % 4)]} for i in range(4)]
    steps.append({"id": "self", "intent": "s", "depends_on": ["self"]})
    _, errors = parse_plan({"steps": steps})
    assert sorted(e["code"] for e in errors) == ["cycle", "cycle"]


def test_budget_text_and_objects() -> None:
    plan, _ = parse_plan({"steps": [{"id": "a", "intent": "x"}], "budget": "~8 tool calls, 20000 tokens, $0.50, 3 minutes"})
    assert plan is not None
    assert (plan.budget.tool_calls, plan.budget.tokens, plan.budget.usd, plan.budget.minutes) == (8, 20000, Decimal("0.50"), 3.0)
    _, errors = parse_plan({"steps": [{"id": "a", "intent": "x"}], "budget": "a lot"})
    assert errors[0]["code"] == "invalid_budget"


def test_non_objects_are_reported_not_raised() -> None:
    for raw in (None, 3, [], "[", "{}", {"steps": "x"}, {"steps": [1, None, {"id": ""}]}):
        plan, errors = parse_plan(raw)
        assert plan is None and errors
