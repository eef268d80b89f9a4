"""Replay every real recorded cassette through the matching dialect.

The parsed result and the normalized usage must equal what the provider recorded (DESIGN §9:
input includes cache reads and writes; output includes reasoning/thinking tokens). Streaming
recordings are out of scope: they must load without crashing, nothing more.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from _provider_cassettes import Interaction, all_cassettes, load

from stratum._runtime.model import CallSpec, Completion, Message, Usage
from stratum.exceptions import ProviderHTTPError, RateLimitError
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible

pytestmark = [
    pytest.mark.anyio,
]

KEY = "sk-replay-0000000000"

# file name -> per interaction: (text or parsed JSON, finish reason, normalized usage, model id, request id)
EXPECTED: dict[str, list[tuple[Any, str, Usage, str | None, str | None]]] = {
    "test_openai_native_output.yaml": [
        ("", "tool_use", Usage(71, 12), "gpt-4o-2024-08-06", "chatcmpl-BSXjyBwGuZrtuuSzNCeaWMpGv2MZ3"),
        ({"city": "Mexico City", "country": "Mexico"}, "stop", Usage(92, 15), "gpt-4o-2024-08-06", "chatcmpl-BSXjzYGu67dhTy5r8KmjJvQ4HhDVO"),
    ],
    "test_openai_responses_native_output_decimal_strict.yaml": [
        ({"amount": 12.34}, "stop", Usage(72, 14), "gpt-5.4-mini-2026-03-17", "resp_0d53bcfe78ba69b1006a0bc8c93420819eb52646162e379902"),
    ],
    "test_responses_basic_non_streaming.yaml": [
        ("pong", "stop", Usage(11, 5), "gpt-5.5-2026-04-23", "req_c6713bbdac8d4639a5ea09cb6c5eb5a9"),
    ],
    "test_no_tools_native_output_strict_true.yaml": [
        ({"city": "London", "country": "United Kingdom", "population": 9002488}, "stop", Usage(196, 19), "claude-sonnet-4-5-20250929", "msg_01Hfgh959WDWjL5jkM2FQXTL"),
    ],
    "test_anthropic_cache_real_api.yaml": [
        (None, "stop", Usage(3 + 1111, 406, cached_input_tokens=1111), "claude-sonnet-4-5-20250929", "msg_01UUPT9QdZnZSRzcQJkjG25U"),
        (
            "Python is a beginner-friendly, versatile programming language widely used for web development, data science, machine learning, automation, and scientific computing.",
            "stop",
            Usage(3 + 1111 + 418, 33, cached_input_tokens=1111, cache_write_tokens=418),
            "claude-sonnet-4-5-20250929",
            "msg_01KPaKTJSqAKoZri7Ujrny58",
        ),
    ],
    "test_anthropic_tool_output.yaml": [
        ({}, "tool_use", Usage(445, 23), "claude-sonnet-4-5-20250929", "msg_012TXW181edhmR5JCsQRsBKx"),
        ({"city": "Mexico City", "country": "Mexico"}, "tool_use", Usage(497, 56), "claude-sonnet-4-5-20250929", "msg_01K4Fzcf1bhiyLzHpwLdrefj"),
    ],
    "test_tool_choice_matrix[list_single-anthropic].yaml": [
        ({"city": "Paris"}, "tool_use", Usage(713, 33), "claude-sonnet-4-5-20250929", "msg_01NahiMLLfXaAJWTZGxZPjXx"),
    ],
    "test_google_native_output.yaml": [
        ({"city": "Mexico City", "country": "Mexico"}, "stop", Usage(8, 20), "gemini-2.0-flash", "EfsgaZT5JPbXz7IPqtGJkQ8"),
    ],
    "test_google_model_max_tokens_thinking_model_empty_response.yaml": [
        ("", "length", Usage(15, 2, reasoning_tokens=2), "gemini-2.5-pro", "fH8oaunbEbr9qtsPjYGX4A0"),
    ],
}

ERRORS: dict[str, tuple[type[ProviderHTTPError], int, int]] = {
    # file -> (error class, status, requests made)
    "test_openai_web_search_tool_model_not_supported.yaml": (ProviderHTTPError, 400, 1),
    "test_anthropic_count_tokens_error.yaml": (ProviderHTTPError, 404, 1),
    "test_openrouter_errors_raised.yaml": (RateLimitError, 429, 3),
}


def _replay(interactions: list[Interaction]) -> tuple[httpx2.AsyncClient, list[httpx2.Request]]:
    queue = list(interactions)
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        item = queue.pop(0)
        return httpx2.Response(item.status, headers=item.headers, content=item.body)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler)), seen


def _provider_for(item: Interaction, client: httpx2.AsyncClient) -> Any:
    body = item.request_body or {}
    async def no_sleep(_: float) -> None:
        return None
    if "openrouter.ai" in item.uri:
        # the recording client made 3 requests: 2 fault retries
        return OpenAICompatible("https://openrouter.ai/api/v1", api_key=KEY, http_client=client, name="openrouter", sleep=no_sleep, max_retries=2)
    if "/chat/completions" in item.uri:
        return OpenAI(api_key=KEY, http_client=client, sleep=no_sleep)
    if "/responses" in item.uri:
        return OpenAI(api_key=KEY, http_client=client, api="responses", sleep=no_sleep)
    if "anthropic.com" in item.uri:
        tool = isinstance(body.get("tool_choice"), dict) and body["tool_choice"].get("type") in ("tool", "any")
        return Anthropic(api_key=KEY, http_client=client, structured_output="tool" if tool else "native", sleep=no_sleep)
    return Gemini(api_key=KEY, http_client=client, sleep=no_sleep)


def _call_for(item: Interaction) -> CallSpec:
    body = item.request_body or {}
    model = body.get("model") or item.uri.split("/models/")[1].split(":")[0]
    structured = any(k in body for k in ("response_format", "text", "output_config", "tool_choice", "generationConfig"))
    return CallSpec(
        model=model,
        messages=(Message("user", "replayed"),),
        output_schema={"type": "object"} if structured else None,
    )


def _check(done: Completion, expected: tuple[Any, str, Usage, str | None, str | None]) -> None:
    text, reason, usage, model, request_id = expected
    if isinstance(text, dict):
        assert json.loads(done.text) == text
    elif text is not None:
        assert done.text == text
    else:
        assert done.text  # long free text: just present
    assert done.finish_reason == reason
    assert done.usage == usage
    assert done.model == model
    assert done.request_id == request_id


def test_every_cassette_file_is_covered() -> None:
    names = {p.name for p in all_cassettes()}
    assert len(names) == 20
    covered = set(EXPECTED) | set(ERRORS) | {p.name for p in all_cassettes() if all(i.streaming for i in load(p))}
    assert names == covered


@pytest.mark.parametrize("path", all_cassettes(), ids=lambda p: p.name)
async def test_replay(path: Path, anyio_backend: str) -> None:
    interactions = load(path)
    assert interactions
    if all(i.streaming for i in interactions):
        # out of scope: the loader must simply read it (SSE text, gzip SSE, or a JSON array)
        assert all(i.text() for i in interactions)
        return
    if path.name in ERRORS:
        error_class, status, requests = ERRORS[path.name]
        client, seen = _replay(interactions)
        provider = _provider_for(interactions[0], client)
        with pytest.raises(error_class) as info:
            await provider.complete(_call_for(interactions[0]))
        assert info.value.status_code == status and len(seen) == requests
        recorded = json.loads(interactions[-1].text())["error"]["message"]
        assert recorded in str(info.value)
        return
    expected = EXPECTED[path.name]
    assert len(expected) == len(interactions)
    for item, want in zip(interactions, expected, strict=True):
        client, _ = _replay([item])
        done = await _provider_for(item, client).complete(_call_for(item))
        _check(done, want)
