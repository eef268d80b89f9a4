"""Price lookup in the bundled catalog (genai-prices).

Every price comes from the snapshot that ships inside the installed `genai-prices` package: no
network, no background update. A newer snapshot arrives with `pip install -U genai-prices`;
a price the snapshot lacks (or that you negotiated) is set with `configure(prices=...)`.

A catalog row is returned as a `CatalogPrice`, a `Price` whose flat fields show the base rates
and whose methods stay exact where a flat row cannot be: `cost()` gives genai-prices' own figure
(tiers by prompt size, per-request fees, reasoning rates), and the reservation methods use the
dearest rate that can apply to the reserved input, so a reservation is never below the cost.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from stratum._runtime.model import Usage
from stratum._util.model_strings import is_local
from stratum.pricing._price import Price

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, TieredPrices
    from genai_prices.types import Provider as CatalogProvider

__all__ = (
    "CatalogPrice",
    "SnapshotInfo",
    "catalog_price",
    "guess_provider",
    "snapshot_info",
)

_MILLION = Decimal(1_000_000)

# genai-prices price keys, grouped by what our normalized `Usage` can report. Anything else a
# row prices (audio, images, web searches...) never appears in a Stratum usage.
# Cache writes with a one-hour lifetime (`Usage.cache_write_1h_tokens`) are priced at
# `cache_write_1h_mtok` where a row has it, so that rate is part of the ceiling too.
_INPUT_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")
_OUTPUT_KEYS = ("output_mtok", "output_reasoning_mtok")


@dataclass(frozen=True, slots=True)
class _Rate:
    """One genai-prices rate: a flat price, or a base with prompt-size tiers (`start` tokens)."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def dearest_for(self, input_tokens: int) -> Decimal:
        """The dearest rate that can apply when the prompt has at most `input_tokens` tokens.

        genai-prices applies a tier when the total input is *above* its start, to every token.
        """
        if not self.tiers:
            return self.base
        return max([self.base, *(price for start, price in self.tiers if input_tokens > start)])


def _rate(value: Decimal | TieredPrices | None) -> _Rate | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return _Rate(value)
    return _Rate(value.base, tuple((tier.start, tier.price) for tier in value.tiers))


def _rates(model_price: ModelPrice, keys: tuple[str, ...]) -> tuple[_Rate, ...]:
    found = (_rate(getattr(model_price, key, None)) for key in keys)
    return tuple(r for r in found if r is not None)


