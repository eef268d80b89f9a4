"""`configure()`: process defaults held in a ContextVar, never in a mutable module global.

A plain `configure(...)` call sets the defaults for the current context (and every task started
from it afterwards); `with configure(...):` restores the previous settings on exit.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextvars import Token
from dataclasses import dataclass, field, replace
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from stratum._runtime import context as _context
from stratum.exceptions import ConfigurationError

if TYPE_CHECKING:
    from stratum._runtime.model import Provider
    from stratum.ledger import RedisLedger
    from stratum.pricing import Price
    from stratum.trace import TraceSink

__all__ = ("Configured", "Settings", "configure", "current_settings")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True, weakref_slot=True)
class Settings:
    """The effective configuration: plain values, replaced (never mutated) by `configure`.

    State that lives longer than one configuration is kept by its owner: the in-memory trace
    store by `stratum.trace`, built-in provider instances by the provider registry.
    """

    default_model: str | Provider | None = None
    providers: Mapping[str, Provider] = field(default_factory=lambda: _EMPTY)
    prices: Mapping[str, Price] = field(default_factory=lambda: _EMPTY)
    trace_sinks: tuple[TraceSink, ...] = ()
    review_sink: Any = None
    test_mode: bool = False
    sample_n: int = 5
    prompt_cache: bool = False
    ledger: RedisLedger | None = None
    """Where budgets with `key=` and no `ledger=` keep their shared totals."""


@functools.cache
def _default_settings() -> Settings:
    """The settings in force before any `configure` call."""
    return Settings()


def current_settings() -> Settings:
    """The settings of the current context."""
    return _context.current_settings_or_none() or _default_settings()


class Configured:
    """What `configure` returns: use it as a context manager to restore the previous settings."""

    def __init__(self, token: Token[Settings | None], settings: Settings) -> None:
        self._token = token
        self.settings = settings

    def __enter__(self) -> Configured:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _context.settings_var().reset(self._token)


def configure(
    *,
    default_model: str | Provider | None = None,
    providers: Mapping[str, Provider] | None = None,
    prices: Mapping[str, Price] | None = None,
    trace_sinks: Sequence[TraceSink] | None = None,
    review_sink: Any = None,
    test_mode: bool | None = None,
    sample_n: int | None = None,
    prompt_cache: bool | None = None,
    ledger: str | RedisLedger | None = None,
) -> Configured:
    """Set defaults for every Stratum call made from this context.

    Arguments left as None keep their current value. `providers` and `prices` are merged into
    the current mappings; `trace_sinks` are added next to the in-memory sink, never replacing it.
    `ledger` (a `redis://host:port/db` URL or a `stratum.ledger.RedisLedger`) is where budgets
    declared with `key=` and no `ledger=` share their totals across processes.

    Example:
        ```python
        stratum.configure(default_model="openai:gpt-4.1-mini")
        with stratum.configure(prices={"ollama:*": Price(0, 0)}):
            ...
        ```

    `prompt_cache=True` marks the stable prompt prefix (intent, context, output schema) of every
    `@infer` without its own `prompt_cache=` as cacheable, for Anthropic's `cache_control`.

    Returns:
        A handle; `with configure(...):` restores the previous settings on exit.
    """
    if sample_n is not None and sample_n < 1:
        raise ConfigurationError(f"sample_n must be at least 1, got {sample_n}; pass sample_n=5 or more")
    current = current_settings()
    changes: dict[str, Any] = {}
    if default_model is not None:
        changes["default_model"] = default_model
    if providers is not None:
        for name in providers:
            if not name or ":" in name:
                raise ConfigurationError(
                    f"provider name {name!r} must be non-empty and contain no ':'; "
                    "it is the part before ':' in model strings like 'name:model'"
                )
        changes["providers"] = MappingProxyType({**current.providers, **providers})
    if prices is not None:
        from stratum.pricing import Price

        for key, value in prices.items():
            if not isinstance(value, Price):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigurationError(
                    f"prices[{key!r}] must be a stratum.pricing.Price, got {type(value).__name__}; "
                    "use Price(input_per_mtok=..., output_per_mtok=...)"
                )
        changes["prices"] = MappingProxyType({**current.prices, **prices})
    if trace_sinks is not None:
        changes["trace_sinks"] = (*current.trace_sinks, *trace_sinks)
    if review_sink is not None:
        changes["review_sink"] = review_sink
    if test_mode is not None:
        changes["test_mode"] = test_mode
    if sample_n is not None:
        changes["sample_n"] = sample_n
    if prompt_cache is not None:
        changes["prompt_cache"] = prompt_cache
    if ledger is not None:
        if isinstance(ledger, str):
            from stratum.ledger import RedisLedger

            ledger = RedisLedger(ledger)
        changes["ledger"] = ledger
    new = replace(current, **changes)
    token = _context.settings_var().set(new)
    return Configured(token, new)
