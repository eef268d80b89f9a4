"""`Budget(ledger=..., key=...)`: one envelope for many flows and processes, on a real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

import stratum
from stratum import Budget, BudgetEvent, Failure, Success, contract, current_budget, flow, infer, parallel
from stratum.exceptions import BudgetExceeded, ConfigurationError
from stratum.ledger import RedisLedger
from stratum.pricing import Price, estimate
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PRICE = Price(input_per_mtok=1, output_per_mtok=4)  # 100 in + 20 out = $0.00018 per call


@contract
class Answer:
    text: str


@infer("Answer briefly", max_tokens=100, retries=0)
def answer(q: str) -> Answer: ...


def model(n: int, latency_ms: float = 0) -> ScriptedModel:
    return ScriptedModel([{"text": "ok"}] * n, usage=(100, 20), price=PRICE, latency_ms=latency_ms)


async def test_concurrent_calls_in_two_flows_never_pass_the_shared_cap(redis_url: str, key: str, store: MemorySink) -> None:
    ledger = RedisLedger(redis_url)
    budget = Budget(usd="0.005", ledger=ledger, key=key)

    @flow(budget=budget)
    async def job() -> list[Success[Answer] | Failure]:
        return await parallel(*(answer(q=f"q{i}") for i in range(30)), require=0)

    with use_model(model(60, latency_ms=5)):
        first, second = await asyncio.gather(job(), job())
    results = [*first, *second]
    ok = [r for r in results if r.ok]
    refused = [r for r in results if isinstance(r, Failure) and isinstance(r.error, BudgetExceeded)]
    assert len(ok) + len(refused) == 60 and ok and refused
    state = await ledger.state(key)
    spent = sum(r.cost_usd or 0 for r in store.records())
    assert state.spent_usd == spent == Decimal("0.00018") * len(ok)
    assert state.spent_usd <= Decimal("0.005")
    assert (state.reserved_usd, state.reserved_tokens, state.open_reservations) == (0, 0, 0)
    flows = stratum.trace.flows()
    assert sum(f.spent_usd or 0 for f in flows) == spent  # each run's record shows its own share
    await ledger.aclose()


async def test_processes_share_one_envelope(redis_url: str, key: str) -> None:
    """Three real processes draw from one envelope: the total stops at the cap."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from stratum import Budget, contract, flow, infer, parallel
        from stratum.pricing import Price, estimate
        from stratum.testing import Reply, ScriptedModel, use_model

        @contract
        class Answer:
            text: str

        @infer("Answer briefly", max_tokens=100, retries=0)
        def answer(q: str) -> Answer: ...

        @flow(budget=Budget(usd="0.004", ledger={redis_url!r}, key={key!r}))
        async def job():
            return await parallel(*(answer(q=str(i)) for i in range(20)), require=0)

        async def main():
            with use_model(ScriptedModel([{{"text": "ok"}}] * 20, usage=(100, 20), price=Price(1, 4), latency_ms=2)):
                results = await job()
            print(sum(1 for r in results if r.ok))

        asyncio.run(main())
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
        for _ in range(3)
    ]
    admitted = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ledger = RedisLedger(redis_url)
    state = await ledger.state(key)
    assert state.spent_usd == Decimal("0.00018") * sum(admitted)
    # Refusals come from worst-case holds of calls in flight in any process, so the total stops
    # at or below the cap, never above it.
    assert 0 < state.spent_usd <= Decimal("0.004")
    assert sum(admitted) < 60 and state.open_reservations == 0
    await ledger.aclose()


async def test_thresholds_fire_once_per_envelope(redis_url: str, key: str) -> None:
    events: list[BudgetEvent] = []
    budget = Budget(usd="0.001", ledger=redis_url, key=key, thresholds=(0.5, 0.8), on_threshold=events.append)

    @flow(budget=budget)
    async def job(n: int) -> None:
        for i in range(n):
            await answer(q=str(i))
        env = current_budget()
        assert env is not None and env.remaining_usd is not None

    with use_model(model(5)):
        await job(2)  # 0.00036: under half
        await job(3)  # 0.00090: crosses 0.5 and 0.8, once each
    assert [(e.axis, e.threshold) for e in events] == [("usd", 0.5), ("usd", 0.8)]
    assert events[0].spent == Decimal("0.00054") and events[0].limit == Decimal("0.001")
    record_events = [e for r in stratum.trace.records() for e in r.budget_events]
    assert record_events == events


async def test_configure_ledger_and_clear_errors(redis_url: str, key: str) -> None:
    with stratum.configure(ledger=redis_url), use_model(model(1)):

        @flow(budget=Budget(tokens=1000, key=key))
        async def job() -> Answer:
            return await answer(q="x")

        assert (await job()).text == "ok"
    state = await RedisLedger(redis_url).state(key)
    assert (state.spent_tokens, state.limit_tokens) == (120, 1000)

    @flow(budget=Budget(tokens=1000, key=key + "-nowhere"))
    async def orphan() -> Answer:
        return await answer(q="x")

    with pytest.raises(ConfigurationError, match="no ledger is set"):
        await orphan()
    with pytest.raises(ValueError, match="needs key="):
        Budget(usd=1, ledger=redis_url)
    with pytest.raises(ValueError, match="needs a usd or tokens limit"):
        Budget(ms=1000, ledger=redis_url, key=key)
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        Budget(usd=1, ledger="postgres://x", key=key)


async def test_a_cancelled_call_gives_its_shared_hold_back(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)

    @flow(budget=Budget(usd="1", ledger=ledger, key=key))
    async def job() -> None:
        with anyio.move_on_after(0.2):
            await answer(q="slow")

    with use_model(model(1, latency_ms=5_000)):
        await job()
    state = await ledger.state(key)
    assert (state.open_reservations, state.reserved_usd, state.spent_usd) == (0, 0, 0)
    assert stratum.trace.records()[-1].status == "cancelled"
    await ledger.aclose()


