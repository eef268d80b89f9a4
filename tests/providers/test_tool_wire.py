"""Tool calls on the wire: the real recorded tool rounds decode, and what we send back has the
shape the providers were sent in those same recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stratum._runtime.tool_types import ToolCall, ToolDefinition, ToolResult
from stratum.providers import _tool_wire as wire
from tests.providers._provider_cassettes import Interaction, load

FIXTURES = Path(__file__).parent / "fixtures" / "tools"


def _json(interaction: Interaction) -> dict[str, Any]:
    return json.loads(interaction.text())


def _completed_response(sse: str) -> dict[str, Any]:
    """The whole response object carried by a Responses stream's `response.completed` event."""
    for line in sse.splitlines():
        if line.startswith("data: ") and '"response.completed"' in line:
            return json.loads(line[len("data: ") :])["response"]
    raise AssertionError("no response.completed event")


def test_openai_chat_recorded_round_decodes_and_replays_in_the_recorded_shape() -> None:
    first, second = load(FIXTURES / "pydantic_ai_chat_tool_round.yaml")
    message = _json(first)["choices"][0]["message"]
    calls = wire.chat_decode_calls(message)
    assert calls == (ToolCall("get_user_country", {}, id="call_PkRGedQNRFUzJp2R7dO7avWR"),)

    # the second request of the recording is the tool round trip as OpenAI accepted it
    sent = second.request_body
    assert sent is not None
    assistant, tool = sent["messages"][1], sent["messages"][2]
    ours = wire.chat_assistant_message("", calls)
    assert ours["tool_calls"] == assistant["tool_calls"]
    assert ours == assistant
    result = ToolResult(call=calls[0], content="Mexico", value="Mexico")
    assert wire.chat_tool_messages([result]) == [tool]
    assert [t["function"]["name"] for t in sent["tools"]] == [
        t["function"]["name"] for t in wire.chat_tools([ToolDefinition(name="get_user_country", description="", parameters={})])
    ]


def test_openai_chat_streamed_recording_request_shapes_match_ours() -> None:
    """simonw/llm's second request: the tool message and call shapes we send too."""
    _, second = load(FIXTURES / "llm_chat_tool_use_basic.yaml")
    sent = second.request_body
    assert sent is not None
    recorded_call = sent["messages"][2]["tool_calls"][0]
    call = ToolCall(
        "multiply", wire.parse_arguments(recorded_call["function"]["arguments"]), id=recorded_call["id"]
    )
    assert call.arguments == {"a": 1231, "b": 2331}
    ours = wire.chat_assistant_message("", [call])["tool_calls"][0]
    assert ours["id"] == recorded_call["id"] and ours["type"] == "function"
    assert json.loads(ours["function"]["arguments"]) == {"a": 1231, "b": 2331}
    assert wire.chat_tool_messages([ToolResult(call=call, content="2869461", value=2869461)]) == [sent["messages"][3]]
    recorded_tool = sent["tools"][0]["function"]
    definition = ToolDefinition(
        name="multiply", description="Multiply two numbers.", parameters=recorded_tool["parameters"]
    )
    assert wire.chat_tools([definition]) == sent["tools"]


def test_openai_responses_recorded_round_decodes_and_replays() -> None:
    first, second = load(FIXTURES / "pydantic_ai_responses_tool_round.yaml")
    response = _completed_response(first.text())
    calls = wire.responses_decode_calls(response["output"])
    assert calls == (ToolCall("get_capital", {"country": "France"}, id="call_kL0PCQV7M2WMoVX8V8OtYSAL"),)
    sent = second.request_body
    assert sent is not None
    recorded_call, recorded_output = sent["input"][1], sent["input"][2]
    ours_call = wire.responses_call_items("", calls)[0]
    assert {k: ours_call[k] for k in ("type", "name", "arguments")} == {
        k: recorded_call[k] for k in ("type", "name", "arguments")
    }
    ours_output = wire.responses_result_items([ToolResult(call=calls[0], content="Paris", value="Paris")])[0]
    assert ours_output["type"] == recorded_output["type"] and ours_output["output"] == recorded_output["output"]
    # the call and its output are paired by call_id
    assert ours_output["call_id"] == ours_call["call_id"] == "call_kL0PCQV7M2WMoVX8V8OtYSAL"
    tools = wire.responses_tools(
        [ToolDefinition(name="get_capital", description="", parameters=sent["tools"][0]["parameters"])]
    )
    assert {k: tools[0][k] for k in ("type", "name", "parameters")} == {
        k: sent["tools"][0][k] for k in ("type", "name", "parameters")
    }
    # the final round answers with text only: no calls
    assert wire.responses_decode_calls(_completed_response(second.text())["output"]) == ()


