from __future__ import annotations

import asyncio
from decimal import Decimal

import anyio
import pytest

import stratum
from stratum import (
    Budget,
    BudgetEvent,
    BudgetExceeded,
    Envelope,
    ParseFailure,
    UnknownPriceError,
    current_budget,
    flow,
    infer,
)
from stratum._runtime.budget import DEFAULT_MAX_TOKENS, MIN_OUTPUT_TOKENS
from stratum.pricing import Price
from stratum.providers import CallSpec, Completion, Usage
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import Sentiment, classify, sentiment

PRICE = Price(input_per_mtok=1, output_per_mtok=10)


def test_budget_validates_its_limits() -> None:
    for bad in ({"ms": 0}, {"usd": -1}, {"tokens": 0}, {"thresholds": (0, 0.5)}):
        with pytest.raises(ValueError, match="Budget"):
            Budget(**bad)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert Budget(usd=0.1).usd == Decimal("0.1")  # floats become exact Decimals


def test_reserve_lowers_max_tokens_to_what_fits() -> None:
    env = Envelope(Budget(usd="0.001"))
    # 100 input tokens at $1/M cost $0.0001, leaving $0.0009 for output at $10/M: 90 tokens
    reservation = env.reserve(input_tokens=100, max_tokens=None, price=PRICE, model="m")
    assert reservation.max_tokens == 90
    assert env.reserved_usd == PRICE.worst_case(100, 90) == Decimal("0.001")
    env.release(reservation)
    assert env.reserved_usd == 0 and env.reserved_tokens == 0


def test_default_output_cap_applies_under_a_limit() -> None:
    env = Envelope(Budget(tokens=1_000_000))
    assert env.reserve(input_tokens=10, max_tokens=None, price=None, model="m").max_tokens == DEFAULT_MAX_TOKENS
    unlimited = Envelope(Budget(ms=1000))
    assert unlimited.reserve(input_tokens=10, max_tokens=None, price=None, model="m").max_tokens is None


def test_reserve_refuses_what_cannot_fit() -> None:
    env = Envelope(Budget(tokens=100))
    with pytest.raises(BudgetExceeded) as caught:
        env.reserve(input_tokens=100 - MIN_OUTPUT_TOKENS + 1, max_tokens=50, price=None, model="m")
    assert caught.value.axis == "tokens" and caught.value.limit == 100
    assert env.reserved_tokens == 0


def test_unknown_price_under_usd_budget() -> None:
    env = Envelope(Budget(usd=1))
    with pytest.raises(UnknownPriceError, match="configure\\(prices="):
        env.reserve(input_tokens=10, max_tokens=10, price=None, model="local:thing")


def test_settle_charges_the_chain_and_fires_thresholds_once() -> None:
    seen: list[BudgetEvent] = []
    outer = Envelope(Budget(usd="0.01", on_threshold=seen.append), flow_id="f1")
    inner = Envelope(Budget(tokens=1000), outer)
    r = inner.reserve(input_tokens=10, max_tokens=20, price=PRICE, model="m")
    events = inner.settle(r, Usage(400, 200), Decimal("0.006"))
    assert outer.spent_usd == inner.spent_usd == Decimal("0.006")
    assert inner.spent_tokens == outer.spent_tokens == 600
    assert outer.reserved_usd == 0 and inner.reserved_tokens == 0
    assert {(e.axis, e.threshold) for e in events} == {("tokens", 0.5), ("usd", 0.5)}
    assert [e.threshold for e in seen] == [0.5]
    assert seen[0].flow_id == "f1" and seen[0].limit == Decimal("0.01") and seen[0].spent == Decimal("0.006")
    inner.settle(None, Usage(0, 0), Decimal("0.003"))
    assert [e.threshold for e in seen] == [0.5, 0.8]
    assert inner.fraction_used == pytest.approx(0.6)
    assert outer.fraction_used == pytest.approx(0.9)


def test_current_budget_is_none_outside_any_budget() -> None:
    assert current_budget() is None


@pytest.mark.anyio
async def test_budget_exceeded_before_sending(store: MemorySink) -> None:
    @infer("Classify", max_tokens=1000)
    def costly(text: str) -> Sentiment: ...

    @flow(budget=Budget(usd="0.0001"))
    async def run() -> Sentiment:
        return await costly(text="x" * 3000)

    model = ScriptedModel([sentiment(0.9)], price=PRICE)
    with use_model(model), pytest.raises(BudgetExceeded) as caught:
        await run()
    assert caught.value.axis == "usd"
    assert model.requests == []  # never sent
    (record,) = store.records()
    assert record.status == "failed" and record.attempt_records[0].outcome == "budget"


@pytest.mark.anyio
async def test_max_tokens_is_lowered_and_the_deadline_passed_down() -> None:
    @infer("Classify", max_tokens=4000)
    def capped(text: str) -> Sentiment: ...

    @flow(budget=Budget(ms=5000, usd="0.001"))
    async def run() -> Sentiment:
        return await capped(text="hello")

    model = ScriptedModel([sentiment(0.9)], price=PRICE)
    with use_model(model):
        await run()
    (request,) = model.requests
    assert request.max_tokens is not None and MIN_OUTPUT_TOKENS <= request.max_tokens < 100
    assert request.timeout is not None and 0 < request.timeout <= 5