async def test_a_call_budget_can_be_shared_inside_a_local_flow(redis_url: str, key: str) -> None:
    @infer("Answer briefly", max_tokens=4000, retries=0, budget=Budget(usd="0.01", ledger=redis_url, key=key))
    def shared_answer(q: str) -> Answer: ...

    @flow(budget=Budget(usd="1"))
    async def job() -> Answer:
        return await shared_answer(q="x")

    with use_model(model(1)):
        assert (await job()).text == "ok"
    first = stratum.trace.records()[-1].attempt_records[0]
    # 4000 output tokens at $4/Mtok would pass the shared $0.01: the ledger lowered the cap
    assert first.max_tokens is not None and 2400 < first.max_tokens < 2500
    state = await RedisLedger(redis_url).state(key)
    assert state.spent_usd == Decimal("0.00018") and state.open_reservations == 0


async def test_the_ledger_lowers_the_output_cap_to_what_is_left(redis_url: str, key: str) -> None:
    # $0.0005 left: 100 input tokens (~$0.0001) leave room for ~100 output tokens at $4/Mtok
    @flow(budget=Budget(usd="0.0005", ledger=redis_url, key=key))
    async def job() -> Answer:
        return await answer_long(q="x")

    @infer("Answer", max_tokens=4000, retries=0)
    def answer_long(q: str) -> Answer: ...

    with use_model(model(1)):
        await job()
    attempt = stratum.trace.records()[-1].attempt_records[0]
    assert attempt.max_tokens is not None and 16 <= attempt.max_tokens < 125


LONG_Q = (
    "Our order arrived late, one box was crushed, and the support line kept us waiting for forty "
    "minutes; what should we ask for, a refund or a replacement, and how should we phrase it?"
)


@pytest.mark.parametrize("ledger_would", ["refuse", "lower the cap"])
async def test_the_ledger_gets_the_exact_count_when_the_byte_bound_does_not_fit(
    redis_url: str, key: str, ledger_would: str
) -> None:
    """An OpenAI model's request is reserved from its UTF-8 byte bound. Another run has already
    spent most of the shared envelope: locally the bound fits, in the ledger it would be refused
    or have its cap lowered; the exact count is reserved there instead and the call keeps its cap."""
    probe = ScriptedModel([{"text": "ok"}])
    probe.model_name = "gpt-4o"
    with use_model(probe):
        await answer(q=LONG_Q)
    bound = estimate(probe.requests[0], "scripted")
    exact = bound.refined()
    assert bound.bound and not exact.bound
    short = -(-(bound.reserved_input_tokens - exact.reserved_input_tokens) * 1 // 4)  # output tokens at $4 vs $1
    assert short > 16
    max_tokens = short if ledger_would == "refuse" else short + 100

    @infer("Answer briefly", max_tokens=max_tokens, retries=0)
    def ask(q: str) -> Answer: ...

    first_cost = PRICE.worst_case(bound.reserved_input_tokens, max_tokens)  # the first call spends its worst case
    cap = first_cost + PRICE.worst_case(exact.reserved_input_tokens, max_tokens)
    ledger = RedisLedger(redis_url)

    @flow(budget=Budget(usd=cap, ledger=ledger, key=key))
    async def job() -> Answer:
        return await ask(q=LONG_Q)

    model = ScriptedModel(
        [Reply({"text": "ok"}, usage=(bound.reserved_input_tokens, max_tokens)), Reply({"text": "ok"}, usage=(10, 5))],
        price=PRICE,
    )
    model.model_name = "gpt-4o"
    with use_model(model):
        await job()  # one run (a process, say) spends its worst case
        assert (await job()).text == "ok"  # the next run: its own local envelope is empty
    assert [r.max_tokens for r in model.requests] == [max_tokens, max_tokens]
    first, second = (r.attempt_records[0] for r in stratum.trace.records()[-2:])
    assert first.estimated_input_tokens == bound.input_tokens
    assert second.estimated_input_tokens == exact.input_tokens and second.max_tokens == max_tokens
    state = await ledger.state(key)
    assert state.spent_usd == first_cost + PRICE.cost(stratum.Usage(10, 5)) <= cap
    assert (state.reserved_usd, state.reserved_tokens, state.open_reservations) == (0, 0, 0)
    await ledger.aclose()


async def test_batch_items_reserve_in_the_shared_envelope(redis_url: str, key: str) -> None:
    @flow(budget=Budget(usd="0.0009", ledger=redis_url, key=key))
    async def job() -> list[Success[Answer] | Failure]:
        return await answer.batch([{"q": str(i)} for i in range(10)])

    with use_model(model(10)):
        results = await job()
    assert 0 < sum(r.ok for r in results) < 10
    state = await RedisLedger(redis_url).state(key)
    assert state.spent_usd <= Decimal("0.0009") and state.open_reservations == 0


def test_trio_is_refused_clearly(redis_url: str, key: str) -> None:
    @flow(budget=Budget(usd="1", ledger=redis_url, key=key))
    async def job() -> Answer:
        return await answer(q="x")

    async def main() -> None:
        with use_model(model(1)):
            await job()

    with pytest.raises(ConfigurationError, match="needs an asyncio event loop"):
        anyio.run(main, backend="trio")


async def test_streaming_under_a_shared_budget_is_refused_clearly(redis_url: str, key: str) -> None:
    @flow(budget=Budget(usd="1", ledger=redis_url, key=key))
    async def job() -> None:
        async with answer.stream(q="x") as s:
            await s.result()

    with use_model(model(1)), pytest.raises(ConfigurationError, match="streaming under a shared budget"):
        await job()