def test_anthropic_recorded_rounds_decode_and_replay() -> None:
    first, second = load(FIXTURES / "pydantic_ai_anthropic_tool_output.yaml")
    calls = wire.anthropic_decode_calls(_json(first)["content"], output_tool="final_result")
    assert calls == (ToolCall("get_user_country", {}, id="toolu_01X9wcHKKAZD9tBC711xipPa"),)
    sent = second.request_body
    assert sent is not None
    assert wire.anthropic_call_blocks("", calls) == sent["messages"][1]["content"]
    result = ToolResult(call=calls[0], content="Mexico", value="Mexico")
    assert wire.anthropic_result_blocks([result]) == sent["messages"][2]["content"]
    # the final answer is the output tool's block: not a tool call
    assert wire.anthropic_decode_calls(_json(second)["content"], output_tool="final_result") == ()
    assert wire.anthropic_decode_calls(_json(second)["content"]) == (
        ToolCall("final_result", {"city": "Mexico City", "country": "Mexico"}, id="toolu_01LZABsgreMefH2Go8D5PQbW"),
    )


def test_anthropic_forced_tool_choice_recording_decodes_arguments() -> None:
    (only,) = load(FIXTURES / "pydantic_ai_anthropic_tool_choice.yaml")
    (call,) = wire.anthropic_decode_calls(_json(only)["content"])
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    sent = only.request_body
    assert sent is not None
    definitions = [ToolDefinition(name=t["name"], description=t["description"], parameters=t["input_schema"]) for t in sent["tools"]]
    assert wire.anthropic_tools(definitions) == sent["tools"]


def test_gemini_function_calls_keep_their_thought_signature_on_the_way_back() -> None:
    # the shape of python-genai's `Part` (function_call + thought_signature), camelCase on the wire
    parts = [
        {"text": "Let me look that up."},
        {"functionCall": {"name": "lookup_order", "args": {"order_id": "A-17"}}, "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "refund_policy", "args": {}, "id": "fc-2"}},
    ]
    calls = wire.gemini_decode_calls(parts)
    assert [(c.name, c.arguments) for c in calls] == [("lookup_order", {"order_id": "A-17"}), ("refund_policy", {})]
    replay = wire.gemini_call_parts("Let me look that up.", calls)
    assert replay == parts
    results = [
        ToolResult(call=calls[0], content='{"status":"shipped"}', value={"status": "shipped"}),
        ToolResult(call=calls[1], content="no such policy", is_error=True),
    ]
    assert wire.gemini_result_parts(results) == [
        {"functionResponse": {"name": "lookup_order", "response": {"result": {"status": "shipped"}}}},
        {"functionResponse": {"name": "refund_policy", "response": {"error": "no such policy"}, "id": "fc-2"}},
    ]
    assert wire.gemini_tool_config("none") == {"functionCallingConfig": {"mode": "NONE"}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param('{"a": 1}', {"a": 1}, id="json-object"),
        pytest.param({"a": 1}, {"a": 1}, id="object"),
        pytest.param("", {}, id="empty"),
        pytest.param(None, {}, id="absent"),
        pytest.param('{"a": 1', '{"a": 1', id="broken-json-kept-raw"),
        pytest.param("[1, 2]", "[1, 2]", id="not-an-object-kept-raw"),
    ],
)
def test_arguments_become_a_mapping_or_stay_raw_text(raw: Any, expected: Any) -> None:
    assert wire.parse_arguments(raw) == expected