@dataclass(frozen=True, slots=True, init=False)
class CatalogPrice(Price):
    """A genai-prices catalog row for one model at one provider.

    The flat fields are the base rates (what `stratum pricing MODEL` prints). `cost` delegates to
    genai-prices when the row has more than a flat table can say; `worst_case` and
    `output_tokens_for` price every input token at the dearest applicable input-side rate
    (input, cache write, cache read, at the tier the reserved prompt size can reach) and every
    output token at the dearest output-side rate, plus any per-request fee.

    Attributes:
        provider_id: the genai-prices provider id (`"openai"`, `"google"`...).
        model_id: the genai-prices model id the model string resolved to.
        tiered: True when some rate depends on the prompt size.
        request_fee: USD charged per request on top of tokens (usually 0).
    """

    provider_id: str
    model_id: str
    tiered: bool
    request_fee: Decimal
    _input_rates: tuple[_Rate, ...] = field(repr=False, compare=False)
    _output_rates: tuple[_Rate, ...] = field(repr=False, compare=False)
    _exact_flat: bool = field(repr=False, compare=False)
    _own_rates: dict[str, _Rate] | None = field(repr=False, compare=False)
    _flat_max: tuple[Decimal, Decimal] = field(repr=False, compare=False)
    _info: ModelInfo = field(repr=False, compare=False)
    _provider: CatalogProvider = field(repr=False, compare=False)

    def __init__(
        self,
        base: Price,
        *,
        provider: CatalogProvider,
        info: ModelInfo,
        model_price: ModelPrice,
        ceiling_prices: tuple[ModelPrice, ...],
    ) -> None:
        Price.__init__(
            self,
            base.input_per_mtok,
            base.output_per_mtok,
            base.cached_input_per_mtok,
            base.cache_write_per_mtok,
        )
        input_rates = tuple(r for mp in ceiling_prices for r in _rates(mp, _INPUT_KEYS))
        output_rates = tuple(r for mp in ceiling_prices for r in _rates(mp, _OUTPUT_KEYS))
        fees = [getattr(mp, "requests_kcount", None) for mp in ceiling_prices]
        fee = max((f.base if not isinstance(f, Decimal) else f for f in fees if f is not None), default=Decimal(0))
        tiered = any(r.tiers for r in (*input_rates, *output_rates))
        setattr_ = object.__setattr__
        setattr_(self, "provider_id", provider.id)
        setattr_(self, "model_id", info.id)
        setattr_(self, "tiered", tiered)
        setattr_(self, "request_fee", fee / 1000)
        setattr_(self, "_input_rates", input_rates or (_Rate(base.input_per_mtok),))
        setattr_(self, "_output_rates", output_rates or (_Rate(base.output_per_mtok),))
        # Without tiers the dearest rates do not depend on the prompt size: compute them once.
        setattr_(
            self,
            "_flat_max",
            (max(r.base for r in self._input_rates), max(r.base for r in self._output_rates)),
        )
        # With flat input/output/cache rates, no reasoning rate, no request fee and one price all
        # day, `Price.cost` is exactly genai-prices' figure (rates for audio, images or searches
        # never meet a Stratum usage); anything else goes to genai-prices itself.
        flat = (
            not tiered
            and fee == 0
            and len(ceiling_prices) == 1
            and getattr(model_price, "output_reasoning_mtok", None) is None
            and getattr(model_price, "cache_write_1h_mtok", None) is None
        )
        setattr_(self, "_exact_flat", flat)
        setattr_(self, "_own_rates", _own_rates(model_price) if len(ceiling_prices) == 1 else None)
        setattr_(self, "_info", info)
        setattr_(self, "_provider", provider)

    def _max_input(self, input_tokens: int) -> Decimal:
        if not self.tiered:
            return self._flat_max[0]
        return max(r.dearest_for(input_tokens) for r in self._input_rates)

    def _max_output(self, input_tokens: int) -> Decimal:
        if not self.tiered:
            return self._flat_max[1]
        return max(r.dearest_for(input_tokens) for r in self._output_rates)

    @property
    def max_input_per_mtok(self) -> Decimal:
        """The dearest input-side rate at any prompt size."""
        return self._max_input(2**62)

    def cost(self, usage: Usage) -> Decimal:
        """Exact USD cost of `usage` as genai-prices computes it for this row, at request time."""
        if self._exact_flat:
            return Price.cost(self, usage)
        if self._own_rates is not None:
            return _tiered_cost(self._own_rates, usage) + self.request_fee
        return genai_cost(self._info, self._provider, usage)

    def worst_case(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The most `input_tokens` in and `output_tokens` out could cost (dearest applicable tier)."""
        return (
            input_tokens * self._max_input(input_tokens) + output_tokens * self._max_output(input_tokens)
        ) / _MILLION + self.request_fee

    def output_tokens_for(self, usd: Decimal, input_tokens: int) -> int | None:
        """How many output tokens `usd` pays for after `input_tokens` (None: free output)."""
        left = (usd - self.request_fee) * _MILLION - input_tokens * self._max_input(input_tokens)
        out_rate = self._max_output(input_tokens)
        if out_rate == 0:
            return None if left >= 0 else 0
        return max(int(left / out_rate), 0)


# Price keys whose units a Stratum usage reports (the cache-write TTL variants are reported as 0).
_OWN_KEYS = frozenset(
    {
        "input_mtok",
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",
        "output_mtok",
        "output_reasoning_mtok",
        "requests_kcount",
    }
)


def _own_rates(model_price: ModelPrice) -> dict[str, _Rate] | None:
    """The token rates of a row when `_tiered_cost` reproduces genai-prices exactly, else None.

    That holds when every token-family price key is one our usage reports; rows that price
    other token kinds (audio, images, per-modality text...) are left to genai-prices.
    """
    from genai_prices.units import _get_registry

    registry = _get_registry()
    rates: dict[str, _Rate] = {}
    for key, value in vars(model_price).items():
        if value is None or key.startswith("_"):
            continue
        try:
            unit = registry.unit_for_price_key(key)
        except KeyError:
            return None
        if key in _OWN_KEYS:
            rate = _rate(value)
            if rate is not None:
                rates[key] = rate
        elif unit.dimensions.get("family") == "tokens" and key != "cache_write_5m_mtok":
            return None
    return rates


def _tiered_cost(rates: dict[str, _Rate], usage: Usage) -> Decimal:
    """genai-prices' arithmetic for our token counts: each priced subset is taken out of its
    parent, and a tier applies to every token once the total input is above its start."""
    total_in = usage.input_tokens

    def at(key: str, count: int) -> Decimal:
        rate = rates.get(key)
        if rate is None or count == 0:
            return Decimal(0)
        price = rate.base
        for start, tier_price in reversed(rate.tiers):
            if total_in > start:
                price = tier_price
                break
        return price * count

    read = usage.cached_input_tokens if "cache_read_mtok" in rates else 0
    written = usage.cache_write_tokens if "cache_write_mtok" in rates else 0
    # one-hour writes are a subset of the writes, at their own rate when the row has one
    hour = min(usage.cache_write_1h_tokens, written) if "cache_write_1h_mtok" in rates else 0
    reasoning = usage.reasoning_tokens if "output_reasoning_mtok" in rates else 0
    total = (
        at("input_mtok", usage.input_tokens - read - written)
        + at("cache_read_mtok", read)
        + at("cache_write_mtok", written - hour)
        + at("cache_write_1h_mtok", hour)
        + at("output_mtok", usage.output_tokens - reasoning)
        + at("output_reasoning_mtok", reasoning)
    )
    return total / _MILLION


def genai_usage(usage: Usage) -> object:
    """Our normalized `Usage` in genai-prices' vocabulary (same inclusion rules: subsets of totals)."""
    from genai_prices import Usage as GenaiUsage

    return GenaiUsage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        output_tokens=usage.output_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
    )


