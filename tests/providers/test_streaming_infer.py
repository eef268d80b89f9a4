"""`fn.stream(...)` end to end through the built-in providers: a real recorded structured
stream, a loopback server that overspends or drips past the deadline, leaving early, and a
cassette recorded and replayed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from _provider_cassettes import CASSETTES, load
from _sse_server import Conn, sse_server

import stratum
from stratum import Budget, BudgetExceeded, contract, flow, infer
from stratum.pricing import Price
from stratum.providers import Anthropic, OpenAICompatible
from stratum.testing import cassette

pytestmark = pytest.mark.anyio

FIXTURES = CASSETTES  # the real recordings, with their license index (INDEX.md)


@contract
class Dog:
    name: str
    age: int
    bio: str


@infer("Invent a good dog")
def invent() -> Dog: ...


async def test_a_real_recorded_structured_stream_gives_typed_partials() -> None:
    recorded = load(FIXTURES / "llm-anthropic/tests/cassettes/test_anthropic/test_schema_prompt.yaml")[0]
    sent: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=recorded.text().encode())

    provider = Anthropic(api_key="k", model="claude-sonnet-4-5", transport=httpx2.MockTransport(handler))
    with stratum.testing.use_model(provider):
        async with invent.stream() as s:
            partials = [p async for p in s]
            dog = await s.result()
    assert dog.name == "Biscuit" and dog.age == 4 and "socks" in dog.bio
    assert partials[0].name == "Biscuit" and partials[-1] == dog
    assert any(p.bio and p.bio != dog.bio for p in partials)  # the bio arrived piece by piece
    assert sent[0]["stream"] is True and sent[0]["output_config"]["format"]["type"] == "json_schema"
    (record,) = stratum.trace.records()
    assert (record.input_tokens, record.output_tokens, record.status) == (230, 94, "ok")


def _chunk(text: str) -> str:
    return f'data: {{"id": "c", "model": "local", "choices": [{{"index": 0, "delta": {{"content": {json.dumps(text)}}}}}]}}\n\n'


@infer("Tell a long story", model="loop:local")
def tell(topic: str) -> str: ...


async def test_a_server_that_ignores_max_tokens_is_cut_by_the_budget() -> None:
    async def endless(conn: Conn) -> None:
        await conn.head()
        for _ in range(2000):
            await conn.chunk(_chunk("and then "))
            await anyio.sleep(0.001)

    async with sse_server(endless) as server:
        provider = OpenAICompatible(server.url)

        @flow(budget=Budget(usd="0.0005"))
        async def run() -> str:
            async with tell.stream(topic="sea") as s:
                return await s.result()

        with stratum.configure(providers={"loop": provider}, prices={"loop:local": Price(1, 10)}):
            with anyio.fail_after(10), pytest.raises(BudgetExceeded) as caught:
                await run()
            with anyio.fail_after(5):
                await server.conns[0].closed_by_client.wait()  # the request was closed
        await provider.aclose()
    assert caught.value.axis == "usd" and str(caught.value.partial).startswith("and then")
    record = stratum.trace.records()[0]
    assert record.stopped == "budget"
    (flow_record,) = stratum.trace.flows()
    # charged what arrived: the piece that passed the budget, and no more
    assert flow_record.spent_usd is not None and Decimal("0.0005") < flow_record.spent_usd < Decimal("0.00055")


@infer("Tell a long story", model="loop:local", budget=Budget(ms=600))
def tell_quickly(topic: str) -> str: ...


async def test_a_dripping_stream_stops_at_the_deadline_of_the_whole_stream() -> None:
    async def drip(conn: Conn) -> None:
        await conn.head()
        for _ in range(100):
            await conn.chunk(_chunk("tick "))
            await anyio.sleep(0.1)  # each read is fast; the whole stream would take 10 s

    async with sse_server(drip) as server:
        provider = OpenAICompatible(server.url)
        with stratum.configure(providers={"loop": provider}):
            with anyio.fail_after(5), pytest.raises(BudgetExceeded) as caught:
                async with tell_quickly.stream(topic="x") as s:
                    async for _ in s:
                        pass
            with anyio.fail_after(5):
                await server.conns[0].closed_by_client.wait()
        await provider.aclose()
    assert caught.value.axis == "ms" and str(caught.value.partial).startswith("tick ")
    record = stratum.trace.records()[0]
    assert record.stopped == "deadline" and record.duration_ms < 2000


async def test_leaving_early_closes_the_request_and_records_it() -> None:
    async def endless(conn: Conn) -> None:
        await conn.head()
        for _ in range(500):
            await conn.chunk(_chunk("more "))
            await anyio.sleep(0.01)

    async with sse_server(endless) as server:
        provider = OpenAICompatible(server.url)
        with stratum.configure(providers={"loop": provider}):
            async with tell.stream(topic="x") as s:
                async for piece in s:
                    assert piece == "more "
                    break
            with anyio.fail_after(5):
                await server.conns[0].closed_by_client.wait()
        await provider.aclose()
    record = stratum.trace.records()[0]
    assert (record.status, record.stopped) == ("cancelled", "caller") and record.output_tokens > 0


async def test_a_streamed_call_records_and_replays_from_a_cassette(tmp_path: Path) -> None:
    recorded = load(FIXTURES / "llm-anthropic/tests/cassettes/test_anthropic/test_schema_prompt.yaml")[0]
    live = Anthropic(api_key="sk-ant-PLANTED-0123456789", model="claude-sonnet-4-5", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=recorded.text().encode())
    ))
    path = tmp_path / "invent.yaml"
    with stratum.testing.use_model(live), cassette(path, record_mode="once"):
        async with invent.stream() as s:
            first = await s.result()
    assert "PLANTED" not in path.read_text()
    offline = Anthropic(api_key="sk-ant-OTHER-0123456789", model="claude-sonnet-4-5", transport=httpx2.MockTransport(
        lambda _: httpx2.Response(500)
    ))
    with stratum.testing.use_model(offline), cassette(path) as tape:
        async with invent.stream() as s:
            partials = [p async for p in s]
    assert tape.play_count == 1 and partials[-1] == first
