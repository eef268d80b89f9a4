"""What the real recorded calls cost: hand-checked arithmetic, and genai-prices' own figure.

Each expected cost is written out as rate × tokens (USD per million tokens, genai-prices
0.2.3 bundled snapshot). The returned model id (a dated snapshot) is what gets priced.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from stratum import Usage
from stratum.pricing import cost, price_of
from stratum.pricing._catalog import catalog_price
from tests.pricing.pricing_cassettes import Exchange, cassette_root, exchanges

ROOT = cassette_root()

M = Decimal(1_000_000)

# (file suffix, interaction) -> (model string priced, expected USD), arithmetic spelled out.
EXPECTED: dict[tuple[str, int], tuple[str, Decimal]] = {
    # gpt-4o-2024-08-06 → row gpt-4o: $2.50 in, $10 out. 71 in, 12 out.
    ("test_openai_native_output.yaml", 0): ("openai:gpt-4o-2024-08-06", (71 * Decimal("2.5") + 12 * 10) / M),
    # 92 in, 15 out: 230 + 150 = 380 µ$.
    ("test_openai_native_output.yaml", 1): ("openai:gpt-4o-2024-08-06", (92 * Decimal("2.5") + 15 * 10) / M),
    # gpt-4o-mini-2024-07-18: $0.15 in, $0.60 out. 54 in, 20 out: 8.1 + 12 = 20.1 µ$.
    ("test_tool_use_basic.yaml", 0): ("openai:gpt-4o-mini-2024-07-18", (54 * Decimal("0.15") + 20 * Decimal("0.6")) / M),
    ("test_tool_use_basic.yaml", 1): ("openai:gpt-4o-mini-2024-07-18", (87 * Decimal("0.15") + 26 * Decimal("0.6")) / M),
    ("test_run_stream_sync_streams_real_model.yaml", 0): (
        "openai:gpt-4o-mini-2024-07-18",
        (53 * Decimal("0.15") + 15 * Decimal("0.6")) / M,
    ),
    # Responses API, gpt-4o-2024-08-06: 255 in, 16 out: 637.5 + 160 = 797.5 µ$.
    ("test_openai_responses_stream.yaml", 0): ("openai:gpt-4o-2024-08-06", (255 * Decimal("2.5") + 16 * 10) / M),
    # gpt-5.5-2026-04-23: $5 in, $30 out. 11 in, 5 out: 55 + 150 = 205 µ$.
    ("test_responses_basic_non_streaming.yaml", 0): ("openai:gpt-5.5-2026-04-23", (11 * 5 + 5 * 30) / M),
    ("test_responses_basic_streaming.yaml", 0): ("openai:gpt-5.5-2026-04-23", (11 * 5 + 5 * 30) / M),
    # gpt-5.4-mini-2026-03-17: $0.75 in, $4.50 out. 72 in, 14 out: 54 + 63 = 117 µ$.
    ("test_openai_responses_native_output_decimal_strict.yaml", 0): (
        "openai:gpt-5.4-mini-2026-03-17",
        (72 * Decimal("0.75") + 14 * Decimal("4.5")) / M,
    ),
    # claude-sonnet-4-5-20250929: $3 in, $15 out, $0.30 cache read, $3.75 cache write (5 min).
    # 17 in, 10 out: 51 + 150 = 201 µ$.
    ("test_prompt.yaml", 0): ("anthropic:claude-sonnet-4-5-20250929", (17 * 3 + 10 * 15) / M),
    # 230 in, 94 out: 690 + 1410 = 2100 µ$.
    ("test_schema_prompt.yaml", 0): ("anthropic:claude-sonnet-4-5-20250929", (230 * 3 + 94 * 15) / M),
    # Cache read: wire input 3 + cache_read 1111 (normalized input 1114), 406 out:
    # 3×3 + 1111×0.30 + 406×15 = 9 + 333.3 + 6090 = 6432.3 µ$.
    ("test_anthropic_cache_real_api.yaml", 0): (
        "anthropic:claude-sonnet-4-5-20250929",
        (3 * 3 + 1111 * Decimal("0.3") + 406 * 15) / M,
    ),
    # Cache read and write: 3 plain + 1111 read + 418 written (input 1532), 33 out:
    # 9 + 333.3 + 418×3.75 (1567.5) + 495 = 2404.8 µ$.
    ("test_anthropic_cache_real_api.yaml", 1): (
        "anthropic:claude-sonnet-4-5-20250929",
        (3 * 3 + 1111 * Decimal("0.3") + 418 * Decimal("3.75") + 33 * 15) / M,
    ),
    # 713 in, 33 out: 2139 + 495 = 2634 µ$.
    ("test_tool_choice_matrix[list_single-anthropic].yaml", 0): (
        "anthropic:claude-sonnet-4-5-20250929",
        (713 * 3 + 33 * 15) / M,
    ),
    # gemini-2.5-pro (≤200k prompt tier): $1.25 in, $10 out. 15 in, 2 thinking tokens billed as
    # output (candidates absent): 18.75 + 20 = 38.75 µ$.
    ("test_google_model_max_tokens_thinking_model_empty_response.yaml", 0): (
        "google:gemini-2.5-pro",
        (15 * Decimal("1.25") + 2 * 10) / M,
    ),
    # gemini-2.0-flash: $0.10 in, $0.40 out. 8 in, 20 out: 0.8 + 8 = 8.8 µ$.
    ("test_google_native_output.yaml", 0): ("google:gemini-2.0-flash", (8 * Decimal("0.1") + 20 * Decimal("0.4")) / M),
}


@functools.cache
def _by_key() -> dict[tuple[str, int], Exchange]:
    return {(e.file.rsplit("/", 1)[-1], e.index): e for e in exchanges(ROOT)}


def test_every_successful_real_call_is_priced() -> None:
    """Every 200 response in the cassettes prices from its returned (dated) model id."""
    priced = [e for e in _by_key().values() if e.usage is not None]
    assert len(priced) >= 20
    unpriced = [
        (e.file, e.returned_model)
        for e in priced
        if cost(e.usage or Usage(), f"{e.provider}:{e.returned_model or e.requested_model}") is None
    ]
    assert unpriced == []


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: f"{k[0]}#{k[1]}")
def test_cassette_cost_matches_hand_arithmetic(key: tuple[str, int]) -> None:
    exchange = _by_key()[key]
    model, expected = EXPECTED[key]
    assert exchange.usage is not None
    assert model.endswith(exchange.returned_model or "")
    assert cost(exchange.usage, model) == expected


def _genai_reference(exchange: Exchange) -> Decimal:
    """genai-prices alone: its own extractor on the raw usage, its own calc_price."""
    assert exchange.raw_usage is not None
    flavor = {"chat": "chat", "responses": "responses", "messages": "default", "gemini": "default"}[exchange.api]
    root = "usageMetadata" if exchange.api == "gemini" else "usage"
    model_key = "modelVersion" if exchange.api == "gemini" else "model"
    body: dict[str, Any] = {root: exchange.raw_usage, model_key: exchange.returned_model}
    extracted = genai_prices.extract_usage(body, provider_id=exchange.provider, api_flavor=flavor)
    return extracted.calc_price().total_price


def test_cassette_costs_equal_genai_prices_on_the_raw_wire_usage() -> None:
    """Our normalized usage priced by Stratum == genai-prices on the provider's raw usage block."""
    checked = 0
    for exchange in _by_key().values():
        if exchange.usage is None:
            continue
        ours = cost(exchange.usage, f"{exchange.provider}:{exchange.returned_model}")
        assert ours == _genai_reference(exchange), exchange.file
        checked += 1
    assert checked >= 20


def test_dated_snapshot_and_alias_resolve_to_the_same_row() -> None:
    assert price_of("openai:gpt-4o-2024-08-06") == price_of("openai:gpt-4o")
    assert price_of("anthropic:claude-sonnet-4-5-20250929") == price_of("anthropic:claude-sonnet-4-5")
    # An older dated snapshot is its own, dearer, row: the returned id matters.
    old = catalog_price("openai", "gpt-4o-2024-05-13")
    assert old is not None and (old.input_per_mtok, old.output_per_mtok) == (Decimal(5), Decimal(15))
