"""Exponential backoff and server retry hints: one rule for provider calls and trace exports.

The delay before retry `n` (0-based) is `initial * 2**n`, capped at `maximum`, minus up to
`spread` of itself as jitter (the Stainless SDKs' rule: 0.5 s doubling to 8 s, minus up to 25 %),
so a burst of failures does not come back in lock-step.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping

__all__ = ("Backoff", "retry_after_seconds")


class Backoff:
    """Delays for successive retries.

    Args:
        initial: the first delay, in seconds.
        maximum: no delay is longer than this.
        spread: the largest fraction of a delay taken off as jitter (0 for none).
        jitter: a `() -> float in [0, 1)` (default: no jitter when None).
    """

    __slots__ = ("initial", "jitter", "maximum", "spread")

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        spread: float = 0.25,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.spread = spread
        self.jitter = jitter

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        base = min(self.initial * 2.0 ** min(retry, 64), self.maximum)
        if self.jitter is None or not self.spread:
            return base
        return base * (1 - self.spread * self.jitter())


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's retry hint in seconds: `retry-after-ms`, `retry-after` seconds or HTTP date.

    None when there is no usable hint; negative or past values count as 0.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
        except ValueError:
            pass
        else:
            if value == value and value != float("inf"):  # not NaN or infinite
                return max(value, 0.0)
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(email.utils.mktime_tz(parsed) - (time.time() if now is None else now), 0.0)
    if value != value or value == float("inf"):
        return None
    return max(value, 0.0)
