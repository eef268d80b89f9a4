"""Offline token estimation: verified encodings, model mapping, conservative fallback."""

from __future__ import annotations

import ast
import inspect
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
import tiktoken
import tiktoken_ext.openai_public

from stratum._runtime.model import CallSpec, Message
from stratum.exceptions import ConfigurationError
from stratum.pricing import estimate
from stratum.pricing._encodings import (
    SHIPPED_ENCODINGS,
    encoding,
    encoding_name_for,
    load_verified_ranks,
)
from stratum.pricing._estimate import (
    INPUT_SAFETY_MARGIN,
    MESSAGE_OVERHEAD_TOKENS,
    SCHEMA_OVERHEAD_TOKENS,
    count_text_tokens,
)


def published_hashes() -> dict[str, str]:
    """The SHA-256 tiktoken publishes for each encoding file, read from tiktoken's own source."""
    tree = ast.parse(inspect.getsource(tiktoken_ext.openai_public))
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_tiktoken_bpe":
            url = node.args[0]
            found = [k.value for k in node.keywords if k.arg == "expected_hash"]
            if isinstance(url, ast.Constant) and found and isinstance(found[0], ast.Constant):
                name = str(url.value).rsplit("/", 1)[-1].removesuffix(".tiktoken")
                out[name] = str(found[0].value)
    return out


@pytest.mark.parametrize("name", SHIPPED_ENCODINGS)
def test_shipped_files_match_tiktokens_published_hash(name: str) -> None:
    expected = published_hashes()[name]
    ranks = load_verified_ranks(name, expected)
    assert len(ranks) > 100_000
    with pytest.raises(ConfigurationError, match="does not match"):
        load_verified_ranks(name, "0" * 64)


def test_encodings_load_offline_and_tokenize_like_tiktoken() -> None:
    o200k = encoding("o200k_base")
    cl100k = encoding("cl100k_base")
    assert isinstance(o200k, tiktoken.Encoding)
    # Reference ids from OpenAI's tokenizer for these encodings.
    assert o200k.encode("hello world") == [24912, 2375]
    assert cl100k.encode("hello world") == [15339, 1917]
    assert o200k.n_vocab == 200019 and cl100k.n_vocab == 100277
    assert o200k.decode(o200k.encode("Grüße, 世界! 😀")) == "Grüße, 世界! 😀"


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-5.5-2026-04-23", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("claude-sonnet-4-5", None),
        ("gemini-2.5-pro", None),
        ("meta-llama/Llama-3.3-70B-Instruct", None),
        ("llama3.2", None),
    ],
)
def test_models_map_to_their_encoding(model: str, name: str | None) -> None:
    assert encoding_name_for(model) == name


def _call(model: str) -> CallSpec:
    return CallSpec(
        model=model,
        messages=(Message("system", "Classify the tone."), Message("user", "text: Love it, héhé 😀")),
        output_schema={"type": "object", "properties": {"label": {"type": "string"}}},
        max_tokens=200,
    )


def test_openai_models_start_from_the_byte_bound_and_refine_to_their_tokenizer() -> None:
    call = _call("gpt-4o")
    schema = '{"type":"object","properties":{"label":{"type":"string"}}}'
    est = estimate(call, "openai")
    # The cheap count: UTF-8 bytes (no tokenizer), with the same framing and margin.
    by_bytes = sum(len(m.content.encode()) + MESSAGE_OVERHEAD_TOKENS for m in call.messages) + len(schema.encode())
    assert (est.input_tokens, est.encoding, est.approximate, est.bound) == (by_bytes, "o200k_base", False, True)
    assert est.reserved_input_tokens == math.ceil(by_bytes * INPUT_SAFETY_MARGIN)
    # The exact count, with the real tokenizer.
    exact = est.refined()
    enc = encoding("o200k_base")
    expected = sum(len(enc.encode(m.content)) + MESSAGE_OVERHEAD_TOKENS for m in call.messages) + len(enc.encode(schema))
    assert (exact.input_tokens, exact.encoding, exact.approximate, exact.bound) == (expected, "o200k_base", False, False)
    assert exact.reserved_input_tokens == math.ceil(expected * INPUT_SAFETY_MARGIN)
    assert exact.output_tokens == est.output_tokens == 200
    assert exact.input_tokens < est.input_tokens
    assert exact.refined() is exact


def test_the_bound_is_counted_without_loading_a_tokenizer() -> None:
    encoding.cache_clear()
    est = estimate(_call("gpt-4o"), "openai")
    assert est.bound and encoding.cache_info().currsize == 0
    est.refined()
    assert encoding.cache_info().currsize == 1


@pytest.mark.parametrize("name", SHIPPED_ENCODINGS)
@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(exclude_categories=())))  # lone surrogates included
@example(text="Grüße, 世界! 😀 \u200d\U0001f469\u200d\U0001f4bb")
@example(text="   \n\n\t  " * 50)
@example(text="a" * 5000)
@example(text="\x00\x01\x7f\udcff\ud800")
def test_the_byte_count_is_never_below_the_token_count(name: str, text: str) -> None:
    """Every token of a byte-level BPE is at least one byte: the bound holds for any text."""
    assert count_text_tokens(text, name, exact=False) == len(text.encode("utf-8", "surrogatepass"))
    assert count_text_tokens(text, name, exact=False) >= count_text_tokens(text, name)


def test_other_models_get_the_conservative_bytes_over_three_estimate() -> None:
    call = _call("claude-sonnet-4-5")
    est = estimate(call, "anthropic")
    schema = '{"type":"object","properties":{"label":{"type":"string"}}}'
    expected = sum(math.ceil(len(m.content.encode()) / 3) + MESSAGE_OVERHEAD_TOKENS for m in call.messages)
    expected += math.ceil(len(schema.encode()) / 3) + SCHEMA_OVERHEAD_TOKENS  # hidden structured-output prompt
    assert (est.input_tokens, est.encoding, est.approximate, est.bound) == (expected, None, True, False)
    assert est.refined() is est  # nothing more exact to count with
    # bytes/3 over-counts compared with a real BPE tokenizer on ordinary text
    assert est.input_tokens > estimate(_call("gpt-4o"), "openai").refined().input_tokens


def test_local_runtimes_are_approximate_even_with_an_openai_like_name() -> None:
    est = estimate(_call("gpt-4o"), "ollama")
    assert est.approximate and not est.bound
