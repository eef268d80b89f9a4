"""Each dialect encodes the compiled prompt and the contract schema the provider's way, and
decodes its responses (text, finish reason, refusal, model id, request id, normalized usage)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from _provider_helpers import CITY_SCHEMA, SECRET, Server, call, chat_ok

from stratum._runtime.model import Usage
from stratum.exceptions import ProviderError
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.providers._schema import drop_added_nulls, to_strict

pytestmark = pytest.mark.anyio

DATA = '{"doc":{"k":1}}'


# -- OpenAI Chat ------------------------------------------------------------------------------


async def test_chat_sends_system_user_and_data_as_separate_messages_with_strict_schema() -> None:
    server = Server(chat_ok())
    provider = OpenAI(api_key=SECRET, http_client=server.client())
    done = await provider.complete(call(schema=CITY_SCHEMA, data=DATA, max_tokens=300))
    request = server.requests[0]
    body = server.bodies()[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert body["messages"] == [
        {"role": "system", "content": "Extract the city."},
        {"role": "user", "content": "text: Paris is nice"},
        {"role": "user", "content": DATA},
    ]
    assert body["max_completion_tokens"] == 300
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "City" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["city", "population"]
    assert schema["properties"]["population"]["type"] == ["integer", "null"]
    assert "default" not in schema["properties"]["population"]
    assert done.text == '{"city": "Paris"}'
    assert done.finish_reason == "stop"
    assert done.model == "gpt-4o-2024-08-06" and done.request_id == "req_chat_1"
    # OpenAI: cached ⊂ prompt, reasoning ⊂ completion: already the normalized shape
    assert done.usage == Usage(100, 20, cached_input_tokens=40, reasoning_tokens=5)


async def test_chat_plain_text_sends_no_response_format_and_retry_ends_with_assistant_then_user() -> None:
    server = Server(chat_ok("Paris"))
    provider = OpenAI(api_key=SECRET, http_client=server.client())
    done = await provider.complete(call(retry=True))
    body = server.bodies()[0]
    assert "response_format" not in body
    assert [m["role"] for m in body["messages"]][-2:] == ["assistant", "user"]
    assert done.text == "Paris"


async def test_chat_null_for_an_optional_field_made_nullable_is_dropped_so_the_default_applies() -> None:
    server = Server(chat_ok('{"city": "Paris", "population": null}'))
    done = await OpenAI(api_key=SECRET, http_client=server.client()).complete(call(schema=CITY_SCHEMA))
    assert json.loads(done.text) == {"city": "Paris"}


def test_strict_transform_falls_back_to_non_strict_for_open_maps() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "integer"}}}}
    assert to_strict(schema).strict is False
    assert to_strict(schema).schema is schema


def test_strict_transform_falls_back_to_non_strict_for_items_of_any_type() -> None:
    """A bare `list` field (items `{}`) cannot be said in strict mode: sent as is, non-strict."""
    schema = {"type": "object", "properties": {"key_points": {"type": "array", "items": {}}}, "required": ["key_points"]}
    assert to_strict(schema).strict is False
    assert to_strict(schema).schema is schema


def test_strict_transform_reaches_nested_defs_and_lists() -> None:
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "required": ["items"],
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}, "note": {"type": "string", "default": ""}}, "required": ["n"]}},
    }
    strict = to_strict(schema)
    item = strict.schema["$defs"]["Item"]
    assert strict.strict and item["additionalProperties"] is False and item["required"] == ["n", "note"]
    text = drop_added_nulls('{"items": [{"n": 1, "note": null}, {"n": 2, "note": "x"}]}', strict)
    assert json.loads(text) == {"items": [{"n": 1}, {"n": 2, "note": "x"}]}


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_use"), ("weird", "other")],
)
async def test_chat_finish_reasons_are_normalized(finish: str, expected: str) -> None:
    server = Server(chat_ok("x", finish_reason=finish))
    done = await OpenAI(api_key=SECRET, http_client=server.client()).complete(call())
    assert done.finish_reason == expected


async def test_chat_refusal_is_its_own_outcome_with_the_text() -> None:
    server = Server(chat_ok(None, refusal="I can't help with that."))
    done = await OpenAI(api_key=SECRET, http_client=server.client()).complete(call(schema=CITY_SCHEMA))
    assert done.finish_reason == "refusal" and done.refusal == "I can't help with that."


async def test_compatible_servers_get_max_tokens_and_a_non_strict_schema() -> None:
    server = Server(chat_ok(usage={"prompt_tokens": 10, "completion_tokens": 3}))
    provider = OpenAICompatible("http://localhost:11434/v1/", http_client=server.client(), name="ollama")
    done = await provider.complete(call(schema=CITY_SCHEMA, max_tokens=50))
    body = server.bodies()[0]
    assert str(server.requests[0].url) == "http://localhost:11434/v1/chat/completions"
    assert "authorization" not in server.requests[0].headers
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert "strict" not in body["response_format"]["json_schema"]
    assert body["response_format"]["json_schema"]["schema"] == CITY_SCHEMA
    assert done.usage == Usage(10, 3)  # no *_details from local servers: zeros


# -- OpenAI Responses -------------------------------------------------------------------------


def responses_body(output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": extra.pop("status", "completed"),
        "model": "gpt-5.4-mini-2026-03-17",
        "output": output,
        "incomplete_details": extra.pop("incomplete_details", None),
        "usage": {
            "input_tokens": 72,
            "input_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 4},
            "output_tokens": 14,
            "output_tokens_details": {"reasoning_tokens": 6},
        },
        **extra,
    }


def message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": list(parts)}


async def test_responses_encodes_instructions_input_parts_and_flat_text_format() -> None:
    server = Server(httpx2.Response(200, json=responses_body([message({"type": "output_text", "text": '{"city":"Paris"}'})])))
    provider = OpenAI(api_key=SECRET, http_client=server.client(), api="responses")
    done = await provider.complete(call(schema=CITY_SCHEMA, data=DATA, max_tokens=99))
    body = server.bodies()[0]
    assert str(server.requests[0].url).endswith("/v1/responses")
    assert body["instructions"] == "Extract the city."
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "text: Paris is nice"}, {"type": "input_text", "text": DATA}]}
    ]
    assert body["max_output_tokens"] == 99
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "City" and fmt["strict"] is True
    assert done.text == '{"city":"Paris"}' and done.finish_reason == "stop"
    assert done.usage == Usage(72, 14, cached_input_tokens=8, cache_write_tokens=4, reasoning_tokens=6)
    assert done.request_id == "resp_1"


@pytest.mark.parametrize(
    ("output", "extra", "reason"),
    [
        ([message({"type": "refusal", "refusal": "no"})], {}, "refusal"),
        ([message({"type": "output_text", "text": '{"ci'})], {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}, "length"),
        ([], {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}, "content_filter"),
        ([{"type": "function_call", "name": "f", "arguments": "{}"}], {}, "tool_use"),
    ],
)
async def test_responses_outcomes(output: list[dict[str, Any]], extra: dict[str, Any], reason: str) -> None:
    server = Server(httpx2.Response(200, json=responses_body(output, **extra)))
    done = await OpenAI(api_key=SECRET, http_client=server.client(), api="responses").complete(call(schema=CITY_SCHEMA))
    assert done.finish_reason == reason
    if reason == "refusal":
        assert done.refusal == "no"


async def test_responses_failed_status_raises_with_the_reported_usage() -> None:
    server = Server(httpx2.Response(200, json=responses_body([], status="failed", error={"code": "server_error", "message": "boom"})))
    with pytest.raises(ProviderError, match="server_error") as info:
        await OpenAI(api_key=SECRET, http_client=server.client(), api="responses").complete(call())
    assert info.value.usage == Usage(72, 14, 8, 4, 6)  # type: ignore[attr-defined]


# -- Anthropic --------------------------------------------------------------------------------


def anthropic_body(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop,
        "usage": {"input_tokens": 3, "output_tokens": 33, "cache_read_input_tokens": 1111, "cache_creation_input_tokens": 418, **usage},
    }


async def test_anthropic_native_encodes_output_config_and_keeps_data_as_its_own_block() -> None:
    server = Server(httpx2.Response(200, json=anthropic_body([{"type": "text", "text": '{"city":"Paris"}'}]), headers={"request-id": "req_a"}))
    provider = Anthropic(api_key=SECRET, http_client=server.client())
    done = await provider.complete(call(schema=CITY_SCHEMA, data=DATA, retry=True))
    request = server.requests[0]
    body = server.bodies()[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == SECRET and request.headers["anthropic-version"] == "2023-06-01"
    assert body["system"] == "Extract the city."
    assert body["max_tokens"] == 4096  # required by Anthropic: a default when the call sets none
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "text: Paris is nice"}, {"type": "text", "text": DATA}]
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": CITY_SCHEMA}}
    assert "tools" not in body
    assert done.text == '{"city":"Paris"}' and done.request_id == "req_a"
    # Anthropic: cache reads and writes are outside input_tokens; normalized input adds them
    assert done.usage == Usage(3 + 1111 + 418, 33, cached_input_tokens=1111, cache_write_tokens=418)


async def test_anthropic_tool_mode_forces_one_tool_and_its_input_is_the_output_whatever_its_name() -> None:
    reply = anthropic_body([{"type": "text", "text": "Sure."}, {"type": "tool_use", "id": "t", "name": "other", "input": {"city": "Paris"}}], "tool_use")
    server = Server(httpx2.Response(200, json=reply))
    provider = Anthropic(api_key=SECRET, http_client=server.client(), structured_output="tool")
    done = await provider.complete(call(schema=CITY_SCHEMA))
    body = server.bodies()[0]
    assert body["tools"][0]["name"] == "City" and body["tools"][0]["input_schema"] == CITY_SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "City"}
    assert "output_config" not in body
    assert json.loads(done.text) == {"city": "Paris"}


@pytest.mark.parametrize(
    ("stop", "reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "refusal"), ("pause_turn", "other")],
)
async def test_anthropic_stop_reasons(stop: str, reason: str) -> None:
    server = Server(httpx2.Response(200, json=anthropic_body([{"type": "text", "text": "I won't."}], stop)))
    done = await Anthropic(api_key=SECRET, http_client=server.client()).complete(call())
    assert done.finish_reason == reason
    if reason == "refusal":
        assert done.refusal == "I won't."


# -- Gemini -----------------------------------------------------------------------------------


def gemini_body(parts: list[dict[str, Any]] | None, finish: str = "STOP", **meta: int) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", **({"parts": parts} if parts is not None else {})}, "finishReason": finish}
    return {"candidates": [candidate], "usageMetadata": meta, "modelVersion": "gemini-2.5-flash", "responseId": "gem_1"}


async def test_gemini_encodes_system_parts_and_json_schema_and_counts_thoughts_as_output() -> None:
    reply = gemini_body([{"text": "thinking...", "thought": True}, {"text": '{"city":"Paris"}'}], promptTokenCount=5, candidatesTokenCount=50, thoughtsTokenCount=453, cachedContentTokenCount=2)
    server = Server(httpx2.Response(200, json=reply))
    provider = Gemini(api_key=SECRET, http_client=server.client())
    done = await provider.complete(call(model="gemini-2.5-flash", schema=CITY_SCHEMA, data=DATA, retry=True, max_tokens=64))
    request = server.requests[0]
    body = server.bodies()[0]
    assert str(request.url) == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == SECRET and "key=" not in str(request.url)
    assert body["systemInstruction"] == {"parts": [{"text": "Extract the city."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [{"text": "text: Paris is nice"}, {"text": DATA}]
    assert body["generationConfig"] == {"maxOutputTokens": 64, "responseMimeType": "application/json", "responseJsonSchema": CITY_SCHEMA}
    assert done.text == '{"city":"Paris"}'
    assert done.usage == Usage(5, 50 + 453, cached_input_tokens=2, reasoning_tokens=453)
    assert done.model == "gemini-2.5-flash" and done.request_id == "gem_1"


@pytest.mark.parametrize(("finish", "reason"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("OTHER", "other")])
async def test_gemini_finish_reasons_and_missing_counts_are_zero(finish: str, reason: str) -> None:
    server = Server(httpx2.Response(200, json=gemini_body(None, finish, promptTokenCount=15, thoughtsTokenCount=2)))
    done = await Gemini(api_key=SECRET, http_client=server.client()).complete(call())
    assert done.finish_reason == reason and done.text == ""
    assert done.usage == Usage(15, 2, reasoning_tokens=2)


async def test_gemini_blocked_prompt_is_a_content_filter_outcome() -> None:
    server = Server(httpx2.Response(200, json={"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}))
    done = await Gemini(api_key=SECRET, http_client=server.client()).complete(call())
    assert done.finish_reason == "content_filter" and done.usage == Usage(9, 0)
