"""parallel() and race(): results, failure semantics, cancellation, envelope accounting, trace links."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest

import stratum
from stratum import Budget, Failure, Success, current_budget, flow, infer, parallel, race
from stratum.exceptions import ParallelValidationFailed, ProviderHTTPError
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import PRICE, Verdict, spent, verdict

pytestmark = pytest.mark.anyio

SLOW = 60_000  # ms: a branch that only ends by being cancelled


@infer("Review A", max_tokens=200)
def review_a(text: str) -> Verdict: ...


@infer("Review B", max_tokens=200)
def review_b(text: str) -> Verdict: ...


@infer("Review C", max_tokens=200)
def review_c(text: str) -> Verdict: ...


def boom() -> ProviderHTTPError:
    return ProviderHTTPError("bad request; fix it", status_code=400, provider="scripted")


def models(a: list[Any], b: list[Any], c: list[Any] | None = None) -> dict[Any, ScriptedModel]:
    out = {review_a: ScriptedModel(a, price=PRICE), review_b: ScriptedModel(b, price=PRICE)}
    if c is not None:
        out[review_c] = ScriptedModel(c, price=PRICE)
    return out


async def value(x: Any, delay: float = 0) -> Any:
    await anyio.sleep(delay)
    return x


async def fail(message: str, delay: float = 0) -> Any:
    await anyio.sleep(delay)
    raise ValueError(message)


async def test_all_returns_a_tuple_in_input_order() -> None:
    with use_model(models([Reply(verdict("approve"), latency_ms=5)], [verdict("reject")])):
        a, b = await parallel(review_a(text="x"), review_b(text="y"))
    assert (a.label, b.label) == ("approve", "reject")


async def test_all_reraises_the_first_failure_itself_and_cancels_the_rest(store: MemorySink) -> None:
    seen: dict[str, Any] = {}

    @flow(budget=Budget(usd="1"))
    async def run() -> None:
        try:
            await parallel(review_a(text="slow"), review_b(text="fails"))
        finally:
            env = current_budget()
            assert env is not None
            seen.update(reserved=env.reserved_usd, spent=env.spent_usd, tokens=env.reserved_tokens)

    with use_model(models([Reply(verdict("approve"), latency_ms=SLOW)], [boom()])), pytest.raises(ProviderHTTPError) as info:
        await run()
    assert type(info.value) is ProviderHTTPError  # not an ExceptionGroup
    records = {r.function.rsplit(".", 1)[-1]: r for r in store.records()}
    assert records["review_a"].status == "cancelled"
    assert records["review_b"].status == "failed"
    assert seen["reserved"] == 0 and seen["tokens"] == 0
    assert seen["spent"] == spent(store.records())


async def test_any_returns_the_first_success_and_cancels_the_rest(store: MemorySink) -> None:
    with use_model(models([Reply(verdict("approve"), latency_ms=SLOW)], [verdict("reject")])):
        first = await parallel(review_a(text="slow"), review_b(text="fast"), require="any")
    assert first.label == "reject"
    statuses = {r.function.rsplit(".", 1)[-1]: r.status for r in store.records()}
    assert statuses["review_a"] == "cancelled"
    assert statuses["review_b"] == "ok"


async def test_any_with_every_branch_failing_reraises_the_last_error() -> None:
    with pytest.raises(ValueError, match="second"):
        await parallel(fail("first"), fail("second", delay=0.01), require="any")


async def test_n_returns_n_results_in_completion_order() -> None:
    got = await parallel(value("slow", 0.05), value("fast"), value("never", 60), require=2)
    assert got == ["fast", "slow"]


async def test_n_raises_once_n_successes_are_impossible() -> None:
    with pytest.raises(ValueError, match="b"):
        await parallel(fail("a"), fail("b", 0.01), value("ok", 60), require=2)


async def test_zero_collects_success_and_failure_in_input_order() -> None:
    got = await parallel(fail("no", 0.01), value(1), require=0)
    assert isinstance(got[0], Failure) and str(got[0].error) == "no" and not got[0].ok
    assert got[1] == Success(1) and got[1].ok


async def test_validate_false_raises_parallel_validation_failed() -> None:
    with pytest.raises(ParallelValidationFailed) as info:
        await parallel(value(1), value(1), validate=lambda r: len(set(r)) == len(r))
    assert info.value.results == (1, 1)
    assert await parallel(value(1), value(2), validate=lambda r: len(set(r)) == len(r)) == (1, 2)


async def test_bad_require_is_a_value_error_and_closes_the_coroutines() -> None:
    coro = value(1)
    with pytest.raises(ValueError, match="require"):
        await parallel(coro, require=3)
    assert coro.cr_frame is None  # closed, so no "never awaited" warning


async def test_race_first_success_wins_and_losers_release_their_reservations(store: MemorySink) -> None:
    seen: dict[str, Decimal] = {}

    @flow(budget=Budget(usd="1"))
    async def run() -> Verdict:
        try:
            return await race(review_a(text="slow"), review_b(text="fast"))
        finally:
            env = current_budget()
            assert env is not None
            seen.update(reserved=env.reserved_usd, spent=env.spent_usd)

    with use_model(models([Reply(verdict("approve"), latency_ms=SLOW)], [verdict("reject")])):
        winner = await run()
    assert winner.label == "reject"
    assert seen["reserved"] == 0
    assert seen["spent"] == spent(store.records()) > 0
    cancelled = [r for r in store.records() if r.status == "cancelled"]
    assert [r.function.rsplit(".", 1)[-1] for r in cancelled] == ["review_a"]
    assert cancelled[0].attempt_records[-1].outcome == "cancelled"


async def test_race_with_every_branch_failing_reraises_the_last_error() -> None:
    with pytest.raises(ValueError, match="late"):
        await race(fail("early"), fail("late", 0.01))


async def test_branch_records_link_to_a_parallel_parent_record(store: MemorySink) -> None:
    @flow
    async def run() -> None:
        await parallel(review_a(text="x"), review_b(text="y"))

    with use_model(models([verdict("approve")], [verdict("reject")])):
        await run()
    parents = [r for r in store.records() if r.meta.get("kind") == "parallel"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.function == "stratum.parallel" and parent.status == "ok"
    assert parent.cost_usd == 0 and parent.input_tokens == 0
    children = [r for r in store.records() if r.parent_id == parent.record_id]
    assert sorted(r.function.rsplit(".", 1)[-1] for r in children) == ["review_a", "review_b"]
    assert {r.flow_id for r in store.records()} == {parent.flow_id}


async def test_cancelling_the_caller_cancels_every_branch(store: MemorySink) -> None:
    with use_model(models([Reply(verdict("approve"), latency_ms=SLOW)], [Reply(verdict("reject"), latency_ms=SLOW)])):
        with anyio.move_on_after(0.05):
            await parallel(review_a(text="x"), review_b(text="y"))
    statuses = sorted((r.function.rsplit(".", 1)[-1], r.status) for r in store.records())
    assert statuses == [("parallel", "cancelled"), ("review_a", "cancelled"), ("review_b", "cancelled")]


def test_public_names() -> None:
    assert stratum.Success is Success and stratum.Failure is Failure
