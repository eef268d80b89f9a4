"""Overrides, declared-free local models, and unknown prices end to end."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

import stratum
from stratum import Budget, UnknownPriceError, Usage, flow, infer, trace
from stratum._runtime.model import CallSpec, Completion
from stratum.pricing import Price, price_of
from stratum.testing import use_model


class LocalServer:
    """A stand-in for an Ollama/vLLM server: no price of its own, counts what it is sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[CallSpec] = []

    async def complete(self, call: CallSpec, /) -> Completion:
        self.requests.append(call)
        return Completion(text="fine", usage=Usage(40, 5), model=call.model)


@infer(intent="Say how it went", retries=0, max_tokens=50)
def how(note: str) -> str: ...


@infer(intent="Say how it went", retries=0, max_tokens=50, budget=Budget(usd="0.01"))
def how_capped(note: str) -> str: ...


def test_unknown_price_without_usd_budget_runs_and_records_none() -> None:
    server = LocalServer("local")
    with stratum.configure(providers={"local": server}):
        with use_model("local:my-model"):
            assert anyio.run(lambda: how(note="x")) == "fine"
    (record,) = trace.records()
    assert record.cost_usd is None and record.input_tokens == 40
    assert record.attempt_records[0].cost_usd is None


def test_unknown_price_under_usd_budget_raises_before_sending_and_names_the_override() -> None:
    server = LocalServer("local")
    with stratum.configure(providers={"local": server}), use_model("local:my-model"):
        with pytest.raises(UnknownPriceError) as caught:
            anyio.run(lambda: how_capped(note="x"))
    assert server.requests == []  # nothing was sent
    assert caught.value.model == "local:my-model"
    assert "configure(prices={'local:my-model': Price(" in str(caught.value)


def test_unknown_price_inside_a_usd_flow_raises_too() -> None:
    server = LocalServer("local")

    @flow(budget=Budget(usd=1))
    async def run() -> str:
        return await how(note="x")

    with stratum.configure(providers={"local": server}), use_model("local:my-model"):
        with pytest.raises(UnknownPriceError):
            anyio.run(run)
    assert server.requests == []


@pytest.mark.parametrize("provider", ["ollama", "vllm", "llamacpp"])
def test_local_providers_declared_free_run_under_a_usd_budget(provider: str) -> None:
    server = LocalServer(provider)
    free = {f"{provider}:*": Price(0, 0)}
    with stratum.configure(providers={provider: server}, prices=free):
        assert price_of(f"{provider}:llama3.2") == Price(0, 0)
        with use_model(f"{provider}:llama3.2"):
            assert anyio.run(lambda: how_capped(note="x")) == "fine"
    (record,) = trace.records()
    assert record.cost_usd == Decimal(0) and len(server.requests) == 1


def test_exact_override_beats_provider_default_and_catalog() -> None:
    server = LocalServer("openai")
    special = Price("1", "2")
    prices = {"openai:*": Price(0, 0), "openai:gpt-4o": special}
    with stratum.configure(providers={"openai": server}, prices=prices):
        assert price_of("openai:gpt-4o") is special
        # The catalog beats a provider default: gpt-4.1-mini has a real price.
        mini = price_of("openai:gpt-4.1-mini")
        assert mini is not None and mini.input_per_mtok > 0
        # Unknown to the catalog: the provider default applies.
        assert price_of("openai:my-finetune") == Price(0, 0)
        with use_model("openai:gpt-4o"):
            anyio.run(lambda: how_capped(note="x"))
    (record,) = trace.records()
    # 40 in × $1 + 5 out × $2 = 50 µ$
    assert record.cost_usd == Decimal("0.00005")


def test_a_catalog_model_is_metered_at_its_returned_snapshot() -> None:
    class Dated(LocalServer):
        async def complete(self, call: CallSpec, /) -> Completion:
            self.requests.append(call)
            return Completion(text="fine", usage=Usage(1000, 100), model="gpt-4o-2024-05-13")

    server = Dated("openai")
    with stratum.configure(providers={"openai": server}), use_model("openai:gpt-4o"):
        anyio.run(lambda: how(note="x"))
    (record,) = trace.records()
    # gpt-4o-2024-05-13 is its own row: $5 in, $15 out → 1000×5 + 100×15 = 6500 µ$
    assert record.cost_usd == Decimal("0.0065")