def genai_cost(info: ModelInfo, provider: CatalogProvider, usage: Usage, at: dt.datetime | None = None) -> Decimal:
    """genai-prices' own total for `usage` on `info` at `provider` (at `at`, default now)."""
    return info.calc_price(genai_usage(usage), provider, genai_request_timestamp=at).total_price


def _decimal(value: Decimal | TieredPrices | None) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return value.base


def _providers() -> list[CatalogProvider]:
    # The bundled snapshot only: `genai_prices.data` is the data file shipped in the wheel.
    from genai_prices.data import providers

    return providers


@functools.lru_cache(maxsize=4096)
def _lookup(provider: str, model: str) -> tuple[CatalogProvider, ModelInfo] | None:
    """The catalog provider and model for `provider` + `model` (a pure function of the snapshot)."""
    from genai_prices.data_snapshot import find_provider_by_id

    if not model or is_local(provider):
        return None
    providers = _providers()
    if provider:
        found = find_provider_by_id(providers, provider)
        if found is None:
            return None
        info = found.find_model(model, all_providers=providers)
        return None if info is None else (found, info)
    # No provider part ("gpt-4o"): let genai-prices pick the provider from the model name.
    for candidate in providers:
        if candidate.model_match is not None and candidate.model_match.is_match(model.lower()):
            info = candidate.find_model(model, all_providers=providers)
            return None if info is None else (candidate, info)
    return None


