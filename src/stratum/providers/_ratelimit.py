"""Client-side rate limits: requests/min and tokens/min token buckets, a bounded queue, and the
provider's own `x-ratelimit-remaining-*` headers tightening them.

A limiter never holds an event-loop primitive: each request *reserves* its place in time
(GCRA-style: a bucket may go into debt, and the debt is the wait), then sleeps that long. So the
same provider object keeps one account-wide limit across event loops, a waiter that gives up
(deadline, cancellation) hands its place back, and a request that would have to wait past its
call's deadline fails at once instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stratum.exceptions import ConfigurationError, RateLimitError

__all__ = ("RateLimit", "Ticket", "parse_reset", "wait_turn")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT: Mapping[str, float] = MappingProxyType({"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0})


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until a rate-limit window resets, from a header value.

    OpenAI/Azure send durations (`"4ms"`, `"0s"`, `"1m30s"`, `"6m0.5s"`); Anthropic sends an
    RFC 3339 time (`"2026-04-05T10:39:17Z"`); a bare number is seconds. None when unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _int_header(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        raw = headers.get(name)
        if raw is not None:
            try:
                return int(float(raw))
            except ValueError:
                continue
    return None


class _Window:
    """What the provider last said about one quantity: `remaining` until `reset_at`."""

    __slots__ = ("remaining", "reset_at")

    def __init__(self) -> None:
        self.remaining: float | None = None
        self.reset_at = 0.0

    def tighten(self, remaining: int | None, reset: float | None, now: float) -> None:
        if remaining is None or remaining < 0:  # Azure has been seen sending -1: no information
            return
        self.remaining = float(remaining)
        self.reset_at = now + (reset if reset is not None else 1.0)

    def wait(self, amount: float, now: float) -> float:
        """How long `amount` must wait for this window, taking it from `remaining` if it fits."""
        if self.remaining is None or now >= self.reset_at:
            self.remaining = None
            return 0.0
        if self.remaining > 0 or amount <= 0:
            # a request larger than what is left still goes while something is left: the
            # provider, not our estimate, decides whether it fits
            self.remaining -= amount
            return 0.0
        return self.reset_at - now


@dataclass(frozen=True, slots=True)
class Ticket:
    """One request's place in the limiter: released or settled once."""

    tokens: int
    requests_taken: float
    tokens_taken: float


