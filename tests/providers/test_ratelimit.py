"""Client-side rate limits: token buckets, the bounded queue, the deadline, provider headers."""

from __future__ import annotations

import time

import anyio
import httpx2
import pytest
from _provider_helpers import SECRET, Server, call, chat_ok

from stratum.exceptions import BudgetExceeded, ConfigurationError, RateLimitError
from stratum.providers import OpenAI, RateLimit
from stratum.providers._ratelimit import parse_reset

pytestmark = pytest.mark.anyio


class Clock:
    """A fake monotonic clock, and a `sleep` that advances it (records each wait)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def provider(server: Server, clock: Clock, limit: RateLimit, **kwargs: object) -> OpenAI:
    return OpenAI(api_key=SECRET, http_client=server.client(), sleep=clock.sleep, jitter=lambda: 0.0, rate_limit=limit, **kwargs)  # type: ignore[arg-type]


def test_parse_reset_reads_durations_dates_and_seconds() -> None:
    assert parse_reset("4ms") == pytest.approx(0.004)
    assert parse_reset("1m30s") == 90.0
    assert parse_reset("6m0.5s") == 360.5
    assert parse_reset("0s") == 0.0
    assert parse_reset("2.5") == 2.5
    assert parse_reset("2026-04-05T10:39:17Z", now=1775385557.0 - 3) == pytest.approx(3.0)
    assert parse_reset("soon") is None and parse_reset(None) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"requests_per_minute": 0}, {"tokens_per_minute": -5}, {"max_queue": -1}],
    ids=["zero-rpm", "negative-tpm", "negative-queue"],
)
def test_bad_limits_are_configuration_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="must be"):
        RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_requests_per_minute_lets_a_burst_through_then_holds_the_rate() -> None:
    clock = Clock()
    server = Server(chat_ok())
    openai = provider(server, clock, RateLimit(requests_per_minute=2, clock=clock))
    for _ in range(4):
        await openai.complete(call())
    # two go at once (a full bucket), then one every 30 s
    assert clock.waits == [30.0, 30.0]
    assert len(server.requests) == 4


async def test_tokens_per_minute_uses_the_estimate_then_the_reported_usage() -> None:
    clock = Clock()
    server = Server(chat_ok(usage={"prompt_tokens": 50, "completion_tokens": 10}))
    limit = RateLimit(tokens_per_minute=600, clock=clock)
    openai = provider(server, clock, limit)
    await openai.complete(call(max_tokens=500))  # estimate: body/4 + 500 (> what was used)
    assert clock.waits == []
    # settled with the reported 60 tokens: 540 left, so a 500-token reservation still fits
    await openai.complete(call(max_tokens=500))
    assert clock.waits == []
    # now the bucket is short: the third waits for the refill (10 tokens per second)
    await openai.complete(call(max_tokens=500))
    assert len(clock.waits) == 1 and 0 < clock.waits[0] < 60


async def test_a_turn_past_the_deadline_raises_budget_exceeded_at_once_and_gives_the_place_back() -> None:
    clock = Clock()
    server = Server(chat_ok())
    limit = RateLimit(requests_per_minute=1, clock=clock)
    openai = provider(server, clock, limit)
    await openai.complete(call())
    with pytest.raises(BudgetExceeded, match="rate limit") as info:
        await openai.complete(call(timeout=5.0))
    assert info.value.axis == "ms" and clock.waits == []  # not slept
    assert len(server.requests) == 1
    # the refused request did not keep its place: after 60 s the next one goes at once
    clock.now += 60
    await openai.complete(call())
    assert clock.waits == [] and len(server.requests) == 2


async def test_the_queue_is_bounded() -> None:
    limit = RateLimit(requests_per_minute=1, max_queue=1)
    server = Server(chat_ok())
    openai = OpenAI(api_key=SECRET, http_client=server.client(), rate_limit=limit)
    await openai.complete(call())  # takes the only token
    errors: list[BaseException] = []

    async def waiter() -> None:
        try:
            await openai.complete(call())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
            raise

    with anyio.move_on_after(0.5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)  # waits ~60 s for its turn: the queue is now full
            await anyio.sleep(0.05)
            assert limit.waiting == 1
            with pytest.raises(RateLimitError, match="queue is full") as info:
                await openai.complete(call())
            assert info.value.retry_after is not None and info.value.retry_after > 0
            tg.cancel_scope.cancel()
    assert limit.waiting == 0  # the cancelled waiter left the queue
    assert len(server.requests) == 1


async def test_provider_headers_tighten_the_limit_until_their_reset() -> None:
    clock = Clock()
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30s"}
    server = Server(chat_ok(headers=headers), chat_ok())
    openai = provider(server, clock, RateLimit(clock=clock))  # no numbers: follow the headers only
    await openai.complete(call())
    await openai.complete(call())
    assert clock.waits == [90.0]


async def test_anthropic_style_headers_and_remaining_tokens_are_read() -> None:
    clock = Clock()
    limit = RateLimit(clock=clock)
    limit.observe({"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2.0"})
    _, wait = limit.reserve(100)
    assert wait == 2.0
    clock.now += 2.0
    _, wait = limit.reserve(100)
    assert wait == 0.0


async def test_negative_remaining_as_azure_sends_is_ignored() -> None:
    clock = Clock()
    limit = RateLimit(clock=clock)
    limit.observe({"x-ratelimit-remaining-requests": "-1", "x-ratelimit-remaining-tokens": "0"})
    assert limit.reserve(0)[1] == 0.0  # 0 tokens needed always fits


async def test_fault_retries_take_their_own_turn() -> None:
    clock = Clock()
    server = Server(httpx2.Response(500, json={"error": {"message": "boom"}}), chat_ok())
    openai = provider(server, clock, RateLimit(requests_per_minute=1, clock=clock))
    await openai.complete(call())
    # the retry waited for its request token (60 s minus the 0.5 s backoff already slept)
    assert clock.waits == [0.5, 59.5]


async def test_waiting_uses_real_time_against_the_deadline() -> None:
    limit = RateLimit(requests_per_minute=600)  # one every 0.1 s once the burst is spent
    server = Server(chat_ok())
    openai = OpenAI(api_key=SECRET, http_client=server.client(), rate_limit=limit)
    started = time.monotonic()
    for _ in range(603):
        await openai.complete(call(timeout=5.0))
    assert time.monotonic() - started >= 0.25
