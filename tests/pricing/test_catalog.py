"""Catalog prices from genai-prices: resolution, exact cost, and reservations as upper bounds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from genai_prices.data import providers
from hypothesis import given, settings
from hypothesis import strategies as st

from stratum import Usage
from stratum.pricing import Price, cost, price_of
from stratum.pricing._catalog import CatalogPrice, catalog_price, genai_cost, snapshot_info


def _all_rows() -> list[tuple[str, str]]:
    return [(p.id, m.id) for p in providers for m in p.models]


ROWS = [row for row in _all_rows() if catalog_price(*row) is not None]


@pytest.mark.parametrize(
    ("provider", "model", "row"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4.1-mini", "gpt-4.1-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("google", "gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini", "gemini-2.0-flash", "gemini-2.0-flash"),  # provider alias
        ("groq", "llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
        ("deepseek", "deepseek-chat", "deepseek-chat"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("OpenAI", "GPT-4o", "gpt-4o"),  # case does not matter
    ],
)
def test_model_strings_resolve_to_catalog_rows(provider: str, model: str, row: str) -> None:
    found = catalog_price(provider, model)
    assert isinstance(found, CatalogPrice)
    assert found.model_id == row


@pytest.mark.parametrize("model", ["ollama:llama3.2", "vllm:meta-llama/Llama-3.3-70B-Instruct", "llamacpp:gpt-4o"])
def test_local_providers_never_take_a_catalog_price(model: str) -> None:
    # Even a local model named like a hosted one: your hardware, your (zero) bill.
    price = price_of(model)
    assert price == Price(0, 0) and not isinstance(price, CatalogPrice)


def test_unknown_models_have_no_price() -> None:
    assert price_of("openai:no-such-model-xyz") is None
    assert price_of("nosuchprovider:gpt-4o") is None
    assert cost(Usage(10, 10), "openai:no-such-model-xyz") is None


def test_price_of_gives_flat_rates_per_mtok() -> None:
    price = price_of("openai:gpt-4o")
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok) == (
        Decimal("2.5"),
        Decimal(10),
        Decimal("1.25"),
    )


def test_tiered_rows_cost_exactly_and_reserve_the_dearest_applicable_tier() -> None:
    # claude-sonnet-4-5: $3/$15 up to 200k prompt tokens, $6/$22.50 above (every token).
    price = catalog_price("anthropic", "claude-sonnet-4-5")
    assert price is not None and price.tiered
    assert price.cost(Usage(1_000, 1_000)) == (1_000 * 3 + 1_000 * 15) / Decimal(1_000_000)
    assert price.cost(Usage(300_000, 1_000)) == (300_000 * 6 + 1_000 * Decimal("22.5")) / Decimal(1_000_000)
    # Small prompt: dearest input-side rate is the one-hour cache write ($6), output $15.
    assert price.worst_case(1_000, 1_000) == (1_000 * Decimal("6") + 1_000 * 15) / Decimal(1_000_000)
    # A prompt that may cross 200k reserves at the upper tier (1h cache write $12, output $22.50).
    assert price.worst_case(300_000, 1_000) == (300_000 * Decimal("12") + 1_000 * Decimal("22.5")) / Decimal(
        1_000_000
    )


def test_one_hour_cache_writes_cost_the_one_hour_rate() -> None:
    price = catalog_price("anthropic", "claude-sonnet-4-5")
    assert price is not None
    five_minutes = Usage(input_tokens=10_000, cache_write_tokens=8_000)
    one_hour = Usage(input_tokens=10_000, cache_write_tokens=8_000, cache_write_1h_tokens=8_000)
    mixed = Usage(input_tokens=10_000, cache_write_tokens=8_000, cache_write_1h_tokens=3_000)
    assert price.cost(five_minutes) == (2_000 * 3 + 8_000 * Decimal("3.75")) / Decimal(1_000_000)
    assert price.cost(one_hour) == (2_000 * 3 + 8_000 * 6) / Decimal(1_000_000)
    assert price.cost(mixed) == (2_000 * 3 + 5_000 * Decimal("3.75") + 3_000 * 6) / Decimal(1_000_000)
    # genai-prices agrees
    assert price.cost(mixed) == genai_cost(price._info, price._provider, mixed)  # pyright: ignore[reportPrivateUsage]


usages = st.builds(
    lambda plain, read, write, out, reasoning: Usage(plain + read + write, out, read, write, min(reasoning, out)),
    st.integers(0, 400_000),
    st.integers(0, 50_000),
    st.integers(0, 50_000),
    st.integers(0, 100_000),
    st.integers(0, 100_000),
)


@settings(max_examples=60, deadline=None)
@given(row=st.sampled_from(ROWS), usage=usages)
def test_cost_equals_genai_prices_for_every_catalog_row(row: tuple[str, str], usage: Usage) -> None:
    price = catalog_price(*row)
    assert isinstance(price, CatalogPrice)
    now = dt.datetime.now(dt.UTC)
    assert price.cost(usage) == genai_cost(price._info, price._provider, usage, now)


@settings(max_examples=200, deadline=None)
@given(row=st.sampled_from(ROWS), usage=usages, slack_in=st.integers(0, 5_000), slack_out=st.integers(0, 5_000))
def test_reservation_bounds_the_cost_for_every_catalog_row(
    row: tuple[str, str], usage: Usage, slack_in: int, slack_out: int
) -> None:
    """Whatever the mix of cached, written and reasoning tokens, and whichever tier applies,
    a usage within the reserved input and output never costs more than the reservation."""
    price = catalog_price(*row)
    assert price is not None
    reserved_in, reserved_out = usage.input_tokens + slack_in, usage.output_tokens + slack_out
    assert price.cost(usage) <= price.worst_case(reserved_in, reserved_out)
    # And the output cap a budget computes never lets the reservation exceed the money left.
    left = price.worst_case(reserved_in, reserved_out)
    fit = price.output_tokens_for(left, reserved_in)
    if fit is not None:
        assert price.worst_case(reserved_in, fit) <= left


def test_override_price_wins_and_flat_price_cost() -> None:
    import stratum

    mine = Price(input_per_mtok="1", output_per_mtok="2", cached_input_per_mtok="0.5")
    with stratum.configure(prices={"openai:gpt-4o": mine}):
        assert price_of("openai:gpt-4o") is mine
        # 100 plain×1 + 50 cached×0.5 + 10 out×2 = 100 + 25 + 20 = 145 µ$
        assert cost(Usage(150, 10, cached_input_tokens=50), "openai:gpt-4o") == Decimal("0.000145")
    assert price_of("openai:gpt-4o") != mine


def test_snapshot_info_names_the_bundled_data() -> None:
    import genai_prices

    info = snapshot_info(dt.date(2026, 11, 24))
    assert info.package == "genai-prices" and info.version == genai_prices.__version__
    assert info.newest_in_effect is not None and info.newest_in_effect <= dt.date(2026, 11, 24)
    assert info.newest_scheduled is not None and info.newest_scheduled >= info.newest_in_effect


FIXED_USAGES = (
    Usage(1_000, 500),
    Usage(250_000, 2_000, cached_input_tokens=30_000, cache_write_tokens=10_000, reasoning_tokens=500),
    Usage(1_200_000, 40_000, cached_input_tokens=100_000, reasoning_tokens=39_000),
)


def test_every_non_flat_row_costs_exactly_what_genai_prices_says() -> None:
    """Rows with tiers, request fees or reasoning rates, priced by our own tier arithmetic, agree
    with genai-prices to the last digit, below and above every tier threshold."""
    now = dt.datetime.now(dt.UTC)
    checked = 0
    for row in ROWS:
        price = catalog_price(*row)
        assert isinstance(price, CatalogPrice)
        if price._exact_flat:
            continue
        for usage in FIXED_USAGES:
            assert price.cost(usage) == genai_cost(price._info, price._provider, usage, now), row
            checked += 1
    assert checked > 100


def test_the_network_is_blocked_for_these_tests() -> None:
    """Every pricing test runs with connects refused, so passing proves nothing was fetched."""
    import socket

    with pytest.raises(AssertionError, match="network touched"):
        socket.create_connection(("203.0.113.1", 443), timeout=0.01)
    with pytest.raises(AssertionError, match="network touched"):
        socket.socket().connect(("203.0.113.1", 443))
