"""Fallback chains: `@infer(model=[m1, m2])` moves on after provider faults, within one envelope."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx2
import pytest

import stratum
from stratum import Budget, configure, contract, infer, trace
from stratum.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    PostconditionFailed,
    ProviderHTTPError,
    RateLimitError,
    RefusalError,
    StratumCompileError,
)
from stratum.pricing import Price
from stratum.providers import Anthropic, OpenAI
from stratum.testing import Reply, ScriptedModel, faults, stub, use_model

pytestmark = pytest.mark.anyio


@contract
class City:
    city: str


def test_an_empty_chain_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match=r"model=\[\] names no model"):

        @infer("Name a city.", model=[])
        def nothing() -> City: ...

    with pytest.raises(StratumCompileError, match="model string or a provider object"):

        @infer("Name a city.", model=["a:m", 3])  # type: ignore[list-item]
        def bad() -> City: ...


async def test_a_provider_fault_moves_to_the_next_model_each_priced_at_its_own_rate() -> None:
    first = ScriptedModel([faults.server_error(503)] * 4, usage=(100, 0))
    second = ScriptedModel([Reply({"city": "Paris"}, usage=(100, 10))])

    @infer("Name the capital.", model=["a:big", "b:small"])
    def capital(country: str) -> City: ...

    prices = {"a:big": Price(10, 40), "b:small": Price(1, 2)}
    with configure(providers={"a": first, "b": second}, prices=prices):
        assert await capital("France") == City(city="Paris")
    record = trace.records()[-1]
    assert record.status == "ok" and record.models_tried == ("a:big", "b:small")
    assert record.model == "b:small" and record.provider == "b"
    assert [(a.model, a.outcome) for a in record.attempt_records] == [("a:big", "provider_error"), ("b:small", "ok")]
    # the first model's fault-retried attempt reported nothing; the second is priced at b's rate
    assert record.cost_usd == Decimal("100") * 1 / 1_000_000 + Decimal("10") * 2 / 1_000_000
    assert len(second.requests) == 1 and second.requests[0].attempt == 0


async def test_the_next_model_runs_in_the_same_envelope_and_deadline() -> None:
    seen: list[float | None] = []

    class Slow:
        name = "slow"

        async def complete(self, call: Any) -> Any:
            import anyio

            seen.append(call.timeout)
            await anyio.sleep(0.2)
            raise ProviderHTTPError("slow: HTTP 503", status_code=503, provider="slow", model=call.model)

    second = ScriptedModel([{"city": "Paris"}])

    @infer("Name the capital.", model=["slow:m", "b:m"], budget=Budget(ms=5000, tokens=100_000))
    def capital(country: str) -> City: ...

    with configure(providers={"slow": Slow(), "b": second}):  # type: ignore[dict-item]
        await capital("France")
    later = second.requests[0].timeout
    assert seen[0] is not None and later is not None
    assert later <= seen[0] - 0.15  # the same deadline: the time the first model took is gone


async def test_the_usd_spent_by_a_failed_model_counts_against_the_same_envelope() -> None:
    second = ScriptedModel([Reply({"city": "Paris"}, usage=(1000, 100))], price=Price(1, 1))

    class Costly:
        """Fails after the provider reported usage (metered like every failed response)."""

        name = "costly"

        async def complete(self, call: Any) -> Any:
            error = ProviderHTTPError("costly: HTTP 500", status_code=500, provider="costly", model=call.model)
            error.usage = stratum.Usage(input_tokens=5000, output_tokens=0)  # type: ignore[attr-defined]
            raise error

    @infer("Name the capital.", model=["costly:m", "b:m"])
    def capital(country: str) -> City: ...

    @stratum.flow(budget=Budget(usd="1"))
    async def trip() -> City:
        return await capital("France")

    with configure(providers={"costly": Costly(), "b": second}, prices={"costly:m": Price(10, 10)}):  # type: ignore[dict-item]
        await trip()
    record = trace.records()[-1]
    assert record.models_tried == ("costly:m", "b:m")
    failed, answered = record.attempt_records
    assert answered.cost_usd == Decimal("0.0011")  # 1000 in + 100 out at b's $1/M
    # the failed model's reported usage is charged at its own $10/M (capped at what was reserved)
    assert failed.cost_usd is not None and Decimal("0.01") < failed.cost_usd <= Decimal("0.05")
    assert record.cost_usd == failed.cost_usd + answered.cost_usd
    assert trace.flows()[-1].spent_usd == record.cost_usd  # one envelope saw both models


async def test_ensure_failures_refusals_and_budget_stops_do_not_fall_back() -> None:
    second = ScriptedModel([{"city": "Paris"}] * 3)

    @infer("Name the capital.", model=["a:m", "b:m"], ensure=lambda r: r.city == "Paris", retries=0)
    def capital(country: str) -> City: ...

    with configure(providers={"a": ScriptedModel([{"city": "Lyon"}]), "b": second}):
        with pytest.raises(PostconditionFailed):
            await capital("France")
    assert trace.records()[-1].models_tried == ("a:m",)

    with configure(providers={"a": ScriptedModel([Reply("no", finish_reason="refusal")]), "b": second}):
        with pytest.raises(RefusalError):
            await capital("France")

    @infer("Name the capital.", model=["a:m", "b:m"], budget=Budget(tokens=5))
    def tight(country: str) -> City: ...

    with configure(providers={"a": ScriptedModel([{"city": "Paris"}]), "b": second}):
        with pytest.raises(BudgetExceeded):
            await tight("France")
    assert second.requests == []


async def test_every_model_failing_raises_the_last_fault_and_lists_them_all() -> None:
    @infer("Name the capital.", model=["a:m", "b:m", "c:m"])
    def capital(country: str) -> City: ...

    providers = {
        "a": ScriptedModel([faults.auth_error()]),
        "b": ScriptedModel([faults.bad_request()]),
        "c": ScriptedModel([faults.rate_limit(None)] * 4),
    }
    with configure(providers=providers), pytest.raises(RateLimitError):
        await capital("France")
    record = trace.records()[-1]
    assert record.status == "failed" and record.models_tried == ("a:m", "b:m", "c:m")
    assert [a.model for a in record.attempt_records] == ["a:m", "b:m", "c:m"]


async def test_an_unusable_next_model_is_a_configuration_error_chained_to_the_fault() -> None:
    @infer("Name the capital.", model=["a:m", "nowhere:m"])
    def capital(country: str) -> City: ...

    with configure(providers={"a": ScriptedModel([faults.server_error()] * 4)}):
        with pytest.raises(ConfigurationError, match="fallback chain") as info:
            await capital("France")
    assert isinstance(info.value.__cause__, ProviderHTTPError)


async def test_plain_calls_list_their_one_model_and_overrides_replace_the_chain() -> None:
    @infer("Name the capital.", model=["a:m", "b:m"])
    def capital(country: str) -> City: ...

    with use_model(ScriptedModel([{"city": "Paris"}])):
        await capital("France")
    assert trace.records()[-1].models_tried == ("scripted",)
    with stub(capital, returns=City(city="Rome")):
        await capital("Italy")
    assert trace.records()[-1].models_tried == ()

    @infer("Name the capital.", model=["b:m"])
    def single(country: str) -> City: ...

    with configure(providers={"b": ScriptedModel([{"city": "Paris"}])}):
        await single("France")
    assert trace.records()[-1].models_tried == ("b:m",)


async def test_http_providers_fall_back_after_their_fault_retries_and_the_record_round_trips(tmp_path: Any) -> None:
    """The example of the issue, over the built-in providers: OpenAI 503s, Anthropic answers."""
    openai_server: list[httpx2.Request] = []

    def openai_down(request: httpx2.Request) -> httpx2.Response:
        openai_server.append(request)
        return httpx2.Response(503, json={"error": {"message": "overloaded"}})

    def anthropic_up(request: httpx2.Request) -> httpx2.Response:
        body = {
            "content": [{"type": "text", "text": '{"city": "Paris"}'}],
            "stop_reason": "end_turn",
            "model": "claude-haiku-4-5-20251001",
            "usage": {"input_tokens": 50, "output_tokens": 8},
        }
        return httpx2.Response(200, json=body)

    async def no_sleep(seconds: float) -> None:
        return None

    openai = OpenAI(api_key="sk-test-PLANTED-000000000", transport=httpx2.MockTransport(openai_down), sleep=no_sleep, max_retries=2)
    anthropic = Anthropic(api_key="sk-ant-test-PLANTED-0000000", transport=httpx2.MockTransport(anthropic_up))

    @infer("Name the capital.", model=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
    def capital(country: str) -> City: ...

    sink = stratum.trace.JsonlSink(tmp_path / "t.jsonl")
    with configure(providers={"openai": openai, "anthropic": anthropic}, trace_sinks=[sink]):
        assert await capital("France") == City(city="Paris")
    sink.close()
    assert len(openai_server) == 3  # the first try and max_retries=2 fault retries
    record = trace.records()[-1]
    assert record.models_tried == ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5")
    assert record.cost_usd is not None and record.cost_usd > 0  # priced at claude-haiku's rate
    written = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])
    assert written["models_tried"] == ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]
    assert [a["model"] for a in written["attempt_records"]] == ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]
