"""@refine: feedback in the next prompt, ConvergenceFailure with history, purity check, envelope, trace."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from stratum import Budget, contract, current_budget, flow, infer, refine
from stratum.exceptions import BudgetExceeded, ConvergenceFailure, StratumCompileError
from stratum.testing import ScriptedModel, stub, use_model
from stratum.trace import MemorySink

pytestmark = pytest.mark.anyio


@contract
class Draft:
    text: str


@infer("Write a haiku about the topic", max_tokens=200)
def oracle(topic: str) -> Draft: ...


def todo_free(d: Draft) -> bool:
    return "TODO" not in d.text


@refine(until=todo_free, feedback=lambda d: ["the draft still contains TODO; finish it"], max_iterations=3)
@infer("Write a haiku about the topic", max_tokens=200)
def write(topic: str, lines: int = 3) -> Draft: ...


async def test_feedback_reaches_the_next_iteration_prompt(store: MemorySink) -> None:
    model = ScriptedModel([{"text": "TODO"}, {"text": "autumn moon"}])
    with use_model(model):
        result = await write(topic="autumn")
    assert result.text == "autumn moon"
    assert "Previous output had the following issues" not in model.requests[0].instructions
    second = model.requests[1].instructions
    assert "Previous output had the following issues" in second
    assert "the draft still contains TODO; finish it" in second
    parent = next(r for r in store.records() if r.meta.get("kind") == "refine" and "iteration" not in r.meta)
    steps = [r for r in store.records() if r.parent_id == parent.record_id]
    assert [r.meta["iteration"] for r in steps] == [1, 2]
    assert parent.meta["iterations"] == 2 and parent.output == result


async def test_convergence_failure_carries_every_iteration() -> None:
    with use_model(ScriptedModel([{"text": f"TODO {i}"} for i in range(3)])):
        with pytest.raises(ConvergenceFailure) as info:
            await write(topic="autumn")
    assert [d.text for d in info.value.history] == ["TODO 0", "TODO 1", "TODO 2"]


async def test_refined_function_keeps_its_signature_and_can_be_stubbed() -> None:
    assert list(inspect.signature(write).parameters) == ["topic", "lines"]
    with stub(write, returns={"text": "TODO"}):  # stubbing the refined function replaces the loop
        assert (await write(topic="x")).text == "TODO"
    with stub(write.inner, returns=[{"text": "TODO"}, {"text": "done"}]) as route:  # one answer per iteration
        assert (await write(topic="x")).text == "done"
    assert len(route.calls) == 2


def test_until_calling_an_infer_function_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match="oracle"):

        @refine(until=lambda d: oracle(topic=d.text) is None, feedback=str)
        @infer("x")
        def bad(topic: str) -> Draft: ...


def test_feedback_calling_an_infer_function_through_a_helper_is_a_compile_error() -> None:
    def helper(d: Draft) -> Any:
        return oracle(topic=d.text)

    with pytest.raises(StratumCompileError, match="feedback"):

        @refine(until=todo_free, feedback=lambda d: helper(d))
        @infer("x")
        def bad(topic: str) -> Draft: ...


def test_attribute_named_like_an_infer_function_is_not_flagged() -> None:
    @refine(until=lambda d: d.oracle if hasattr(d, "oracle") else True, feedback=str)  # type: ignore[attr-defined]
    @infer("x")
    def fine(topic: str) -> Draft: ...

    assert fine.max_iterations == 5


def test_refine_must_be_stacked_on_infer() -> None:
    with pytest.raises(StratumCompileError, match="above @infer"):
        refine(until=todo_free, feedback=str)(todo_free)  # type: ignore[arg-type]
    with pytest.raises(StratumCompileError, match="max_iterations"):
        refine(until=todo_free, feedback=str, max_iterations=0)(oracle)


async def test_iterations_are_bounded_by_the_envelope(store: MemorySink) -> None:
    @refine(until=lambda d: False, feedback=lambda d: "again", max_iterations=50)
    @infer("Write", max_tokens=100, budget=Budget(tokens=900))
    def endless(topic: str) -> Draft: ...

    seen: dict[str, int] = {}

    @flow(budget=Budget(tokens=100_000))
    async def run() -> None:
        try:
            await endless(topic="x")
        finally:
            env = current_budget()
            assert env is not None
            seen.update(reserved=env.reserved_tokens, spent=env.spent_tokens)

    model = ScriptedModel([{"text": "more"}] * 50)
    with use_model(model), pytest.raises(BudgetExceeded) as info:
        await run()
    assert info.value.axis == "tokens"
    assert 1 < len(model.requests) < 50  # the call's own budget bounds the whole loop
    assert seen["reserved"] == 0
    assert seen["spent"] == sum(r.input_tokens + r.output_tokens for r in store.records())
