"""`f.batch(inputs)`: half-price batches, per-item records, targeted retries, budgets, fallbacks."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import stratum
from stratum import Budget, Failure, Success, contract, flow, infer
from stratum.exceptions import BudgetExceeded, PostconditionFailed, PreconditionFailed, ProviderError
from stratum.pricing import Price
from stratum.providers import Anthropic, OpenAI
from stratum.testing import ScriptedModel, stub, use_model
from stratum.trace import MemorySink
from tests.batch._fake_batches import Fail, FakeBatches, fake_batches

pytestmark = pytest.mark.anyio

PRICE = Price(input_per_mtok=2, output_per_mtok=8)


@contract
class Verdict:
    label: str
    score: int


@infer("Rate the review", ensure=lambda v: v.score >= 0, retries=2, max_tokens=100)
def rate(text: str) -> Verdict: ...


def fixed(kind: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any] | Fail:
    index = int(custom_id[1:].split("-")[0])
    return {"label": f"item{index}", "score": index}


def provider_for(kind: str, fake: FakeBatches) -> Any:
    if kind == "openai":
        return OpenAI(api_key="sk-test-123456789", base_url=f"{fake.base}/v1", price=PRICE)
    return Anthropic(api_key="sk-ant-test-123456789", base_url=f"{fake.base}/v1", price=PRICE)


async def batch(fn: Any, inputs: list[dict[str, Any]], **kwargs: Any) -> list[Success[Any] | Failure]:
    return await fn.batch(inputs, poll_interval=0.01, **kwargs)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_results_in_input_order_at_half_price_with_a_record_each(kind: str, store: MemorySink) -> None:
    with fake_batches(fixed, polls_until_done=2) as fake:
        provider = provider_for(kind, fake)
        with stratum.configure(providers={"fake": provider}), use_model(f"fake:m-1"):
            results = await batch(rate, [{"text": f"review {i}"} for i in range(4)])
        await provider.aclose()
    assert [r.value.label for r in results if isinstance(r, Success)] == ["item0", "item1", "item2", "item3"]
    assert len(fake.submitted) == 1 and len(fake.submitted[0]) == 4
    records = store.records()
    assert len(records) == 4 and all(r.status == "ok" and r.function.endswith("rate") for r in records)
    # 100 input + 20 output tokens at half of $2/$8 per Mtok
    assert {r.cost_usd for r in records} == {Decimal("100") * 1 / 10**6 + Decimal("20") * 4 / 10**6}
    assert sorted(r.meta["batch"]["index"] for r in records) == [0, 1, 2, 3]
    assert all(len(r.meta["batch"]["ids"]) == 1 for r in records)


@pytest.mark.parametrize("retry", ["batch", "online"])
async def test_only_failed_items_are_retried_with_their_violations(retry: str, store: MemorySink) -> None:
    seen: list[str] = []

    def answers(kind: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any] | Fail:
        seen.append(custom_id)
        index, attempt = (int(x[1:]) for x in custom_id.split("-"))
        if index == 1 and attempt == 0:
            return {"label": "bad", "score": -5}  # violates the ensure
        if index == 2 and attempt == 0:
            return Fail(500, "boom")
        return {"label": f"item{index}", "score": index}

    def online(index: int) -> Any:
        return {"label": f"item{index}", "score": index}

    with fake_batches(answers) as fake:
        provider = OpenAI(api_key="sk-test-123456789", base_url=f"{fake.base}/v1", price=PRICE, max_retries=0)
        with stratum.configure(providers={"fake": provider}), use_model("fake:m-1"):
            if retry == "online":
                # the online retries hit /v1/chat/completions, which this fake does not serve: 404
                results = await batch(rate, [{"text": f"r{i}"} for i in range(3)], retry="online")
            else:
                results = await batch(rate, [{"text": f"r{i}"} for i in range(3)])
        await provider.aclose()
    if retry == "batch":
        assert [r.ok for r in results] == [True, True, True]
        assert sorted(seen) == ["i0-a0", "i1-a0", "i1-a1", "i2-a0", "i2-a1"]
        retried = fake.submitted[1]
        violation_turn = next(l for l in retried if l["custom_id"] == "i1-a1")["body"]["messages"]
        assert json.loads(violation_turn[2]["content"])["score"] == -5
        assert "v.score >= 0 (actual: v.score=-5)" in violation_turn[3]["content"]
        by_index = {r.meta["batch"]["index"]: r for r in store.records()}
        assert by_index[1].attempts == 2 and by_index[0].attempts == 1
        assert by_index[1].retry_reasons and "score" in by_index[1].retry_reasons[0]
        assert len(by_index[1].meta["batch"]["ids"]) == 2
    else:
        assert len(fake.submitted) == 1  # no follow-up batch
        assert results[0].ok and not results[1].ok and not results[2].ok
        assert isinstance(results[1], Failure) and isinstance(results[1].error, ProviderError)


async def test_items_that_cannot_fit_the_budget_fail_before_submitting(store: MemorySink) -> None:
    @flow(budget=Budget(usd="0.0025"))
    async def run() -> list[Success[Verdict] | Failure]:
        return await batch(rate, [{"text": f"r{i}"} for i in range(5)])

    with fake_batches(fixed) as fake:
        provider = OpenAI(api_key="sk-test-123456789", base_url=f"{fake.base}/v1", price=PRICE)
        with stratum.configure(providers={"fake": provider}), use_model("fake:m-1"):
            results = await run()
        await provider.aclose()
    admitted = [r for r in results if r.ok]
    refused = [r for r in results if isinstance(r, Failure) and isinstance(r.error, BudgetExceeded)]
    assert len(admitted) + len(refused) == 5 and refused and admitted
    assert len(fake.submitted[0]) == len(admitted)
    spent = sum(r.cost_usd or 0 for r in store.records())
    assert spent <= Decimal("0.0025")


async def test_given_failures_and_bad_inputs() -> None:
    @infer("Rate", given=lambda text: len(text) > 0, retries=0)
    def rate_nonempty(text: str) -> Verdict: ...

    with use_model(ScriptedModel([{"label": "a", "score": 1}])):
        results = await batch(rate_nonempty, [{"text": ""}, {"text": "ok"}])
    assert isinstance(results[0], Failure) and isinstance(results[0].error, PreconditionFailed)
    assert isinstance(results[1], Success) and results[1].value.score == 1
    with pytest.raises(TypeError, match=r"inputs\[1\]"):
        await batch(rate, [{"text": "a"}, {"txt": "b"}])
    with pytest.raises(TypeError, match=r"inputs\[0\] is a str"):
        await batch(rate, ["a"])  # type: ignore[list-item]
    assert await batch(rate, []) == []


async def test_models_without_a_batch_api_and_stubs_run_online(store: MemorySink) -> None:
    with use_model(ScriptedModel([{"label": "a", "score": 1}, {"label": "b", "score": -1}, {"label": "b", "score": 2}])):
        results = await batch(rate, [{"text": "x"}, {"text": "y"}])
    assert all(r.ok for r in results)
    def answer(text: str) -> Any:
        if text == "y":
            raise PostconditionFailed("no", function="rate", violations=(), retry_history=())
        return Verdict(label="s", score=3)

    with stub(rate, impl=answer):
        results = await batch(rate, [{"text": "x"}, {"text": "y"}])
    assert [r.ok for r in results] == [True, False]