def _ceiling_prices(info: ModelInfo, today: dt.date) -> tuple[ModelPrice, ...]:
    """Every standard price that can be in force during `today` (time-of-day prices included)."""
    from genai_prices.types import TimeOfDateConstraint

    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    current = info.get_prices(noon)
    if not isinstance(info.prices, list):
        return (current,)
    by_hour = [cp.prices for cp in info.prices if isinstance(cp.constraint, TimeOfDateConstraint)]
    end_of_day = info.get_prices(dt.datetime.combine(today, dt.time(23, 59, 59), tzinfo=dt.UTC))
    start_of_day = info.get_prices(dt.datetime.combine(today, dt.time(0), tzinfo=dt.UTC))
    out: list[ModelPrice] = []
    for mp in (current, start_of_day, end_of_day, *by_hour):
        if not any(mp is seen for seen in out):
            out.append(mp)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _price_on(provider: str, model: str, today: dt.date) -> CatalogPrice | None:
    found = _lookup(provider, model)
    if found is None:
        return None
    catalog_provider, info = found
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    model_price = info.get_prices(noon)
    input_rate = _decimal(getattr(model_price, "input_mtok", None))
    output_rate = _decimal(getattr(model_price, "output_mtok", None))
    if input_rate is None and output_rate is None:
        return None  # not a token-priced row (speech, images...): Stratum cannot meter it
    base = Price(
        input_rate or 0,
        output_rate or 0,
        _decimal(getattr(model_price, "cache_read_mtok", None)),
        _decimal(getattr(model_price, "cache_write_mtok", None)),
    )
    return CatalogPrice(
        base,
        provider=catalog_provider,
        info=info,
        model_price=model_price,
        ceiling_prices=_ceiling_prices(info, today),
    )


def catalog_price(provider: str, model: str) -> CatalogPrice | None:
    """The catalog price of `model` at `provider`, or None when the catalog has no row.

    `provider` is the part before `:` in a model string (`"openai"`, `"anthropic"`, `"google"`
    or `"gemini"`, `"groq"`, `"openrouter"`...); `model` may be a dated snapshot the provider
    returned (`"gpt-4o-2024-08-06"`, `"claude-sonnet-4-5-20250929"`). Local providers
    (`ollama`, `vllm`, `llamacpp`...) never have a catalog price.
    """
    return _price_on(provider.strip().lower(), model.strip(), dt.datetime.now(dt.UTC).date())


def guess_provider(model: str) -> str | None:
    """The catalog's provider for a bare model name (`"gpt-4o"` -> `"openai"`), for error hints."""
    found = _lookup("", model.strip())
    return None if found is None else found[0].id


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Which price data is in use.

    The snapshot carries no timestamp of its own, so its date is read from the price changes it
    knows: the newest one already in effect, and the newest scheduled one (which may be ahead).

    Attributes:
        package: the distribution the data comes from.
        version: its installed version.
        newest_in_effect: the latest price change on or before today.
        newest_scheduled: the latest price change it lists at all.
    """

    package: str
    version: str
    newest_in_effect: dt.date | None
    newest_scheduled: dt.date | None


@functools.cache
def _change_dates() -> tuple[dt.date, ...]:
    from genai_prices.types import StartDateConstraint

    days: set[dt.date] = set()
    for provider in _providers():
        for info in provider.models:
            if isinstance(info.prices, list):
                days.update(
                    cp.constraint.start_date for cp in info.prices if isinstance(cp.constraint, StartDateConstraint)
                )
    return tuple(sorted(days))


def snapshot_info(today: dt.date | None = None) -> SnapshotInfo:
    """The genai-prices version and the dates of the newest price changes in its snapshot."""
    import genai_prices

    day = today or dt.datetime.now(dt.UTC).date()
    dates = _change_dates()
    in_effect = [d for d in dates if d <= day]
    return SnapshotInfo(
        "genai-prices",
        genai_prices.__version__,
        in_effect[-1] if in_effect else None,
        dates[-1] if dates else None,
    )