class RateLimit:
    """A per-provider client-side rate limit, next to `max_concurrency`.

    `requests_per_minute` and `tokens_per_minute` are token buckets (a full minute's worth may
    go at once, then the rate holds). Tokens are estimated before sending (request bytes / 4,
    plus the call's `max_tokens`) and corrected by the usage the reply reports. Every fault
    retry is a request too. The provider's own headers (`x-ratelimit-remaining-requests`,
    `x-ratelimit-remaining-tokens` and their `x-ratelimit-reset-*`, or Anthropic's
    `anthropic-ratelimit-*`) tighten the limit until their reset time, so a `RateLimit()`
    without numbers just follows what the provider says.

    Waiting counts against the call's deadline: a request that would have to wait past it
    raises `BudgetExceeded(axis="ms")` at once. At most `max_queue` requests wait at a time;
    one more raises `RateLimitError` without being sent.

    Example:
        ```python
        from stratum.providers import OpenAI, RateLimit

        stratum.configure(providers={"openai": OpenAI(rate_limit=RateLimit(requests_per_minute=500,
                                                                          tokens_per_minute=200_000))})
        ```

    Args:
        requests_per_minute: requests allowed per minute, or None for no request limit.
        tokens_per_minute: input + output tokens allowed per minute, or None.
        max_queue: requests that may wait at once before the next one is refused.
        follow_headers: tighten the limit with the provider's rate-limit headers.
        clock: a `() -> seconds` monotonic clock (tests pass a fake; default `time.monotonic`).
    """

    __slots__ = (
        "_clock",
        "_req_level",
        "_req_windows",
        "_stamp",
        "_tok_level",
        "_tok_windows",
        "follow_headers",
        "max_queue",
        "requests_per_minute",
        "tokens_per_minute",
        "waiting",
    )

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        max_queue: int = 1000,
        follow_headers: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise ConfigurationError(f"{label} must be above 0, got {value!r}; pass None for no limit")
        if max_queue < 0:
            raise ConfigurationError(f"max_queue must be 0 or more, got {max_queue}; pass max_queue=1000")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_queue = max_queue
        self.follow_headers = follow_headers
        self.waiting = 0
        """Requests waiting for their turn right now."""
        self._clock: Callable[[], float] = clock or time.monotonic
        self._stamp = self._now()
        self._req_level = float(requests_per_minute or 0)
        self._tok_level = float(tokens_per_minute or 0)
        self._req_windows = _Window()
        self._tok_windows = _Window()

    def __repr__(self) -> str:
        return (
            f"RateLimit(requests_per_minute={self.requests_per_minute!r}, "
            f"tokens_per_minute={self.tokens_per_minute!r}, max_queue={self.max_queue!r})"
        )

    def _now(self) -> float:
        return self._clock()

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._stamp, 0.0)
        self._stamp = now
        if self.requests_per_minute is not None:
            self._req_level = min(self._req_level + elapsed * self.requests_per_minute / 60, self.requests_per_minute)
        if self.tokens_per_minute is not None:
            self._tok_level = min(self._tok_level + elapsed * self.tokens_per_minute / 60, self.tokens_per_minute)

    def reserve(self, tokens: int) -> tuple[Ticket, float]:
        """Take one request and `tokens` tokens; return the ticket and how long to wait first."""
        now = self._now()
        self._refill(now)
        wait = 0.0
        req_taken = tok_taken = 0.0
        if self.requests_per_minute is not None:
            self._req_level -= 1
            req_taken = 1.0
            if self._req_level < 0:
                wait = -self._req_level * 60 / self.requests_per_minute
        if self.tokens_per_minute is not None:
            # a request larger than the whole bucket could never go: it waits for a full bucket
            taken = float(min(tokens, self.tokens_per_minute))
            self._tok_level -= taken
            tok_taken = taken
            if self._tok_level < 0:
                wait = max(wait, -self._tok_level * 60 / self.tokens_per_minute)
        if self.follow_headers:
            wait = max(wait, self._req_windows.wait(1, now + wait), self._tok_windows.wait(tokens, now + wait))
        return Ticket(tokens, req_taken, tok_taken), wait

    def release(self, ticket: Ticket) -> None:
        """Give back a reservation that was never sent (deadline, cancellation, full queue)."""
        if self.requests_per_minute is not None:
            self._req_level = min(self._req_level + ticket.requests_taken, self.requests_per_minute)
        if self.tokens_per_minute is not None:
            self._tok_level = min(self._tok_level + ticket.tokens_taken, self.tokens_per_minute)

    def settle(self, ticket: Ticket, used_tokens: int | None, headers: Mapping[str, str] | None) -> None:
        """Correct the token estimate with the reported usage, and read the provider's headers."""
        if used_tokens is not None and self.tokens_per_minute is not None:
            self._tok_level = min(self._tok_level + ticket.tokens - used_tokens, self.tokens_per_minute)
        if headers is not None and self.follow_headers:
            self.observe(headers)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Tighten the limit with a response's rate-limit headers (OpenAI/Azure and Anthropic)."""
        now = self._now()
        requests = _int_header(headers, "x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining")
        if requests is not None:
            reset = parse_reset(
                headers.get("x-ratelimit-reset-requests") or headers.get("anthropic-ratelimit-requests-reset")
            )
            self._req_windows.tighten(requests, reset, now)
        tokens = _int_header(headers, "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining")
        if tokens is not None:
            reset = parse_reset(headers.get("x-ratelimit-reset-tokens") or headers.get("anthropic-ratelimit-tokens-reset"))
            self._tok_windows.tighten(tokens, reset, now)


async def wait_turn(
    limit: RateLimit,
    tokens: int,
    *,
    time_left: float | None,
    sleep: Callable[[float], Awaitable[None]],
    past_deadline: Callable[[float], BaseException],
    provider: str,
    model: str,
) -> Ticket:
    """Wait for this request's turn under `limit`; the ticket is settled after the reply.

    Raises:
        BudgetExceeded: (built by `past_deadline(wait)`) the turn comes after the deadline.
        RateLimitError: `limit.max_queue` requests are already waiting; nothing was sent.
    """
    ticket, wait = limit.reserve(tokens)
    if wait <= 0:
        return ticket
    if time_left is not None and wait >= time_left:
        limit.release(ticket)
        raise past_deadline(wait)
    if limit.waiting >= limit.max_queue:
        limit.release(ticket)
        raise RateLimitError(
            f"{provider} ({model}): the client-side rate limit queue is full ({limit.waiting} requests "
            f"waiting, the next turn in {wait:.2f} s); the request was not sent. Lower concurrency, raise "
            "RateLimit(max_queue=...), or raise the limit if your account allows it",
            status_code=429,
            provider=provider,
            model=model,
            retry_after=wait,
        )
    limit.waiting += 1
    try:
        await sleep(wait)
    except BaseException:
        limit.release(ticket)
        raise
    finally:
        limit.waiting -= 1
    return ticket
