"""Streaming one attempt through the built-in providers: real recordings, a loopback SSE
server (drip-fed, cut off, stalled, left early), fault retries, cassettes and the guard."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from stratum._runtime.model import CallSpec, Completion, Message, Usage
from stratum.exceptions import BudgetExceeded, NetworkBlockedError, ProviderHTTPError, StreamInterruptedError
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport
from stratum.testing import block_network, cassette

from _provider_cassettes import CASSETTES, Interaction, load
from _sse_server import Conn, sse_server

pytestmark = pytest.mark.anyio

FIXTURES = CASSETTES  # the real recordings, with their license index (INDEX.md)


def _call(*, schema: dict[str, Any] | None = None, timeout: float | None = None) -> CallSpec:
    return CallSpec(
        model="m",
        messages=(Message("system", "Answer briefly."), Message("user", "hi")),
        output_schema=schema,
        timeout=timeout,
        function="tests.answer",
    )


def _provider(uri: str, **kwargs: Any) -> Any:
    if "anthropic" in uri:
        return Anthropic(api_key="k", **kwargs)
    if "googleapis" in uri:
        return Gemini(api_key="k", **kwargs)
    return OpenAI(api_key="k", api="responses" if uri.endswith("/responses") else "chat", **kwargs)


async def _drain(events: AsyncIterator[StreamEvent]) -> tuple[list[str], list[Usage], Completion]:
    deltas: list[str] = []
    usages: list[Usage] = []
    final: Completion | None = None
    async for event in events:
        assert final is None, "nothing may follow the completion"
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        elif isinstance(event, UsageReport):
            usages.append(event.usage)
        else:
            final = event
    assert final is not None
    return deltas, usages, final


def _dripping(raw: bytes, size: int) -> Any:
    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), size):
            yield raw[start : start + size]

    return body()


# (file, interaction index, text, finish reason, usage (input, output), model)
RECORDED = [
    ("llm-anthropic/tests/cassettes/test_anthropic/test_prompt.yaml", 0, "- Captain\n- Scoop", "stop", (17, 10), "claude-sonnet-4-5-20250929"),
    ("llm/tests/cassettes/test_tools/test_tool_use_basic.yaml", 0, "", "tool_use", (54, 20), "gpt-4o-mini-2024-07-18"),
    (
        "llm/tests/cassettes/test_tools/test_tool_use_basic.yaml",
        1,
        "The result of \\( 1231 \\times 2331 \\) is \\( 2,869,461 \\).",
        "stop",
        (87, 26),
        "gpt-4o-mini-2024-07-18",
    ),
    ("llm/tests/cassettes/test_openai_responses/test_responses_basic_streaming.yaml", 0, "pong", "stop", (11, 5), "gpt-5.5-2026-04-23"),
    ("pydantic-ai/tests/models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml", 1, "The capital of the UK is London.", "stop", (78, 9), "gpt-4o-mini-2024-07-18"),
    ("pydantic-ai/tests/models/cassettes/test_google/test_google_model_stream.yaml", 0, "The capital of France is Paris.\n", "stop", (13, 8), "gemini-2.0-flash-exp"),
    ("pydantic-ai/tests/models/cassettes/test_openai_responses/test_openai_responses_stream.yaml", 0, "", "tool_use", (255, 16), "gpt-4o-2024-08-06"),
    ("pydantic-ai/tests/models/cassettes/test_openai_responses/test_openai_responses_stream.yaml", 1, "The capital of France is Paris.", "stop", (278, 9), "gpt-4o-2024-08-06"),
]


@pytest.mark.parametrize("piece", [pytest.param(1 << 20, id="one-buffer"), pytest.param(7, id="7-byte-chunks")])
@pytest.mark.parametrize(("name", "index", "text", "finish", "usage", "model"), RECORDED)
async def test_real_recordings_replay_through_the_stream_decoders(
    name: str, index: int, text: str, finish: str, usage: tuple[int, int], model: str, piece: int
) -> None:
    recorded: Interaction = load(FIXTURES / name)[index]
    raw = recorded.text().encode()
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, headers={"content-type": recorded.headers["content-type"]}, content=_dripping(raw, piece))

    provider = _provider(recorded.uri, transport=httpx2.MockTransport(handler))
    deltas, usages, final = await _drain(provider.stream(_call()))
    assert "".join(deltas) == text == final.text
    assert (final.finish_reason, final.model) == (finish, model)
    assert (final.usage.input_tokens, final.usage.output_tokens) == usage
    assert usages[-1] == final.usage  # the live usage ends at the final count
    request = seen[0]
    body = json.loads(request.content)
    assert request.headers["accept"] == "text/event-stream"
    if "googleapis" in recorded.uri:
        assert request.url.path.endswith(":streamGenerateContent") and request.url.params["alt"] == "sse"
    else:
        assert body["stream"] is True
    if recorded.uri.endswith("/chat/completions"):
        assert body["stream_options"] == {"include_usage": True}


async def test_anthropic_usage_is_live_from_message_start() -> None:
    recorded = load(FIXTURES / "llm-anthropic/tests/cassettes/test_anthropic/test_prompt.yaml")[0]
    provider = _provider(recorded.uri, transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=recorded.text().encode())
    ))
    events = [e async for e in provider.stream(_call())]
    first_usage = next(e for e in events if isinstance(e, UsageReport))
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    # message_start carries the input count (and a placeholder output) before any text
    assert events.index(first_usage) < first_text
    assert first_usage.usage.input_tokens == 17


async def test_anthropic_structured_stream_is_the_json_document() -> None:
    recorded = load(FIXTURES / "llm-anthropic/tests/cassettes/test_anthropic/test_schema_prompt.yaml")[0]
    provider = _provider(recorded.uri, transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=recorded.text().encode())
    ))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    deltas, _, final = await _drain(provider.stream(_call(schema=schema)))
    assert len(deltas) > 1
    assert json.loads(final.text)["name"] == "Biscuit"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (230, 94)


def _anthropic_tool_events(parts: list[str]) -> str:
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [],
                                                                 "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "tool_use", "id": "t", "name": "result", "input": {}}}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "input_json_delta", "partial_json": p}}) for p in parts],
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


async def test_anthropic_forced_tool_use_streams_the_tool_input() -> None:
    sse = _anthropic_tool_events(['{"city": "Pa', 'ris"}'])
    provider = Anthropic(api_key="k", structured_output="tool", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())
    ))
    deltas, _, final = await _drain(provider.stream(_call(schema={"type": "object"})))
    assert deltas == ['{"city": "Pa', 'ris"}']
    assert json.loads(final.text) == {"city": "Paris"}
    assert final.finish_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 12)


async def test_a_server_that_ignores_stream_answers_one_json_body() -> None:
    body = {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    provider = OpenAICompatible("http://127.0.0.1:1/v1", transport=httpx2.MockTransport(lambda _: httpx2.Response(200, json=body)))
    deltas, usages, final = await _drain(provider.stream(_call()))
    assert deltas == ["hello"] and final.text == "hello"
    assert usages == [Usage(3, 1)]


# -- a real loopback server --------------------------------------------------------------------


def _chat_chunk(text: str | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
    chunk: dict[str, Any] = {"id": "c1", "model": "local-model", "choices": []}
    if text is not None or finish is not None:
        delta = {"content": text} if text is not None else {}
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        chunk["usage"] = usage
    return f"data: {json.dumps(chunk)}\n\n"


async def test_drip_fed_deltas_reach_the_consumer_before_the_stream_ends() -> None:
    consumer_saw_first = anyio.Event()

    async def script(conn: Conn) -> None:
        await conn.head()
        await conn.chunk(_chat_chunk("Hel"))
        # the rest is sent only once the consumer has the first delta: proves it is incremental
        with anyio.fail_after(5):
            await consumer_saw_first.wait()
        for piece in ("lo", " wor", "ld"):
            await conn.chunk(_chat_chunk(piece)[:10])  # split an event across chunks
            await conn.chunk(_chat_chunk(piece)[10:])
        await conn.chunk(_chat_chunk(finish="stop") + _chat_chunk(usage={"prompt_tokens": 5, "completion_tokens": 4}))
        await conn.chunk("data: [DONE]\n\n")
        await conn.end()

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url)
        deltas: list[str] = []
        final: Completion | None = None
        async for event in provider.stream(_call()):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
                consumer_saw_first.set()
            elif isinstance(event, Completion):
                final = event
        await provider.aclose()
    assert deltas == ["Hel", "lo", " wor", "ld"]
    assert final is not None and final.text == "Hello world" and final.usage == Usage(5, 4)


async def test_a_compressed_event_stream_is_decompressed_as_it_arrives() -> None:
    body = "".join(
        [_chat_chunk("Hel"), _chat_chunk("lo"), _chat_chunk(finish="stop"),
         _chat_chunk(usage={"prompt_tokens": 5, "completion_tokens": 2}), "data: [DONE]\n\n"]
    ).encode()
    squeeze = zlib.compressobj(wbits=31)  # gzip
    compressed = [squeeze.compress(body[:40]) + squeeze.flush(zlib.Z_SYNC_FLUSH), squeeze.compress(body[40:]) + squeeze.flush()]

    async def script(conn: Conn) -> None:
        await conn.stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for piece in compressed:
            await conn.chunk(piece)
        await conn.end()

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url)
        deltas, _, final = await _drain(provider.stream(_call()))
        await provider.aclose()
    assert deltas == ["Hel", "lo"] and final.text == "Hello" and final.usage == Usage(5, 2)


async def test_a_stream_cut_mid_way_is_stream_interrupted_with_what_arrived() -> None:
    async def script(conn: Conn) -> None:
        await conn.head()
        await conn.chunk(_chat_chunk('{"city": "Par'))
        await conn.stream.aclose()  # no final chunk: the connection is lost mid-body

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url, max_retries=2)
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as caught:
            async for event in provider.stream(_call()):
                if isinstance(event, TextDelta):
                    received.append(event.text)
        await provider.aclose()
    assert received == ['{"city": "Par']
    assert caught.value.received == '{"city": "Par'
    assert "retry the call" in str(caught.value)
    assert len(server.conns) == 1  # output had arrived: not retried


async def test_a_stream_that_ends_without_its_end_event_is_interrupted() -> None:
    async def script(conn: Conn) -> None:
        await conn.head()
        await conn.chunk(_chat_chunk("partial"))
        await conn.end()  # a clean end of body, but no [DONE]

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url)
        with pytest.raises(StreamInterruptedError, match="before its end event") as caught:
            await _drain(provider.stream(_call()))
        await provider.aclose()
    assert caught.value.received == "partial"


async def test_leaving_early_closes_the_connection() -> None:
    async def script(conn: Conn) -> None:
        await conn.head()
        await conn.chunk(_chat_chunk("one"))
        for _ in range(200):  # would go on for 10 s
            await anyio.sleep(0.05)
            await conn.chunk(_chat_chunk("more"))

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url)
        events = provider.stream(_call())
        async for event in events:
            if isinstance(event, TextDelta):
                break
        await events.aclose()  # type: ignore[attr-defined]
        with anyio.fail_after(5):
            await server.conns[0].closed_by_client.wait()
        await provider.aclose()


async def test_a_stalled_stream_stops_at_the_deadline() -> None:
    async def script(conn: Conn) -> None:
        await conn.head()
        await conn.chunk(_chat_chunk("slow"))
        await anyio.sleep(10)

    async with sse_server(script) as server:
        provider = OpenAICompatible(server.url)
        with anyio.fail_after(5), pytest.raises(BudgetExceeded) as caught:
            await _drain(provider.stream(_call(timeout=0.3)))
        await provider.aclose()
    assert caught.value.axis == "ms"


# -- faults before the first byte ---------------------------------------------------------------


def _done_stream(text: str) -> bytes:
    return (_chat_chunk(text) + _chat_chunk(finish="stop") + "data: [DONE]\n\n").encode()


async def test_an_error_status_before_the_stream_is_retried() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    responses = [
        httpx2.Response(503, json={"error": {"message": "busy"}}),
        httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_done_stream("ok")),
    ]
    provider = OpenAI(api_key="k", sleep=sleep, jitter=lambda: 0.0,
                      transport=httpx2.MockTransport(lambda _: responses.pop(0)))
    _, _, final = await _drain(provider.stream(_call()))
    assert final.text == "ok" and final.fault_retries == 1 and sleeps == [0.5]


async def test_a_non_retryable_status_raises_at_once() -> None:
    provider = OpenAI(api_key="k", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(400, json={"error": {"message": "bad schema"}})
    ))
    with pytest.raises(ProviderHTTPError, match="bad schema"):
        await _drain(provider.stream(_call()))


async def test_an_error_event_before_any_output_is_retried_and_after_output_is_interrupted() -> None:
    overloaded = 'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    start = ('event: message_start\ndata: {"type": "message_start", "message": {"id": "m", "model": "c", '
             '"content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}\n\n')
    text = ('event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": '
            '{"type": "text", "text": ""}}\n\nevent: content_block_delta\ndata: {"type": "content_block_delta", '
            '"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}\n\n')
    end = ('event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, '
           '"usage": {"output_tokens": 3}}\n\nevent: message_stop\ndata: {"type": "message_stop"}\n\n')
    bodies = [start + overloaded, start + text + end, start + text + overloaded]

    async def sleep(seconds: float) -> None:
        pass

    provider = Anthropic(api_key="k", sleep=sleep, transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=bodies.pop(0).encode())
    ))
    _, usages, final = await _drain(provider.stream(_call()))
    assert final.text == "Hi" and final.fault_retries == 1
    assert final.fault_usage == Usage(9, 1)  # the failed try's reported usage is still metered
    assert usages[0] == Usage(9, 1)  # only the successful try's reports reached the consumer
    with pytest.raises(StreamInterruptedError, match="Overloaded") as caught:
        await _drain(provider.stream(_call()))
    assert caught.value.received == "Hi"


# -- cassettes and the network guard -----------------------------------------------------------


async def test_cassettes_record_and_replay_sse_bodies_in_stock_vcrpy_format(tmp_path: Path) -> None:
    recorded = load(FIXTURES / "pydantic-ai/tests/models/cassettes/test_google/test_google_model_stream.yaml")[0]
    raw = recorded.text().encode()
    provider = Gemini(api_key="AIzaPLANTEDsecret0123456789abcdef", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_dripping(raw, 50))
    ))
    path = tmp_path / "stream.yaml"
    with cassette(path, record_mode="once") as tape:
        first = await _drain(provider.stream(_call()))
    assert tape.recorded_count == 1
    text = path.read_text()
    assert "AIzaPLANTED" not in text
    # stock vcrpy reads it: its own deserializer, the SSE body kept byte for byte
    from vcr.serializers import yamlserializer
    from vcr.serialize import deserialize

    requests, responses = deserialize(text, yamlserializer)
    assert "streamGenerateContent" in requests[0].uri
    stored = responses[0]["body"]["string"]
    assert (stored if isinstance(stored, bytes) else stored.encode()) == raw
    assert responses[0]["headers"]["content-type"] == ["text/event-stream"]

    offline = Gemini(api_key="AIzaOTHERkey0123456789abcdefgh", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(500)
    ))
    with cassette(path) as tape:
        second = await _drain(offline.stream(_call()))
    assert tape.play_count == 1
    assert "".join(second[0]) == "".join(first[0]) and second[2] == first[2]


async def test_block_network_refuses_a_real_stream_but_not_a_mock_transport() -> None:
    recorded = load(FIXTURES / "llm/tests/cassettes/test_openai_responses/test_responses_basic_streaming.yaml")[0]
    mocked = OpenAI(api_key="k", api="responses", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=recorded.text().encode())
    ))
    real = OpenAI(api_key="k", base_url="https://api.openai.com/v1")
    with block_network():
        _, _, final = await _drain(mocked.stream(_call()))
        assert final.text == "pong"
        with pytest.raises(NetworkBlockedError, match="tests.answer"):
            await _drain(real.stream(_call()))
