"""`@infer` through the built-in providers: typed results, metered usage, trace records with the
provider's model id and request id, and each outcome (refusal, truncation, content filter,
faults) traced with its own behaviour."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx2
import pytest
import trio
from _provider_helpers import SECRET, Server, Sleeps, chat_ok

import stratum
from stratum import Budget, configure, contract, infer, opaque, trace
from stratum._runtime.model import Usage
from stratum.exceptions import ContentFilterError, ParseFailure, ProviderHTTPError, RefusalError
from stratum.pricing import Price
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.providers._intercept import Exchange, Send, add_interceptor

pytestmark = pytest.mark.anyio


@contract
class City:
    city: str
    country: str
    population: int | None = None


def openai(server: Server, **kwargs: Any) -> OpenAI:
    return OpenAI(http_client=server.client(), api_key=SECRET, sleep=Sleeps(), jitter=lambda: 0.0, **kwargs)


async def test_typed_result_usage_and_trace_record_through_openai() -> None:
    server = Server(chat_ok('{"city": "Paris", "country": "France", "population": null}'))

    @infer("Name the city in the text.", model="x:gpt-4o")
    def locate(text: str, doc: opaque[dict[str, int]]) -> City: ...

    with configure(providers={"x": openai(server)}, prices={"x:gpt-4o": Price(2, 8)}):
        result = await locate("I love Paris", {"page": 3})
    assert result == City(city="Paris", country="France")
    sent = server.bodies()[0]["messages"]
    assert sent[-1] == {"role": "user", "content": '{"doc": {"page": 3}}'}  # opaque: its own message
    assert all('"page"' not in m["content"] for m in sent[:-1])
    record = trace.records()[-1]
    assert record.status == "ok" and record.model == "x:gpt-4o" and record.provider == "x"
    assert (record.input_tokens, record.output_tokens, record.cached_input_tokens, record.reasoning_tokens) == (100, 20, 40, 5)
    attempt = record.attempt_records[0]
    assert attempt.response_model == "gpt-4o-2024-08-06" and attempt.request_id == "req_chat_1"
    assert attempt.finish_reason == "stop"
    assert record.cost_usd is not None and record.cost_usd > 0
    assert SECRET not in repr(record)


async def test_primitive_and_list_results_are_requested_wrapped_and_unwrapped() -> None:
    server = Server(chat_ok('{"value": [1, 2, 3]}'))

    @infer("List small numbers.", model="x:m")
    def numbers() -> list[int]: ...

    with configure(providers={"x": openai(server)}):
        assert await numbers() == [1, 2, 3]
    schema = server.bodies()[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["value"] and schema["additionalProperties"] is False


async def test_plain_text_result() -> None:
    server = Server(chat_ok("Bonjour"))

    @infer("Say hello in French.", model="x:m")
    def hello() -> str: ...

    with configure(providers={"x": openai(server)}):
        assert await hello() == "Bonjour"
    assert "response_format" not in server.bodies()[0]


async def test_refusal_is_a_traced_refusal_error() -> None:
    server = Server(chat_ok(None, refusal="I can't help with that."))

    @infer("Do something.", model="x:m")
    def act() -> City: ...

    with configure(providers={"x": openai(server)}), pytest.raises(RefusalError) as info:
        await act()
    assert info.value.refusal == "I can't help with that."
    record = trace.records()[-1]
    assert record.status == "failed" and record.attempt_records[0].outcome == "refusal"
    assert record.attempt_records[0].finish_reason == "refusal" and len(server.requests) == 1


async def test_content_filter_is_a_traced_content_filter_error() -> None:
    server = Server(httpx2.Response(200, json={"candidates": [{"finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 4}}))

    @infer("Do something.", model="g:gemini-2.5-flash")
    def act() -> City: ...

    with configure(providers={"g": Gemini(api_key=SECRET, http_client=server.client())}), pytest.raises(ContentFilterError):
        await act()
    record = trace.records()[-1]
    assert record.attempt_records[0].outcome == "content_filter" and record.input_tokens == 4


async def test_truncated_json_is_retried_with_a_cut_off_message() -> None:
    server = Server(
        chat_ok('{"city": "Par', finish_reason="length"),
        chat_ok('{"city": "Paris", "country": "France"}'),
    )

    @infer("Name the city.", model="x:m", max_tokens=5)
    def locate() -> City: ...

    with configure(providers={"x": openai(server)}):
        assert (await locate()).city == "Paris"
    record = trace.records()[-1]
    assert [a.outcome for a in record.attempt_records] == ["truncated", "ok"]
    retry_feedback = server.bodies()[1]["messages"][-1]["content"]
    assert "cut off" in retry_feedback
    assert record.input_tokens == 200  # both attempts metered


async def test_truncated_json_on_every_attempt_is_a_parse_failure() -> None:
    server = Server(chat_ok('{"city": "Par', finish_reason="length"))

    @infer("Name the city.", model="x:m", retries=1)
    def locate() -> City: ...

    with configure(providers={"x": openai(server)}), pytest.raises(ParseFailure, match="cut off"):
        await locate()


async def test_fault_retries_are_traced_and_their_usage_metered_without_using_retries() -> None:
    errored = httpx2.Response(500, json={"error": {"message": "x"}, "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    server = Server(errored, httpx2.Response(503), chat_ok('{"city": "Paris", "country": "France"}'))

    @infer("Name the city.", model="x:m", retries=0)
    def locate() -> City: ...

    with configure(providers={"x": openai(server)}):
        assert (await locate()).city == "Paris"
    record = trace.records()[-1]
    assert record.attempts == 1 and record.attempt_records[0].fault_retries == 2
    assert record.input_tokens == 107 and record.output_tokens == 21


async def test_provider_error_is_traced_with_the_reported_usage() -> None:
    server = Server(httpx2.Response(400, json={"error": {"message": "bad schema"}, "usage": {"prompt_tokens": 9, "completion_tokens": 0}}))

    @infer("Name the city.", model="x:m")
    def locate() -> City: ...

    with configure(providers={"x": openai(server)}), pytest.raises(ProviderHTTPError, match="bad schema"):
        await locate()
    record = trace.records()[-1]
    assert record.status == "failed" and record.attempt_records[0].outcome == "provider_error"
    assert record.input_tokens == 9 and "ProviderHTTPError" in (record.error or "")


async def test_budget_deadline_reaches_the_http_timeout() -> None:
    server = Server(chat_ok('{"city": "Paris", "country": "France"}'))

    @infer("Name the city.", model="x:m", budget=Budget(ms=1500))
    def locate() -> City: ...

    with configure(providers={"x": openai(server)}):
        await locate()
    assert 0 < server.requests[0].extensions["timeout"]["read"] <= 1.5


async def test_anthropic_and_gemini_end_to_end_with_normalized_usage() -> None:
    anthropic = Server(httpx2.Response(200, json={
        "id": "msg_9", "model": "claude-sonnet-4-5-20250929", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": '{"city": "Rome", "country": "Italy"}'}],
        "usage": {"input_tokens": 3, "output_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20},
    }))
    gemini = Server(httpx2.Response(200, json={
        "candidates": [{"content": {"parts": [{"text": '{"city": "Oslo", "country": "Norway"}'}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 6, "thoughtsTokenCount": 7}, "modelVersion": "gemini-2.5-flash", "responseId": "r9",
    }))

    @infer("Name the city.")
    def locate() -> City: ...

    providers = {"a": Anthropic(api_key=SECRET, http_client=anthropic.client()), "g": Gemini(api_key=SECRET, http_client=gemini.client())}
    with configure(providers=providers):
        with stratum.configure(default_model="a:claude-sonnet-4-5"):
            assert (await locate()).city == "Rome"
        first = trace.records()[-1]
        with stratum.configure(default_model="g:gemini-2.5-flash"):
            assert (await locate()).city == "Oslo"
        second = trace.records()[-1]
    assert (first.input_tokens, first.cached_input_tokens, first.cache_write_tokens, first.output_tokens) == (123, 100, 20, 10)
    assert first.attempt_records[0].request_id == "msg_9"
    assert (second.input_tokens, second.output_tokens, second.reasoning_tokens) == (5, 13, 7)
    assert second.attempt_records[0].response_model == "gemini-2.5-flash"


async def test_builtin_model_strings_resolve_and_every_request_goes_through_interceptors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    seen: list[Exchange] = []

    async def fake(request: Any, exchange: Exchange, send: Send) -> Any:
        seen.append(exchange)
        if len(seen) == 1:
            return httpx2.Response(502, request=request)
        return chat_ok('{"city": "Paris", "country": "France"}')

    @infer("Name the city.", model="openai:gpt-4.1-mini")
    def locate() -> City: ...

    with configure(providers={}), add_interceptor(fake):
        assert (await locate()).city == "Paris"
    assert len(seen) == 2  # the fault retry went through the interceptor too
    assert all(e.provider == "openai" and e.dialect == "openai-chat" and e.call is not None for e in seen)
    assert seen[0].call is not None and seen[0].call.model == "gpt-4.1-mini"


# -- one provider object across event loops ----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps({"id": "c", "model": "local", "choices": [{"finish_reason": "stop", "message": {"content": '{"city": "Lyon", "country": "France"}'}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_one_provider_works_across_successive_event_loops_and_trio(loopback: str) -> None:
    provider = OpenAICompatible(loopback, name="local")

    @infer("Name the city.", model=provider)
    def locate() -> City: ...

    async def twice() -> list[str]:
        return [(await locate()).city for _ in range(2)]

    assert asyncio.run(twice()) == ["Lyon", "Lyon"]
    assert asyncio.run(twice()) == ["Lyon", "Lyon"]  # a new loop: the old client is not reused
    assert anyio.run(twice) == ["Lyon", "Lyon"]
    assert trio.run(twice) == ["Lyon", "Lyon"]


def test_concurrent_calls_are_limited_to_max_concurrency() -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return chat_ok('{"city": "Paris", "country": "France"}')

    provider = OpenAI(api_key=SECRET, transport=httpx2.MockTransport(slow), max_concurrency=4)

    @infer("Name the city.", model=provider)
    def locate() -> City: ...

    async def burst() -> None:
        await asyncio.gather(*(locate() for _ in range(40)))
        await provider.aclose()

    asyncio.run(burst())
    assert peak == 4


def test_usage_type_is_the_public_one() -> None:
    assert stratum.Usage is Usage
