"""The one-home helpers: secret patterns, model strings, backoff (`stratum._util`)."""

from __future__ import annotations

import pytest

from stratum._util.backoff import Backoff, retry_after_seconds
from stratum._util.model_strings import LOCAL_SERVERS, is_local, split_model_string
from stratum._util.secrets import REDACTED, check_key, scrub
from stratum.exceptions import ConfigurationError
from stratum.providers._faults import scrub as provider_scrub
from stratum.testing._scrub import REDACTED as CASSETTE_MARK
from stratum.testing._scrub import Scrubber
from stratum.trace._redact import scrub as trace_scrub

KEYS = [
    "sk-proj-abcdEFGHijklMNOPqrstUVWX0123456789",
    "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234567890abcdef",
    "sk-or-v1-0123456789abcdef0123456789abcdef",
    "sk-0123456789abcdef",  # a short legacy-style key: 16 characters after sk-
    "AIzaSyA-FAKEFAKEFAKEFAKEFAKEFAKE12345",
    "gsk_FAKEFAKEFAKEFAKEFAKE1234",
    "xai-FAKEFAKEFAKEFAKEFAKE1234",
]


@pytest.mark.parametrize("key", KEYS)
def test_errors_traces_and_cassettes_remove_the_same_key_shapes(key: str) -> None:
    text = f"upstream said: invalid key {key} (check it)"
    for cleaned in (provider_scrub(text), trace_scrub(text), scrub(text)):
        assert key not in cleaned and REDACTED in cleaned
    cassette = Scrubber.of((), ()).text(text, ())
    assert key not in cassette and CASSETTE_MARK in cassette


def test_bearer_tokens_and_key_parameters_keep_their_label() -> None:
    assert scrub("Authorization: Bearer abcdefgh12345678") == f"Authorization: Bearer {REDACTED}"
    assert scrub("GET /v1/models?key=abcdefgh12345678&x=1") == f"GET /v1/models?key={REDACTED}&x=1"


def test_known_secret_values_are_removed_whatever_their_shape() -> None:
    assert scrub("token is hunter2hunter2 ok", ("hunter2hunter2",)) == f"token is {REDACTED} ok"
    assert scrub("short abc", ("abc",)) == "short abc"  # too short to search for safely


def test_ordinary_text_is_left_alone() -> None:
    text = "the sk-learn model, monkey=banana and a key: value pair"
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai:gpt-4.1-mini", ("openai", "gpt-4.1-mini")),
        ("ollama:llama3.2:3b", ("ollama", "llama3.2:3b")),
        ("openrouter:google/gemini-2.0-flash-exp:free", ("openrouter", "google/gemini-2.0-flash-exp:free")),
        ("groq/llama-3.3-70b-versatile", ("groq", "llama-3.3-70b-versatile")),
    ],
)
def test_model_strings_split_as_documented(model: str, expected: tuple[str, str]) -> None:
    assert split_model_string(model, {"groq", "openai"}) == expected


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("openai:", "has no model after 'openai:'"),
        (":gpt-4o", "has no provider before ':'"),
        ("", "is empty"),
        ("groq/", "has no model after 'groq/'"),
        ("gpt-4o", "has no provider; write 'provider:model'"),
        ("unknown/model", "has no provider"),
    ],
)
def test_model_string_errors_name_what_is_missing(model: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        split_model_string(model, {"groq"})
    assert said in str(caught.value)


def test_a_bare_model_name_gets_the_likely_provider_in_the_hint() -> None:
    with pytest.raises(ConfigurationError) as caught:
        split_model_string("gpt-4o", (), guess=lambda m: "openai")
    assert "e.g. 'openai:gpt-4o'" in str(caught.value)


def test_local_servers_are_one_list() -> None:
    assert set(LOCAL_SERVERS) == {"ollama", "vllm", "llamacpp", "lmstudio"}
    assert is_local("Ollama") and not is_local("openai")


def test_backoff_doubles_to_a_cap_with_jitter_taken_off() -> None:
    plain = Backoff(0.5, 8.0)
    assert [plain.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    jittered = Backoff(0.5, 8.0, jitter=lambda: 1.0)
    assert jittered.delay(0) == 0.375 and jittered.delay(10) == 6.0
    assert Backoff(0.5, 30.0).delay(10_000) == 30.0  # no overflow


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "NaN"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "nan", "retry-after": "1"}, 1.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_hints_are_read_safely(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_check_key_accepts_a_clean_key() -> None:
    assert check_key("sk-abc_DEF-123", provider="OpenAI", source="OPENAI_API_KEY") == "sk-abc_DEF-123"
