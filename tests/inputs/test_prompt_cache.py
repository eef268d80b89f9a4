"""Prompt caching: Anthropic `cache_control` on the stable prefix, switched on `@infer` and `configure`,
and the saving on the trace record and in the audit (real recorded cache usage as the reply)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stratum import configure, contract, infer, trace
from stratum.pricing import Price
from stratum.providers import Anthropic
from stratum.trace import render_audit
from tests.inputs.conftest import Loopback

pytestmark = pytest.mark.anyio

KEY = "sk-test-cache-0123456789abcdef"
# Two real Anthropic replies (pydantic-ai's test_anthropic_cache_real_api.yaml, MIT; see the note
# next to the file): cache reads 1111 in both, cache writes 418 in the second.
RECORDED: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "providers" / "fixtures" / "anthropic_cache_real_api.responses.json").read_text()
)
SONNET = Price(input_per_mtok=3, output_per_mtok=15, cached_input_per_mtok="0.30", cache_write_per_mtok="3.75")


@contract
class Summary:
    text: str


def _reply(index: int, model: str | None = None) -> dict[str, Any]:
    reply = dict(RECORDED[index])
    if model is not None:
        reply["model"] = model
    reply["content"] = [{"type": "text", "text": json.dumps({"text": "Python is a language."})}]
    return reply


async def test_the_system_prefix_carries_a_cache_breakpoint_and_the_saving_is_recorded(loopback: Loopback) -> None:
    replies = iter([_reply(0), _reply(1)])
    loopback.reply = lambda path, body: next(replies)

    @infer("Explain the topic.", context="Long, stable house style guide. " * 50, model="c:claude-sonnet-4-5", prompt_cache=True)
    def explain(topic: str) -> Summary: ...

    with configure(providers={"c": Anthropic(api_key=KEY, base_url=loopback.url)}, prices={"c:claude-sonnet-4-5": SONNET}):
        await explain("Python")
        await explain("Python again")
    system = loopback.bodies[0]["system"]
    assert system == [{"type": "text", "text": system[0]["text"], "cache_control": {"type": "ephemeral"}}]
    assert system[0]["text"].startswith("Explain the topic.")
    first, second = trace.records()
    assert (first.cached_input_tokens, first.cache_write_tokens, first.input_tokens) == (1111, 0, 1114)
    # 1111 reads × (3 − 0.30) $/MTok
    assert first.cache_savings_usd == Decimal(1111) * Decimal("2.70") / Decimal(1_000_000)
    # minus 418 writes × (3.75 − 3) $/MTok
    assert second.cache_savings_usd == (Decimal(1111) * Decimal("2.70") - Decimal(418) * Decimal("0.75")) / Decimal(1_000_000)
    report = json.loads(render_audit(trace.flows(), trace.records(), format="json"))
    totals = report["flows"][0]["totals"]
    assert totals["cached_input_tokens"] == 2222
    assert Decimal(totals["cache_savings_usd"]) == first.cache_savings_usd + second.cache_savings_usd
    table = render_audit(trace.flows(), trace.records())
    assert "prompt cache: 2,222 cached input tokens, saved $0.005686" in table


async def test_off_by_default_and_on_through_configure(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: _reply(0)

    @infer("Explain the topic.", model="c:claude-sonnet-4-5")
    def explain(topic: str) -> Summary: ...

    @infer("Explain the topic.", model="c:claude-sonnet-4-5", prompt_cache=False)
    def explain_uncached(topic: str) -> Summary: ...

    with configure(providers={"c": Anthropic(api_key=KEY, base_url=loopback.url)}):
        await explain("Python")
        with configure(prompt_cache=True):
            await explain("Python")
            await explain_uncached("Python")
    plain, cached, opted_out = (body["system"] for body in loopback.bodies)
    assert plain == "Explain the topic." and opted_out == "Explain the topic."
    assert cached[0]["cache_control"] == {"type": "ephemeral"}


async def test_without_a_price_the_saving_is_unknown(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: _reply(0, model="some-unpriced-model")

    @infer("Explain the topic.", model="c:some-unpriced-model", prompt_cache=True)
    def explain(topic: str) -> Summary: ...

    with configure(providers={"c": Anthropic(api_key=KEY, base_url=loopback.url)}):
        await explain("Python")
    record = trace.records()[-1]
    assert record.cached_input_tokens == 1111 and record.cache_savings_usd is None
    assert "cache_savings_usd" not in json.loads(render_audit([], [record], format="json"))["flows"][0]["totals"]
