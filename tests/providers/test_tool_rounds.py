"""`@infer(tools=[...])` through the built-in providers: the real recorded tool rounds replayed
end to end (OpenAI Chat, OpenAI Responses, Anthropic), Gemini on the SDK's wire shapes, and a
multi-round exchange recorded to a cassette and replayed offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from _provider_helpers import SECRET, Server, Sleeps

from stratum import compute, configure, contract, infer, trace
from stratum.providers import Anthropic, Gemini, OpenAI
from stratum.testing import block_network, cassette
from tests.providers._provider_cassettes import load

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures" / "tools"


@compute
def get_user_country() -> str:
    """The country of the user."""
    return "Mexico"


@compute
def get_capital(country: str) -> str:
    """The capital of a country."""
    return {"France": "Paris"}[country]


@contract
class CityLocation:
    city: str
    country: str


@contract
class final_result:  # noqa: N801 - the recording's name for the contract's tool
    city: str
    country: str


def _replies(name: str) -> list[httpx2.Response]:
    return [httpx2.Response(200, content=i.body, headers={"content-type": "application/json"}) for i in load(FIXTURES / name)]


async def test_openai_chat_replays_the_recorded_tool_round() -> None:
    server = Server(*_replies("pydantic_ai_chat_tool_round.yaml"))
    provider = OpenAI(http_client=server.client(), api_key=SECRET, sleep=Sleeps())

    @infer("What is the largest city in the user country?", model="x:gpt-4o", tools=[get_user_country])
    def largest_city() -> CityLocation: ...

    with configure(providers={"x": provider}):
        result = await largest_city()
    assert result == CityLocation(city="Mexico City", country="Mexico")
    first, second = server.bodies()
    recorded = load(FIXTURES / "pydantic_ai_chat_tool_round.yaml")[1].request_body
    assert recorded is not None
    assert second["messages"][-2:] == recorded["messages"][-2:]  # assistant tool_calls + tool result
    assert first["tools"][0]["function"]["name"] == "get_user_country"
    assert first["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {}, "additionalProperties": False}
    assert "tool_choice" not in first  # auto
    call, tool = trace.records()[-1], [r for r in trace.records() if r.function == "get_user_country"][0]
    assert tool.parent_id == call.record_id and tool.output == "Mexico"
    assert (call.input_tokens, call.output_tokens) == (71 + 92, 12 + 15)  # both rounds metered
    assert [(a.outcome, a.response_model) for a in call.attempt_records] == [
        ("tool_use", "gpt-4o-2024-08-06"),
        ("ok", "gpt-4o-2024-08-06"),
    ]


async def test_openai_responses_replays_the_recorded_tool_round() -> None:
    def completed(sse: str) -> bytes:
        line = next(x for x in sse.splitlines() if x.startswith("data: ") and '"response.completed"' in x)
        return json.dumps(json.loads(line[6:])["response"]).encode()

    interactions = load(FIXTURES / "pydantic_ai_responses_tool_round.yaml")
    server = Server(*(httpx2.Response(200, content=completed(i.text())) for i in interactions))
    provider = OpenAI(http_client=server.client(), api_key=SECRET, api="responses", sleep=Sleeps())

    @infer("What is the capital of France?", model="x:gpt-4o", tools=[get_capital])
    def capital() -> str: ...

    with configure(providers={"x": provider}):
        assert await capital() == "The capital of France is Paris."
    _, second = server.bodies()
    recorded = interactions[1].request_body
    assert recorded is not None
    call_item, output_item = second["input"][-2:]
    assert {k: call_item[k] for k in ("type", "name", "arguments")} == {
        k: recorded["input"][1][k] for k in ("type", "name", "arguments")
    }
    assert output_item == {"type": "function_call_output", "call_id": "call_kL0PCQV7M2WMoVX8V8OtYSAL", "output": "Paris"}


async def test_anthropic_tool_mode_replays_the_recorded_rounds() -> None:
    server = Server(*_replies("pydantic_ai_anthropic_tool_output.yaml"))
    provider = Anthropic(http_client=server.client(), api_key=SECRET, structured_output="tool", sleep=Sleeps())

    @infer("What is the largest city in the user country?", model="x:claude-sonnet-4-5", tools=[get_user_country])
    def largest_city() -> final_result: ...

    with configure(providers={"x": provider}):
        result = await largest_city()
    assert result == final_result(city="Mexico City", country="Mexico")
    first, second = server.bodies()
    recorded = load(FIXTURES / "pydantic_ai_anthropic_tool_output.yaml")[1].request_body
    assert recorded is not None
    assert second["messages"][-2:] == recorded["messages"][-2:]  # tool_use turn + tool_result turn
    assert first["tool_choice"] == recorded["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in first["tools"]] == [t["name"] for t in recorded["tools"]]


async def test_anthropic_native_mode_offers_tools_and_reads_tool_use() -> None:
    def reply(content: list[dict[str, Any]], stop: str) -> httpx2.Response:
        return httpx2.Response(
            200,
            json={"content": content, "stop_reason": stop, "model": "claude-x", "usage": {"input_tokens": 10, "output_tokens": 5}},
        )

    server = Server(
        reply([{"type": "tool_use", "id": "toolu_1", "name": "get_user_country", "input": {}}], "tool_use"),
        reply([{"type": "text", "text": '{"city": "Mexico City", "country": "Mexico"}'}], "end_turn"),
    )
    provider = Anthropic(http_client=server.client(), api_key=SECRET, sleep=Sleeps())

    @infer("Largest city", model="x:claude-x", tools=[get_user_country], max_tool_rounds=1)
    def largest_city() -> CityLocation: ...

    with configure(providers={"x": provider}):
        assert (await largest_city()).city == "Mexico City"
    first, second = server.bodies()
    assert "output_config" in first and "tool_choice" not in first
    assert second["tool_choice"] == {"type": "none"}  # the one round is used up
    assert second["messages"][-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Mexico", "is_error": False}],
    }


async def test_gemini_round_sends_back_the_call_with_its_signature() -> None:
    def reply(parts: list[dict[str, Any]]) -> httpx2.Response:
        return httpx2.Response(
            200,
            json={
                "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5},
                "modelVersion": "gemini-2.5-flash",
            },
        )

    server = Server(
        reply([{"functionCall": {"name": "get_capital", "args": {"country": "France"}}, "thoughtSignature": "c2ln"}]),
        reply([{"text": '{"city": "Paris", "country": "France"}'}]),
    )
    provider = Gemini(http_client=server.client(), api_key=SECRET, sleep=Sleeps())

    @infer("Capital of France", model="x:gemini-2.5-flash", tools=[get_capital])
    def capital() -> CityLocation: ...

    with configure(providers={"x": provider}):
        assert await capital() == CityLocation(city="Paris", country="France")
    first, second = server.bodies()
    declaration = first["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_capital"
    assert declaration["parametersJsonSchema"]["required"] == ["country"]
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert second["contents"][-2:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_capital", "args": {"country": "France"}}, "thoughtSignature": "c2ln"}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "get_capital", "response": {"result": "Paris"}}}]},
    ]


async def test_a_cassette_records_every_round_and_replays_them_offline(tmp_path: Path) -> None:
    path = tmp_path / "tool_round.yaml"

    @infer("What is the largest city in the user country?", model="x:gpt-4o", tools=[get_user_country])
    def largest_city() -> CityLocation: ...

    server = Server(*_replies("pydantic_ai_chat_tool_round.yaml"))
    with configure(providers={"x": OpenAI(http_client=server.client(), api_key=SECRET)}):
        with cassette(path, record_mode="once"):
            recorded = await largest_city()
    assert len(server.requests) == 2
    saved = path.read_text()
    assert saved.count("uri:") == 2 and SECRET not in saved

    offline = Server(httpx2.Response(500))  # must never be reached
    with configure(providers={"x": OpenAI(http_client=offline.client(), api_key=SECRET)}):
        with block_network(), cassette(path):
            assert await largest_city() == recorded
    assert offline.requests == []
