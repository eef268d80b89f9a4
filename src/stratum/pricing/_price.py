"""`Price`: USD per million tokens, and what a `Usage` costs at that price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stratum._runtime.model import Usage

__all__ = ("Price", "to_decimal")

_MILLION = Decimal(1_000_000)


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Convert a money amount to `Decimal` without binary float noise (`0.1` stays `0.1`)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


@dataclass(frozen=True, slots=True, init=False)
class Price:
    """A model's price in USD per million tokens.

    `cached_input_per_mtok` prices cache reads and `cache_write_per_mtok` cache writes; when
    they are None those tokens are priced as ordinary input.

    Example:
        ```python
        Price(input_per_mtok="0.40", output_per_mtok="1.60", cached_input_per_mtok="0.10")
        ```
    """

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None

    def __init__(
        self,
        input_per_mtok: Decimal | float | int | str,
        output_per_mtok: Decimal | float | int | str,
        cached_input_per_mtok: Decimal | float | int | str | None = None,
        cache_write_per_mtok: Decimal | float | int | str | None = None,
    ) -> None:
        values = (input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok)
        converted = [None if v is None else to_decimal(v) for v in values]
        if any(v is not None and (v < 0 or not v.is_finite()) for v in converted):
            raise ValueError(
                f"prices must be finite and non-negative, got {values!r}; "
                "pass USD per million tokens, e.g. Price(input_per_mtok='0.40', output_per_mtok='1.60')"
            )
        object.__setattr__(self, "input_per_mtok", converted[0])
        object.__setattr__(self, "output_per_mtok", converted[1])
        object.__setattr__(self, "cached_input_per_mtok", converted[2])
        object.__setattr__(self, "cache_write_per_mtok", converted[3])

    @property
    def max_input_per_mtok(self) -> Decimal:
        """The dearest way an input token can be billed (for worst-case reservations)."""
        rate = self.input_per_mtok
        write, read = self.cache_write_per_mtok, self.cached_input_per_mtok
        if write is not None and write > rate:
            rate = write
        if read is not None and read > rate:
            rate = read
        return rate

    def cost(self, usage: Usage) -> Decimal:
        """USD cost of `usage` (input includes cache reads and writes, priced at their rates)."""
        cached = usage.cached_input_tokens
        written = usage.cache_write_tokens
        total = usage.output_tokens * self.output_per_mtok
        if cached or written:
            cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
            write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
            total += cached * cached_rate + written * write_rate
        total += max(usage.input_tokens - cached - written, 0) * self.input_per_mtok
        return total / _MILLION

    def cache_savings(self, usage: Usage) -> Decimal | None:
        """What prompt caching saved on `usage` against paying full input price for every token.

        Cache reads save `input − cached input` per token; cache writes cost `cache write −
        input` extra per token (Anthropic's 1.25×), so the saving can be negative on a call
        that only wrote the cache. None when `usage` read and wrote nothing from a cache.
        """
        cached = usage.cached_input_tokens
        written = usage.cache_write_tokens
        if not cached and not written:
            return None
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        saved = cached * (self.input_per_mtok - cached_rate) - written * (write_rate - self.input_per_mtok)
        return saved / _MILLION

    def worst_case(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The most `input_tokens` in and `output_tokens` out could cost."""
        return (input_tokens * self.max_input_per_mtok + output_tokens * self.output_per_mtok) / _MILLION

    def output_tokens_for(self, usd: Decimal, input_tokens: int) -> int | None:
        """How many output tokens `usd` pays for after `input_tokens` (None: unbounded, free output)."""
        left = usd * _MILLION - input_tokens * self.max_input_per_mtok
        if self.output_per_mtok == 0:
            return None if left >= 0 else 0
        return max(int(left / self.output_per_mtok), 0)


FREE = Price(0, 0)
"""A price of zero (test models and declared-free local models)."""
