"""Pricing benchmark: metering overhead per call, estimator throughput, estimator error.

Run from the repository root:  PYTHONPATH=src python benchmarks/pricing_bench.py

1. Core per-call cost: an `@infer` call on a ScriptedModel, no budget (the baseline).
2. Metering cost per call: resolve_price + estimate + reserve + cost + settle, as run by the
   executor under a usd budget, for a catalog model (gpt-4o) and a tiered one (claude-sonnet-4-5).
3. Estimator throughput (tokens/s) for o200k_base, cl100k_base and the bytes/3 fallback.
4. Estimator error vs the input tokens recorded in tests/fixtures/real_cassettes: for OpenAI
   models both the UTF-8 byte bound a reservation starts from and the exact tiktoken count.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.pricing.pricing_cassettes import Exchange, cassette_root, exchanges  # noqa: E402

from stratum import Budget, Envelope, Usage, infer, trace  # noqa: E402
from stratum._runtime.model import CallSpec, Message  # noqa: E402
from stratum.pricing import estimate  # noqa: E402
from stratum.pricing._estimate import count_text_tokens  # noqa: E402
from stratum.pricing._resolve import resolve_price  # noqa: E402
from stratum.testing import ScriptedModel, use_model  # noqa: E402


@infer(intent="Summarize the note in one line", retries=0, max_tokens=200)
def summarize(note: str) -> str: ...


REPEATS = 5  # report the best of several runs: the machine is shared, noise only adds time


def per_call_us(fn: Any, n: int) -> float:
    fn()  # warm up (loads encodings, fills caches)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def core_call_us(n: int = 2000) -> float:
    model = ScriptedModel(["ok"] * (n + 10), usage=(50, 5))

    async def many() -> None:
        for _ in range(n):
            await summarize(note="The customer wrote back about the late parcel and asked for a refund.")

    with use_model(model):
        anyio.run(many)  # warm-up run of the same size
    trace.clear()
    best = float("inf")
    for _ in range(REPEATS):
        model = ScriptedModel(["ok"] * (n + 10), usage=(50, 5))
        with use_model(model):
            start = time.perf_counter()
            anyio.run(many)
            best = min(best, time.perf_counter() - start)
        trace.clear()
    return best / n * 1e6


def metering_us(provider: str, model: str, n: int = 5000, *, budget_only: bool = False) -> float:
    text = "The customer wrote back about the late parcel and asked for a refund."
    call = CallSpec(
        model=model,
        messages=(Message("system", "Summarize the note in one line"), Message("user", f"note: {text}")),
        max_tokens=200,
    )
    env = Envelope(Budget(usd=10**9))
    usage = Usage(50, 5, 10)

    fixed_price = resolve_price(f"{provider}:{model}", object(), provider, model)
    fixed_est = estimate(call, provider)

    def once() -> None:
        # resolve_price and estimate run on every call, budget or not (they are in the baseline);
        # budget_only measures what a budget adds: reserve, cost, settle.
        price = fixed_price if budget_only else resolve_price(f"{provider}:{model}", object(), provider, model)
        est = fixed_est if budget_only else estimate(call, provider)
        reservation = env.reserve(input_tokens=est.reserved_input_tokens, max_tokens=200, price=price, model=model)
        assert price is not None
        env.settle(reservation, usage, price.cost(usage))

    return per_call_us(once, n)


def throughput(texts: list[str], encoding_name: str | None) -> float:
    total_tokens = sum(count_text_tokens(t, encoding_name) for t in texts)
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for t in texts:
            count_text_tokens(t, encoding_name)
    return total_tokens * rounds / (time.perf_counter() - start)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part) for part in content)  # pyright: ignore[reportUnknownVariableType]
    if isinstance(content, dict):
        for key in ("text", "content", "input", "output"):
            if key in content:
                return _text_of(content[key])
        return json.dumps(content)
    return "" if content is None else json.dumps(content)


def call_of(exchange: Exchange) -> CallSpec:
    """The request as Stratum would see it: messages as text, tools/schema as the output schema."""
    body = exchange.request
    messages: list[Message] = []
    system = body.get("system") or body.get("instructions") or body.get("systemInstruction")
    if system:
        messages.append(Message("system", _text_of(system)))
    for m in body.get("messages") or body.get("contents") or []:
        role = "assistant" if m.get("role") in ("assistant", "model") else "user"
        parts = m.get("content", m.get("parts"))
        tool_calls = m.get("tool_calls")
        messages.append(Message(role, _text_of(parts) + (json.dumps(tool_calls) if tool_calls else "")))
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        messages.append(Message("user", raw_input))
    elif isinstance(raw_input, list):
        messages.extend(Message("user", _text_of(item)) for item in raw_input)  # pyright: ignore[reportUnknownVariableType]
    # What a structured-output or tool request adds (request options such as safety settings or
    # temperature are not billed as tokens and stay out).
    extras: dict[str, Any] = {}
    for key in ("tools", "response_format", "text", "output_config"):
        if key in body:
            extras[key] = body[key]
    config = body.get("generationConfig") or {}
    for key in ("responseSchema", "responseJsonSchema", "response_schema"):
        if key in config:
            extras[key] = config[key]
    return CallSpec(model=exchange.requested_model, messages=tuple(messages), output_schema=extras or None)


def estimator_errors() -> list[tuple[str, str, int, int, int, str]]:
    """Per exchange: the estimate a reservation starts from, and for OpenAI models (whose first
    estimate is the UTF-8 byte bound) also the exact count it is refined to when the bound does
    not fit."""
    root = cassette_root()
    rows: list[tuple[str, str, int, int, int, str]] = []
    for exchange in exchanges(root):
        if exchange.usage is None:
            continue
        name = exchange.file.rsplit("/", 1)[-1][:48] + f"#{exchange.index}"
        est = estimate(call_of(exchange), exchange.provider)
        counts = [(est, "bytes bound" if est.bound else "bytes/3" if est.approximate else "tiktoken")]
        if est.bound:
            counts.append((est.refined(), "tiktoken"))
        for each, method in counts:
            rows.append(
                (name, exchange.provider, exchange.usage.input_tokens, each.input_tokens, each.reserved_input_tokens, method)
            )
    return rows


def main() -> None:
    core = core_call_us()
    meter_openai = metering_us("openai", "gpt-4o")
    meter_tiered = metering_us("anthropic", "claude-sonnet-4-5")
    budget_openai = metering_us("openai", "gpt-4o", budget_only=True)
    budget_tiered = metering_us("anthropic", "claude-sonnet-4-5", budget_only=True)
    print("## Metering cost per call")
    print(f"{'what':<58}{'µs/call':>10}{'of core':>10}")
    print(f"{'core @infer call on ScriptedModel (baseline)':<58}{core:>10.1f}{'100%':>10}")
    for label, value in (
        ("resolve+estimate+reserve+cost+settle, openai:gpt-4o", meter_openai),
        ("same, anthropic:claude-sonnet-4-5 (tiered, bytes/3)", meter_tiered),
        ("reserve+cost+settle only (what a budget adds), gpt-4o", budget_openai),
        ("reserve+cost+settle only, claude-sonnet-4-5 (tiered)", budget_tiered),
    ):
        print(f"{label:<58}{value:>10.1f}{value / core:>10.1%}")

    root = cassette_root()
    texts = [m.content for e in exchanges(root) for m in call_of(e).messages if m.content]
    texts = texts or ["The customer wrote back about the late parcel and asked for a refund."] * 50
    print("\n## Estimator throughput (cassette request texts)")
    print(f"{'encoding':<20}{'Mtokens/s':>12}")
    for name in ("o200k_base", "cl100k_base", None):
        print(f"{name or 'bytes/3':<20}{throughput(texts, name) / 1e6:>12.2f}")

    rows = estimator_errors()
    print("\n## Estimator error vs recorded input tokens (real cassettes)")
    print(f"{'exchange':<52}{'prov':<10}{'actual':>7}{'est':>7}{'reserved':>9}{'est/act':>8}  method")
    ratios: dict[str, list[float]] = {}
    under = 0
    for name, provider, actual, est, reserved, key in rows:
        ratio = est / actual if actual else float("nan")
        ratios.setdefault(key, []).append(ratio)
        under += reserved < actual
        print(f"{name:<52}{provider:<10}{actual:>7}{est:>7}{reserved:>9}{ratio:>8.2f}  {key}")
    print(f"\n{'method':<12}{'n':>4}{'min':>7}{'median':>8}{'max':>7}")
    for key, values in ratios.items():
        print(f"{key:<12}{len(values):>4}{min(values):>7.2f}{statistics.median(values):>8.2f}{max(values):>7.2f}")
    print(f"reserved input below the recorded input: {under} of {len(rows)} estimates")


if __name__ == "__main__":
    main()
