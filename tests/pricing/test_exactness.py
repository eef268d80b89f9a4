"""A shared USD (or token) cap holds exactly under hundreds of concurrent calls.

The guarantee: when every provider honours `max_tokens` and reports no more input than the
reserved estimate (estimate × safety margin), the settled total of an envelope never exceeds
its limit; a call that cannot fit raises `BudgetExceeded` before anything is sent; every
reservation is returned, whether the call succeeds, fails at the provider, or is cancelled.
`ScriptedModel` clamps output to `max_tokens` like a real provider; the random input counts
below stay within the reserved estimate. `test_input_above_the_estimate_*` shows what happens
when a provider breaks the second assumption.

Each concurrency test runs twice: with a model of unknown tokenizer (bytes / 3) and with one
named `gpt-4o`, whose calls reserve the UTF-8 byte bound of their request first and count it
exactly only when that bound does not fit, so under a tight cap both kinds of reservation are
held at once.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stratum import (
    Budget,
    BudgetExceeded,
    Envelope,
    ParseFailure,
    ProviderError,
    Usage,
    current_budget,
    flow,
    infer,
    trace,
)
from stratum.pricing import Price, estimate
from stratum.testing import Reply, ScriptedModel, use_model

MAX_OUT = 400
HANG = 10**9  # ms: a reply that never arrives before it is cancelled


@infer(intent="Summarize the note in one line", retries=0, max_tokens=MAX_OUT)
def summarize(note: str) -> str: ...


MODELS = ("scripted", "gpt-4o")
"""Model names: no known tokenizer (bytes / 3), and o200k_base (byte bound, then exact)."""


def scripted(replies: list[Any], model_name: str, price: Price | None = None) -> ScriptedModel:
    model = ScriptedModel(replies, price=price)
    model.model_name = model_name
    return model


def reserved_input_tokens(model_name: str) -> int:
    """The smallest reserved input of one `summarize` call (same prompt every time): the bytes/3
    estimate, or for gpt-4o the exact count (a call reserves its byte bound, or this)."""
    model = scripted(["ok"], model_name)
    with use_model(model):
        anyio.run(lambda: summarize(note="the note"))
    trace.clear()
    return estimate(model.requests[0], "scripted").refined().reserved_input_tokens


RESERVED = {name: reserved_input_tokens(name) for name in MODELS}
RESERVED_IN = RESERVED["scripted"]


@dataclass
class Outcome:
    counts: Counter[str]
    sent: int
    hung_sent: int
    env: Envelope


async def run_concurrently(
    n: int, budget: Budget, replies: list[Any], price: Price, model_name: str = "scripted"
) -> Outcome:
    """`n` concurrent `summarize` calls under one flow budget; hung calls are cancelled at the end."""
    model = scripted(replies, model_name, price)
    counts: Counter[str] = Counter()
    seen: dict[str, Envelope] = {}

    def hung_sent() -> int:
        return sum(1 for i in range(len(model.requests)) if isinstance(replies[i], Reply) and replies[i].latency_ms == HANG)

    async def one() -> None:
        try:
            await summarize(note="the note")
        except BudgetExceeded:
            counts["budget"] += 1
        except ProviderError:
            counts["error"] += 1
        except ParseFailure:
            # the budget cut max_tokens so low the scripted answer was cut to nothing: an
            # empty answer at the output limit is a truncation, never an empty success
            counts["truncated"] += 1
        else:
            counts["ok"] += 1

    @flow(budget=budget)
    async def many() -> None:
        env = current_budget()
        assert env is not None
        seen["env"] = env
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(one)
            # Wait (polling, no timing assumption) until every call either finished or sits in a
            # hung reply, then cancel the hung ones mid-flight.
            while sum(counts.values()) + hung_sent() < n:
                await anyio.sleep(0.001)
            tg.cancel_scope.cancel()

    with use_model(model):
        await many()
    return Outcome(counts, len(model.requests), hung_sent(), seen["env"])


def make_replies(
    rng: random.Random, n: int, *, error_rate: float, hang_rate: float, reserved_in: int = RESERVED_IN
) -> list[Any]:
    replies: list[Any] = []
    for _ in range(n):
        roll = rng.random()
        read = rng.randint(0, reserved_in // 3)
        write = rng.randint(0, reserved_in // 3)
        total_in = rng.randint(read + write, reserved_in)  # never above the reserved estimate
        if roll < hang_rate:
            replies.append(Reply("late", usage=(total_in, 5), latency_ms=HANG))
        elif roll < hang_rate + error_rate:
            err = ProviderError("upstream 500 after partial generation; retry later", provider="scripted")
            # A failed response may still report usage; it is charged. Output stays within the
            # smallest cap a reservation grants (16 tokens).
            err.usage = Usage(total_in, rng.randint(0, 16), read, write)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
            replies.append(err)
        else:
            out = rng.randint(0, 3 * MAX_OUT)  # above max_tokens is clamped, as a provider would
            replies.append(Reply("ok", usage=Usage(total_in, out, read, write, rng.randint(0, out))))
    return replies


def check_exact(outcome: Outcome, n: int, *, usd: Decimal | None, tokens: int | None) -> None:
    env = outcome.env
    records = [r for r in trace.records() if r.function.endswith("summarize")]
    # Every reservation came back: successes, provider errors, budget refusals, cancellations.
    assert env.reserved_usd == 0 and env.reserved_tokens == 0
    # The settled total never passes the cap.
    if usd is not None:
        assert env.spent_usd <= usd
    if tokens is not None:
        assert env.spent_tokens <= tokens
    # Refused calls never reached the model: what was sent is exactly ok + errors + cancelled.
    c = outcome.counts
    assert outcome.sent == c["ok"] + c["error"] + c["truncated"] + outcome.hung_sent
    assert c["budget"] == n - outcome.sent
    statuses = Counter(r.status for r in records)
    assert statuses["cancelled"] == outcome.hung_sent
    assert statuses["ok"] == c["ok"] and statuses["failed"] == c["budget"] + c["error"] + c["truncated"]
    refused = [r for r in records if r.status == "failed" and r.error and r.error.startswith("BudgetExceeded")]
    assert len(refused) == c["budget"]
    assert all(r.input_tokens == 0 and r.attempt_records[-1].outcome == "budget" for r in refused)
    # The envelope's spend is exactly the sum of the recorded costs and tokens.
    assert env.spent_usd == sum((r.cost_usd or Decimal(0) for r in records), Decimal(0))
    assert env.spent_tokens == sum(r.input_tokens + r.output_tokens for r in records)


prices = st.builds(
    lambda i, o, cached: Price(Decimal(i) / 100, Decimal(o) / 100, None if cached is None else Decimal(cached) / 100),
    st.integers(1, 10_000),
    st.integers(1, 20_000),
    st.none() | st.integers(0, 100),
)


@pytest.mark.anyio
@pytest.mark.parametrize("model_name", MODELS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(50, 500),
    price=prices,
    calls_that_fit=st.floats(1, 300),
    error_rate=st.floats(0, 0.2),
    hang_rate=st.floats(0, 0.2),
    seed=st.integers(0, 2**32),
)
@example(n=500, price=Price("2.5", "10", "1.25"), calls_that_fit=120.0, error_rate=0.1, hang_rate=0.1, seed=1)
async def test_usd_cap_is_exact_under_concurrency(
    model_name: str, n: int, price: Price, calls_that_fit: float, error_rate: float, hang_rate: float, seed: int
) -> None:
    trace.clear()
    reserved_in = RESERVED[model_name]
    cap = (price.worst_case(reserved_in, MAX_OUT) * Decimal(str(calls_that_fit))).quantize(Decimal("1e-9"))
    cap = max(cap, Decimal("1e-9"))
    replies = make_replies(random.Random(seed), n, error_rate=error_rate, hang_rate=hang_rate, reserved_in=reserved_in)
    outcome = await run_concurrently(n, Budget(usd=cap), replies, price, model_name)
    check_exact(outcome, n, usd=cap, tokens=None)


@pytest.mark.anyio
@pytest.mark.parametrize("model_name", MODELS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(50, 500),
    calls_that_fit=st.floats(0, 300),
    error_rate=st.floats(0, 0.2),
    hang_rate=st.floats(0, 0.2),
    seed=st.integers(0, 2**32),
)
@example(n=500, calls_that_fit=100.0, error_rate=0.1, hang_rate=0.1, seed=2)
async def test_token_cap_is_exact_under_concurrency(
    model_name: str, n: int, calls_that_fit: float, error_rate: float, hang_rate: float, seed: int
) -> None:
    trace.clear()
    reserved_in = RESERVED[model_name]
    cap = max(int((reserved_in + MAX_OUT) * calls_that_fit), reserved_in + 16)
    replies = make_replies(random.Random(seed), n, error_rate=error_rate, hang_rate=hang_rate, reserved_in=reserved_in)
    outcome = await run_concurrently(n, Budget(tokens=cap), replies, Price(1, 1), model_name)
    check_exact(outcome, n, usd=None, tokens=cap)


@pytest.mark.anyio
@pytest.mark.parametrize("model_name", MODELS)
async def test_a_tight_cap_refuses_most_of_500_calls_before_sending(model_name: str) -> None:
    price = Price("3", "15")
    reserved_in = RESERVED[model_name]
    cap = price.worst_case(reserved_in, MAX_OUT) * 50
    replies = make_replies(random.Random(7), 500, error_rate=0.05, hang_rate=0.05, reserved_in=reserved_in)
    outcome = await run_concurrently(500, Budget(usd=cap), replies, price, model_name)
    check_exact(outcome, 500, usd=cap, tokens=None)
    assert outcome.counts["budget"] >= 400  # at most ~50 worst cases in flight at once
    assert outcome.sent >= 50
    if model_name == "gpt-4o":
        # the first calls held their byte bound; once it no longer fit, calls counted exactly
        held = {a.estimated_input_tokens for r in trace.records() for a in r.attempt_records} - {None}
        assert len(held) == 2


@pytest.mark.anyio
async def test_input_above_the_estimate_can_overshoot_once_then_nothing_more_is_sent() -> None:
    """A provider that reports more input than reserved breaks the precondition: the true cost is
    still charged (never hidden), the envelope may end above its limit by that call's excess
    input, and every later call is refused before sending."""
    price = Price("1", "1")
    cap = price.worst_case(RESERVED_IN, MAX_OUT) * 2  # room for two worst cases
    over = (RESERVED_IN + MAX_OUT) * 3  # one call reports more than the whole cap holds
    model = ScriptedModel([Reply("ok", usage=(over, MAX_OUT))] * 5, price=price)
    seen: dict[str, Envelope] = {}
    refused = 0

    @flow(budget=Budget(usd=cap))
    async def sequential() -> None:
        nonlocal refused
        env = current_budget()
        assert env is not None
        seen["env"] = env
        for _ in range(5):
            try:
                await summarize(note="the note")
            except BudgetExceeded:
                refused += 1

    with use_model(model):
        await sequential()
    env = seen["env"]
    # First call: reserved RESERVED_IN + 400 (fits twice), charged over + 400: above the cap.
    first = price.cost(Usage(over, MAX_OUT))
    assert len(model.requests) == 1 and refused == 4
    assert env.spent_usd == first > cap
    assert env.spent_usd - cap <= price.cost(Usage(over - RESERVED_IN, 0))  # bounded by the excess input
    assert env.reserved_usd == 0


@pytest.mark.anyio
async def test_the_estimate_is_recorded_next_to_the_provider_count() -> None:
    model = ScriptedModel([Reply("ok", usage=(123, 4))])
    with use_model(model):
        await summarize(note="the note")
    (record,) = trace.records()
    (attempt,) = record.attempt_records
    est = estimate(model.requests[0], "scripted")
    assert attempt.estimated_input_tokens == est.input_tokens
    assert attempt.input_tokens == 123
    assert est.approximate  # a scripted model has no known tokenizer
