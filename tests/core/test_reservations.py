"""Reserving a request: the UTF-8 byte bound first, the exact token count only when it must.

For an OpenAI model the first reservation is made from the byte count of the request (a strict
upper bound on its tokens, had without loading the ~80 MB tokenizer). The request is counted
exactly only when that bound does not fit what the envelopes have left; so a roomy budget never
loads the tokenizer, and no call is refused, or has its output cap lowered, because of the bound.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

import anyio
import pytest

import stratum
from stratum import Budget, BudgetExceeded, Envelope, current_budget, flow, infer
from stratum.pricing import Estimate, Price, estimate
from stratum.pricing._encodings import encoding
from stratum.providers import OpenAI
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink
from tests._servers import Fault, FaultServer, chat_reply

from .models import Sentiment, sentiment

NOTE = (
    "The parcel arrived three days late, the box was crushed on one side, and the support line "
    "kept me on hold for forty minutes before anyone answered; the blender itself works well."
)


@pytest.fixture
def tokenizer_unloaded() -> Iterator[None]:
    """Start with no tokenizer built in this process (the test may load it again)."""
    encoding.cache_clear()
    yield


def gpt4o(replies: list[Any], price: Price | None = None) -> ScriptedModel:
    """A scripted model named like an OpenAI one, so its requests are estimated with o200k_base."""
    model = ScriptedModel(replies, price=price)
    model.model_name = "gpt-4o"
    return model


def tone(max_tokens: int, budget: Budget | None = None) -> Any:
    @infer("Classify the tone of customer feedback", max_tokens=max_tokens, retries=0, budget=budget)
    def classify_tone(text: str) -> Sentiment: ...

    return classify_tone


async def bound_of_request(max_tokens: int = 100) -> Estimate:
    """The estimate a reservation of `tone(text=NOTE)` starts from (sent once, with no budget)."""
    probe = gpt4o([sentiment(0.9)])
    with use_model(probe):
        await tone(max_tokens)(text=NOTE)
    stratum.trace.clear()
    est = estimate(probe.requests[0], "scripted")
    assert est.bound and est.encoding == "o200k_base"
    return est


def test_a_call_under_a_roomy_budget_never_loads_the_tokenizer(
    fault_server: FaultServer, store: MemorySink, tokenizer_unloaded: None
) -> None:
    """The built-in OpenAI provider, the catalog price and a usd budget: as a user runs it."""
    fault_server.always(Fault(json=chat_reply(json.dumps(sentiment(0.9)), usage={"prompt_tokens": 90, "completion_tokens": 20})))
    classify = tone(200, Budget(usd="1"))
    provider = OpenAI(base_url=fault_server.url + "/v1", api_key="k")
    with stratum.configure(providers={"openai": provider}, default_model="openai:gpt-4.1-mini"):
        assert stratum.run(classify(text=NOTE)).label == "positive"
    assert encoding.cache_info().currsize == 0  # no tokenizer was built
    (attempt,) = store.records()[-1].attempt_records
    sent = fault_server.requests[0].json()
    assert sent["max_completion_tokens"] == 200 and attempt.max_tokens == 200
    # What was reserved is the byte bound: at least every byte of text sent, and above the
    # exact count (computed here, after the call, with the tokenizer).
    texts = [m["content"] for m in sent["messages"]]
    assert attempt.estimated_input_tokens is not None
    assert attempt.estimated_input_tokens >= sum(len(t.encode()) for t in texts)
    exact = sum(len(encoding("o200k_base").encode_ordinary(t)) for t in texts)
    assert attempt.estimated_input_tokens > 2 * exact


@pytest.mark.anyio
async def test_a_roomy_stream_never_loads_the_tokenizer(tokenizer_unloaded: None) -> None:
    @infer("Write one long line", max_tokens=2000, retries=0, budget=Budget(usd="1"))
    def line(topic: str) -> str: ...

    text = "word " * 300
    model = gpt4o([Reply(text, usage=(80, 300), chunks=10)], price=Price(1, 10))
    with use_model(model):
        async with line.stream(topic="x") as s:
            assert await s.result() == text
    assert encoding.cache_info().currsize == 0
    assert stratum.trace.records()[-1].status == "ok"


Axis = Literal["tokens", "usd"]
PRICE = Price(input_per_mtok=1, output_per_mtok=10)


def limit_for(axis: Axis, reserved_input: int, output: int) -> Budget:
    """A budget with room for exactly `reserved_input` input and `output` output tokens."""
    if axis == "tokens":
        return Budget(tokens=reserved_input + output)
    return Budget(usd=PRICE.worst_case(reserved_input, output))


def shortfall(axis: Axis, bound: Estimate, exact: Estimate) -> int:
    """Output tokens the bound's extra input costs, in the axis' units."""
    extra = bound.reserved_input_tokens - exact.reserved_input_tokens
    if axis == "tokens":
        return extra
    return math.ceil(extra * PRICE.input_per_mtok / PRICE.output_per_mtok)


@pytest.mark.anyio
@pytest.mark.parametrize("axis", ["tokens", "usd"])
@pytest.mark.parametrize("bound_would", ["refuse", "lower the cap"])
async def test_a_bound_that_does_not_fit_is_counted_exactly_not_refused(
    axis: Axis, bound_would: str, tokenizer_unloaded: None
) -> None:
    bound = await bound_of_request()
    exact = bound.refined()
    assert not exact.bound and exact.input_tokens < bound.input_tokens
    short = shortfall(axis, bound, exact)
    assert short > 40  # NOTE is long enough for the bound to matter
    # With the bound, only `max_tokens - short` output tokens would fit: under 16 (refused), or
    # above it (the cap lowered). With the exact count the whole cap fits.
    max_tokens = short if bound_would == "refuse" else short + 100
    model = gpt4o([Reply(sentiment(0.9), usage=(exact.input_tokens, 20))], price=PRICE)
    seen: dict[str, Envelope] = {}

    @flow(budget=limit_for(axis, exact.reserved_input_tokens, max_tokens))
    async def run() -> Sentiment:
        env = current_budget()
        assert env is not None
        seen["env"] = env
        return await tone(max_tokens)(text=NOTE)

    with use_model(model):
        assert (await run()).label == "positive"
    assert model.requests[0].max_tokens == max_tokens  # the cap the call asked for, not lowered
    (attempt,) = stratum.trace.records()[-1].attempt_records
    assert attempt.estimated_input_tokens == exact.input_tokens  # the trace says what was reserved
    assert attempt.max_tokens == max_tokens
    env = seen["env"]
    assert env.reserved_usd == 0 and env.reserved_tokens == 0
    assert encoding.cache_info().currsize == 1


@pytest.mark.anyio
@pytest.mark.parametrize("axis", ["tokens", "usd"])
async def test_when_the_exact_count_fits_only_a_lower_cap_that_cap_is_used(axis: Axis) -> None:
    bound = await bound_of_request()
    exact = bound.refined()
    max_tokens = shortfall(axis, bound, exact) + 200
    model = gpt4o([Reply(sentiment(0.9), usage=(exact.input_tokens, 20))], price=PRICE)

    @flow(budget=limit_for(axis, exact.reserved_input_tokens, max_tokens - 50))
    async def run() -> Sentiment:
        return await tone(max_tokens)(text=NOTE)

    with use_model(model):
        await run()
    assert model.requests[0].max_tokens == max_tokens - 50  # what the exact count leaves


@pytest.mark.anyio
@pytest.mark.parametrize("axis", ["tokens", "usd"])
async def test_when_not_even_the_exact_count_fits_the_call_is_refused(axis: Axis) -> None:
    bound = await bound_of_request()
    exact = bound.refined()
    model = gpt4o([Reply(sentiment(0.9))], price=PRICE)

    @flow(budget=limit_for(axis, exact.reserved_input_tokens, 10))  # room for 10 output tokens, 16 needed
    async def run() -> Sentiment:
        return await tone(100)(text=NOTE)

    with use_model(model), pytest.raises(BudgetExceeded, match=f"~{exact.reserved_input_tokens} input"):
        await run()
    assert model.requests == []
    (attempt,) = stratum.trace.records()[-1].attempt_records
    assert attempt.outcome == "budget" and attempt.estimated_input_tokens == exact.input_tokens


@pytest.mark.anyio
async def test_a_stream_whose_byte_count_passes_the_cap_is_counted_exactly_not_cut(tokenizer_unloaded: None) -> None:
    """Output counted as bytes would pass what the envelope allows; counted exactly it does not."""

    @infer("Write one long line", max_tokens=400, retries=0)
    def line(topic: str) -> str: ...

    text = "word " * 300  # 1500 bytes, ~300 tokens
    probe = gpt4o(["x"])
    with use_model(probe):
        await line(topic="x")
    bound = estimate(probe.requests[0], "scripted")
    limit = bound.reserved_input_tokens + 400  # the reservation fits with the whole cap
    model = gpt4o([Reply(text, usage=(10, 300), chunks=10)])

    @flow(budget=Budget(tokens=limit))
    async def run() -> str:
        async with line.stream(topic="x") as s:
            return await s.result()

    with use_model(model):
        assert await run() == text
    record = stratum.trace.records()[-1]
    assert record.status == "ok" and record.stopped is None and record.output_tokens == 300
    assert encoding.cache_info().currsize == 1  # the byte count passed the cap: counted exactly


@pytest.mark.anyio
async def test_a_stream_is_not_cut_by_the_input_bound_either() -> None:
    """While the provider has not reported the input, the cap is computed from the estimate: when
    the output passes it, the input is counted exactly too before the stream is cut."""

    @infer("Write one long line", max_tokens=50, retries=0)
    def line(topic: str) -> str: ...

    probe = gpt4o(["x"])
    with use_model(probe):
        await line(topic=NOTE)
    bound = estimate(probe.requests[0], "scripted")
    exact = bound.refined()
    limit = bound.reserved_input_tokens + 50
    with_bound, with_exact = limit - bound.input_tokens, limit - exact.input_tokens  # the output cap either way
    assert with_exact - with_bound > 20
    words = (with_bound + with_exact) // 2  # more than the bound's cap allows, within the exact one
    text = "word " * words  # `words` + 1 tokens in o200k_base
    # A server that sends more than max_tokens, and never reports the input.
    model = gpt4o([Reply(text, usage=(0, 50), chunks=1)])

    @flow(budget=Budget(tokens=limit))
    async def run() -> str:
        async with line.stream(topic=NOTE) as s:
            return await s.result()

    with use_model(model):
        assert await run() == text
    assert stratum.trace.records()[-1].stopped is None


@pytest.mark.anyio
async def test_a_stream_is_still_cut_when_the_exact_count_passes_the_cap() -> None:
    @infer("Write one long line", max_tokens=100, retries=0)
    def line(topic: str) -> str: ...

    probe = gpt4o(["x"])
    with use_model(probe):
        await line(topic="x")
    bound = estimate(probe.requests[0], "scripted")
    # A server that sends ~300 tokens where 100 were asked for (and claims 100).
    model = gpt4o([Reply("word " * 300, usage=(10, 100), chunks=30)])
    cap = bound.reserved_input_tokens + 100 - 10  # output tokens the envelope has room for

    @flow(budget=Budget(tokens=bound.reserved_input_tokens + 100))
    async def run() -> None:
        async with line.stream(topic="x") as s:
            await s.result()

    with use_model(model), pytest.raises(BudgetExceeded) as raised:
        await run()
    assert raised.value.axis == "tokens"
    assert stratum.trace.records()[-1].stopped == "budget"
    # cut once the exact count passed the cap, not when the byte count did (~5 bytes a token)
    arrived = raised.value.partial
    assert isinstance(arrived, str) and 3 * cap < len(arrived) < len("word " * 300)


@pytest.mark.anyio
async def test_many_concurrent_calls_under_a_tight_cap_never_overspend() -> None:
    """60 concurrent calls: the first reserve their bound, the later ones count exactly."""
    bound = await bound_of_request(50)
    exact = bound.refined()
    # Room for 5 worst cases reserved from the bound, then one reserved from the exact count.
    cap = PRICE.worst_case(bound.reserved_input_tokens, 50) * 5 + PRICE.worst_case(exact.reserved_input_tokens, 50)
    replies = [Reply(sentiment(0.9), usage=(exact.input_tokens, 50), latency_ms=2) for _ in range(60)]
    model = gpt4o(replies, price=PRICE)
    seen: dict[str, Envelope] = {}
    outcomes: list[object] = []

    async def one() -> None:
        try:
            outcomes.append(await tone(50)(text=NOTE))
        except BudgetExceeded as exc:
            outcomes.append(exc)

    @flow(budget=Budget(usd=cap))
    async def burst() -> None:
        env = current_budget()
        assert env is not None
        seen["env"] = env
        async with anyio.create_task_group() as tg:
            for _ in range(60):
                tg.start_soon(one)

    with use_model(model):
        await burst()
    env = seen["env"]
    assert env.spent_usd <= cap and env.reserved_usd == 0
    sent = len(model.requests)
    # (calls that settle early give back room: more may be sent, never fewer)
    assert 6 <= sent < 60 and sum(isinstance(o, BudgetExceeded) for o in outcomes) == 60 - sent
    reserved = {a.estimated_input_tokens for r in stratum.trace.records() for a in r.attempt_records}
    assert reserved == {bound.input_tokens, exact.input_tokens}  # both ways were needed
    assert env.spent_usd == sum((r.cost_usd or Decimal(0) for r in stratum.trace.records()), Decimal(0))


@pytest.mark.anyio
async def test_batch_items_follow_the_same_rule() -> None:
    bound = await bound_of_request()
    exact = bound.refined()
    max_tokens = shortfall("tokens", bound, exact) + 100  # the bound would lower the cap
    model = gpt4o([Reply(sentiment(0.9), usage=(exact.input_tokens, 20))])

    @flow(budget=Budget(tokens=exact.reserved_input_tokens + max_tokens))
    async def run() -> list[Any]:
        return await tone(max_tokens).batch([{"text": NOTE}])

    with use_model(model):
        (result,) = await run()
    assert result.ok and model.requests[0].max_tokens == max_tokens