@pytest.mark.anyio
async def test_deadline_cuts_a_slow_call(store: MemorySink) -> None:
    @infer("Classify", budget=Budget(ms=50))
    def slow(text: str) -> Sentiment: ...

    model = ScriptedModel([Reply(sentiment(0.9), latency_ms=5_000)])
    with anyio.fail_after(2), use_model(model), pytest.raises(BudgetExceeded) as caught:
        await slow(text="x")
    assert caught.value.axis == "ms" and caught.value.limit == 50
    (record,) = store.records()
    assert record.status == "failed" and record.attempt_records[0].outcome == "budget"


@pytest.mark.anyio
async def test_unknown_price_end_to_end() -> None:
    class Unpriced:
        name = "local"

        async def complete(self, call: CallSpec, /) -> Completion:
            return Completion(text='{"label": "neutral", "confidence": 0.9, "reasoning": "r"}', usage=Usage(5, 5))

    @infer("Classify", model=Unpriced())
    def local(text: str) -> Sentiment: ...

    assert (await local(text="free to run")).label == "neutral"  # no usd budget: runs, cost unknown
    assert stratum.trace.records()[-1].cost_usd is None

    @flow(budget=Budget(usd=1))
    async def run() -> Sentiment:
        return await local(text="x")

    with pytest.raises(UnknownPriceError, match="local"):
        await run()
    with stratum.configure(prices={"local": Price(0, 0)}):
        assert (await run()).label == "neutral"


@pytest.mark.anyio
async def test_nested_flows_charge_every_ancestor(store: MemorySink) -> None:
    envelopes: dict[str, Envelope] = {}

    @flow(budget=Budget(usd="0.5"))
    async def inner() -> Sentiment:
        envelopes["inner"] = current_budget()  # type: ignore[assignment]
        return await classify(text="x")

    @flow(budget=Budget(usd=1))
    async def outer() -> Sentiment:
        envelopes["outer"] = current_budget()  # type: ignore[assignment]
        return await inner()

    model = ScriptedModel([Reply(sentiment(0.9), usage=(1000, 100))], price=PRICE)
    with use_model(model):
        await outer()
    expected = Decimal("0.002")  # 1000 * $1/M + 100 * $10/M
    assert envelopes["inner"].spent_usd == envelopes["outer"].spent_usd == expected
    inner_record, outer_record = store.flows()
    assert inner_record.parent_flow_id == outer_record.flow_id
    assert store.records()[0].flow_id == inner_record.flow_id
    assert outer_record.record_ids == () and len(inner_record.record_ids) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["gather", "task_group"])
async def test_concurrent_calls_never_overrun_the_flow(style: str, anyio_backend: str) -> None:
    if style == "gather" and anyio_backend == "trio":
        pytest.skip("asyncio.gather needs asyncio")

    @infer("Classify", max_tokens=50, retries=0)
    def quick(text: str) -> Sentiment: ...

    cap = Decimal("0.01")
    outcomes: list[object] = []
    seen: dict[str, Envelope] = {}

    async def one(i: int) -> None:
        try:
            outcomes.append(await quick(text=f"ticket {i}"))
        except (BudgetExceeded, ParseFailure) as exc:  # near the cap, max_tokens shrinks and cuts answers
            outcomes.append(exc)

    @flow(budget=Budget(usd=cap))
    async def burst() -> None:
        seen["env"] = current_budget()  # type: ignore[assignment]
        if style == "gather":
            await asyncio.gather(*(one(i) for i in range(60)))
        else:
            async with anyio.create_task_group() as tg:
                for i in range(60):
                    tg.start_soon(one, i)

    # every answer uses the full output cap: the worst case the reservation assumed
    model = ScriptedModel([Reply(sentiment(0.9), usage=(40, 50), latency_ms=1) for _ in range(60)], price=PRICE)
    with use_model(model):
        await burst()
    env = seen["env"]
    assert env.spent_usd <= cap
    assert env.reserved_usd == 0 and env.reserved_tokens == 0
    refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert refused and len(refused) + len(model.requests) == 60
    assert env.spent_usd == sum(r.cost_usd or 0 for r in stratum.trace.records())
    assert sum(isinstance(o, Sentiment) for o in outcomes) >= 5


@pytest.mark.anyio
async def test_cancellation_releases_the_reservation_and_records_it(store: MemorySink) -> None:
    seen: dict[str, Envelope] = {}

    @flow(budget=Budget(usd=1))
    async def run() -> None:
        seen["env"] = current_budget()  # type: ignore[assignment]
        with anyio.move_on_after(0.05):
            await classify(text="slow")

    model = ScriptedModel([Reply(sentiment(0.9), latency_ms=10_000)], price=PRICE)
    with anyio.fail_after(5), use_model(model):
        await run()
    env = seen["env"]
    assert env.reserved_usd == 0 and env.spent_usd == 0
    (record,) = store.records()
    assert record.status == "cancelled"
    assert record.attempt_records[-1].outcome == "cancelled"
    assert store.flows()[0].status == "ok"
