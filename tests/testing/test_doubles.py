"""stub, ScriptedModel (with provider faults), use_model, block_network."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import httpx2
import pytest
from pydantic import Field

import stratum
from stratum import Budget, contract, flow, infer
from stratum.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    ContentFilterError,
    NetworkBlockedError,
    ParseFailure,
    PostconditionFailed,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimitError,
    RefusalError,
    ScriptExhaustedError,
)
from stratum.providers import OpenAI, OpenAICompatible
from stratum.testing import (
    Reply,
    SchemaModel,
    ScriptedModel,
    block_network,
    faults,
    stub,
    use_model,
)

pytestmark = pytest.mark.anyio


@contract
class Label:
    label: Literal["positive", "negative"]
    confidence: Annotated[float, Field(ge=0, le=1)]


@infer("Classify the sentiment", ensure=lambda r: r.confidence > 0.5, retries=2)
def classify(text: str) -> Label: ...


@infer("Write a reply")
def draft(text: str, label: str) -> str: ...


@flow
async def respond(text: str) -> str:
    result = await classify(text=text)
    return await draft(text=text, label=result.label)


GOOD = {"label": "positive", "confidence": 0.9}


# -- stub ------------------------------------------------------------------------------------


async def test_stub_answers_orchestration_without_a_model(anyio_backend: str) -> None:
    with stratum.trace.capture() as store, stub(classify, GOOD), stub(draft, impl=lambda text, label: f"[{label}] thanks"):
        assert await respond("great") == "[positive] thanks"
    assert [(r.function.rsplit(".", 1)[-1], r.model) for r in store.records()] == [("classify", "stub"), ("draft", "stub")]


async def test_stub_list_is_consumed_in_order_and_validated(anyio_backend: str) -> None:
    async def async_impl(text: str) -> dict[str, object]:
        return {"label": "negative", "confidence": 0.7}

    with stub(classify, [GOOD, {"label": "negative", "confidence": 0.6}]) as route:
        first, second = await classify(text="a"), await classify(text="b")
        with pytest.raises(ScriptExhaustedError, match="called 3 times"):
            await classify(text="c")
    assert (first.label, second.label) == ("positive", "negative")
    assert [c["text"] for c in route.calls] == ["a", "b", "c"]
    with stub(classify, impl=async_impl):
        assert (await classify(text="x")).label == "negative"
    with stub(classify, {"label": "neutral", "confidence": 1}), pytest.raises(ParseFailure, match="fix the stub"):
        await classify(text="x")


# -- use_model -------------------------------------------------------------------------------


async def test_use_model_routes_per_function(anyio_backend: str) -> None:
    m1, m2 = ScriptedModel([GOOD]), ScriptedModel(["Thanks!"])
    with use_model({classify: m1, draft: m2}):
        assert await respond("great") == "Thanks!"
    assert m1.requests[0].function.endswith("classify") and m2.requests[0].function.endswith("draft")
    assert "positive" in m2.requests[0].instructions


async def test_use_model_one_model_for_all_and_inner_scope_wins(anyio_backend: str) -> None:
    outer, inner = ScriptedModel([GOOD, "outer"]), ScriptedModel(["inner"])
    with use_model(outer):
        with use_model({draft: inner}):
            assert await respond("x") == "inner"
    assert outer.remaining == 1


async def test_script_exhausted_names_the_call(anyio_backend: str) -> None:
    with use_model(ScriptedModel([])), pytest.raises(ScriptExhaustedError, match=r"classify asked for response #1"):
        await classify(text="x")


async def test_scripted_retry_path_and_budget(anyio_backend: str) -> None:
    """An ensure failure costs one retry; the retry request carries only what failed."""
    model = ScriptedModel([{"label": "positive", "confidence": 0.2}, Reply(GOOD, usage=(100, 20))])
    with use_model(model), stratum.trace.capture() as store:
        assert (await classify(text="ok")).confidence == 0.9
    assert [r.attempt for r in model.requests] == [0, 1]
    assert "confidence" in model.requests[1].instructions and "0.2" in model.requests[1].instructions
    record = store.records()[0]
    assert record.attempts == 2 and record.output_tokens >= 20


# -- provider faults -------------------------------------------------------------------------


async def test_rate_limit_is_retried_like_a_provider_without_consuming_retries(anyio_backend: str) -> None:
    model = ScriptedModel([faults.rate_limit(retry_after=0.01), faults.server_error(503), GOOD])
    with use_model(model), stratum.trace.capture() as store:
        assert (await classify(text="x")).label == "positive"
    record = store.records()[0]
    assert record.attempts == 1 and record.attempt_records[0].fault_retries == 2
    assert len(model.requests) == 1


async def test_rate_limit_after_fault_retries_raises_rate_limit_error(anyio_backend: str) -> None:
    model = ScriptedModel([faults.rate_limit(retry_after=0)] * 4)
    with use_model(model), stratum.trace.capture() as store, pytest.raises(RateLimitError) as info:
        await classify(text="x")
    assert info.value.retry_after == 0 and info.value.status_code == 429
    record = store.records()[0]
    assert record.status == "failed" and record.attempt_records[0].outcome == "provider_error"
    assert record.error is not None and record.error.startswith("RateLimitError")


async def test_retry_after_past_the_deadline_is_a_time_budget_error_at_once(anyio_backend: str) -> None:
    @infer("Classify", budget=Budget(ms=500))
    def quick(text: str) -> Label: ...

    started = time.monotonic()
    with use_model(ScriptedModel([faults.rate_limit(retry_after=30), GOOD])), pytest.raises(BudgetExceeded) as info:
        await quick(text="x")
    assert info.value.axis == "ms" and "retry-after" in str(info.value)
    assert time.monotonic() - started < 5  # it did not sleep 30 s


@pytest.mark.parametrize(
    "fault, error",
    [
        (faults.server_error(500), ProviderHTTPError),
        (faults.overloaded(), ProviderHTTPError),
        (faults.timeout(), ProviderTimeout),
    ],
)
async def test_retryable_faults_raise_the_provider_error_when_they_persist(
    fault: object, error: type[Exception], anyio_backend: str
) -> None:
    model = ScriptedModel([fault] * 4)
    with use_model(model), pytest.raises(error):
        await classify(text="x")
    assert model.remaining == 0


@pytest.mark.parametrize("fault, error", [(faults.auth_error(), AuthenticationError), (faults.bad_request(), ProviderHTTPError)])
async def test_non_retryable_faults_raise_at_once(fault: object, error: type[Exception], anyio_backend: str) -> None:
    model = ScriptedModel([fault, GOOD])
    with use_model(model), pytest.raises(error):
        await classify(text="x")
    assert model.remaining == 1


async def test_refusal_raises_without_retry_and_is_traced(anyio_backend: str) -> None:
    model = ScriptedModel([faults.refusal("I won't."), GOOD])
    with use_model(model), stratum.trace.capture() as store, pytest.raises(RefusalError) as info:
        await classify(text="x")
    assert info.value.refusal == "I won't." and model.remaining == 1
    assert store.records()[0].attempt_records[0].outcome == "refusal"


async def test_content_filter_raises(anyio_backend: str) -> None:
    with use_model(ScriptedModel([faults.content_filter()])), pytest.raises(ContentFilterError):
        await classify(text="x")


async def test_truncation_consumes_a_retry_and_says_why(anyio_backend: str) -> None:
    model = ScriptedModel([faults.truncated(GOOD), GOOD])
    with use_model(model), stratum.trace.capture() as store:
        assert (await classify(text="x")).label == "positive"
    first = store.records()[0].attempt_records[0]
    assert first.outcome == "truncated" and first.finish_reason == "length"
    assert "cut off" in model.requests[1].instructions


async def test_malformed_json_consumes_retries_then_parse_failure(anyio_backend: str) -> None:
    model = ScriptedModel([faults.malformed_json()] * 3)
    with use_model(model), pytest.raises(ParseFailure) as info:
        await classify(text="x")
    assert len(info.value.retry_history) == 3
    assert all(a.outcome == "parse_error" for a in info.value.retry_history)


async def test_ensure_failures_exhaust_retries(anyio_backend: str) -> None:
    low = {"label": "positive", "confidence": 0.1}
    with use_model(ScriptedModel([low] * 3)), pytest.raises(PostconditionFailed, match="confidence"):
        await classify(text="x")


async def test_scripted_exception_instance_is_raised_as_is(anyio_backend: str) -> None:
    boom = RateLimitError("scripted", retry_after=5.0)
    with use_model(ScriptedModel([boom, GOOD])), pytest.raises(RateLimitError) as info:
        await classify(text="x")
    assert info.value is boom


async def test_usd_budget_runs_on_free_test_models(anyio_backend: str) -> None:
    @flow(budget=Budget(usd=0.001))
    async def cheap() -> str:
        return await respond("x")

    with use_model(SchemaModel(seed=1)):
        assert isinstance(await cheap(), str)


# -- network guard ---------------------------------------------------------------------------


async def test_block_network_names_the_testing_tools(anyio_backend: str) -> None:
    with stratum.configure(providers={"oai": OpenAI(api_key="sk-test-0000000000")}):

        @infer("Classify", model="oai:gpt-4.1-mini")
        def live(text: str) -> Label: ...

        with block_network(), pytest.raises(NetworkBlockedError) as info:
            await live(text="x")
    message = str(info.value)
    for tool in ("stub(", "ScriptedModel", "SchemaModel", "cassette", "stratum_allow_network"):
        assert tool in message
    assert "api.openai.com" in message and "sk-test" not in message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
async def test_block_network_allows_loopback(host: str, anyio_backend: str) -> None:
    seen: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url.host))
        return httpx2.Response(200, json={"choices": [{"message": {"content": '{"label":"negative","confidence":0.8}'}, "finish_reason": "stop"}]})

    # A real transport would need a server; the host check runs before the transport is used,
    # so route a *non-mock* client through a real-looking send that records the host.
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    local = OpenAICompatible(f"http://{host}:11434/v1", http_client=client, name="local")

    @infer("Classify", model="local:llama")
    def on_local(text: str) -> Label: ...

    with stratum.configure(providers={"local": local}), block_network():
        assert (await on_local(text="x")).label == "negative"
    assert seen == [host.strip("[]")]


async def test_block_network_blocks_a_real_transport_but_not_a_mock(anyio_backend: str) -> None:
    from stratum.providers._intercept import Exchange, send_intercepted

    mock = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(204)))
    real = httpx2.AsyncClient()
    request = real.build_request("POST", "https://api.anthropic.com/v1/messages", json={})
    with block_network():
        assert (await send_intercepted(request, Exchange("anthropic", "anthropic", None), mock.send)).status_code == 204
        with pytest.raises(NetworkBlockedError, match="anthropic"):
            await send_intercepted(request, Exchange("anthropic", "anthropic", None), real.send)
    await real.aclose()
