"""Tool calling on the wire, per dialect: tool definitions, the model's calls, and the results.

| dialect          | definitions                         | the model's calls              | results sent back                 |
|------------------|-------------------------------------|--------------------------------|-----------------------------------|
| OpenAI Chat      | `tools[].function{name,parameters}` | `message.tool_calls[]`         | `{"role": "tool", tool_call_id}`  |
| OpenAI Responses | `tools[]{type: function, name}`     | `output[]{type: function_call}`| `{type: function_call_output}`    |
| Anthropic        | `tools[]{name, input_schema}`       | `content[]{type: tool_use}`    | `{type: tool_result, tool_use_id}`|
| Gemini           | `tools[].functionDeclarations[]`    | `parts[].functionCall`         | `parts[].functionResponse`        |

Arguments arrive as a JSON string (OpenAI) or a JSON object (Anthropic, Gemini); both become a
mapping, and anything that is not a JSON object is kept as the raw text so the runtime can tell
the model what was wrong with it. Kept separate from the dialect modules so that the tool
round trip reads in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from stratum._runtime.model import CallSpec, Message, ToolChoice
from stratum._runtime.tool_types import ToolCall, ToolDefinition, ToolResult
from stratum.providers._dialect import as_str, get_dict, get_list, merged_turns
from stratum.providers._media_parts import anthropic_content, chat_message, gemini_content, responses_content

__all__ = (
    "anthropic_call_blocks",
    "anthropic_decode_calls",
    "anthropic_result_blocks",
    "anthropic_tools",
    "anthropic_with_tools",
    "chat_assistant_message",
    "chat_decode_calls",
    "chat_tool_messages",
    "chat_tools",
    "chat_with_tools",
    "gemini_call_parts",
    "gemini_decode_calls",
    "gemini_result_parts",
    "gemini_tool_config",
    "gemini_tools",
    "gemini_with_tools",
    "parse_arguments",
    "responses_call_items",
    "responses_decode_calls",
    "responses_result_items",
    "responses_tools",
    "responses_with_tools",
)

def parse_arguments(raw: Any) -> Mapping[str, Any] | str:
    """A call's arguments as a mapping, or the raw text when they are not a JSON object."""
    if isinstance(raw, dict):
        return cast(dict[str, Any], raw)
    if raw is None or raw == "":
        return {}  # a call of a tool without parameters may carry no arguments at all
    if isinstance(raw, str):
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(parsed, dict):
            return cast(dict[str, Any], parsed)
        return raw
    return json.dumps(raw, default=str)


def _arguments_json(call: ToolCall) -> str:
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(call.arguments, ensure_ascii=False, separators=(",", ":"), default=str)


def _arguments_object(call: ToolCall) -> Any:
    return call.arguments if not isinstance(call.arguments, str) else {}


def _call_id(call: ToolCall, index: int) -> str:
    return call.id or f"call_{index}"


# -- OpenAI Chat Completions -------------------------------------------------------------------


def chat_tools(tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    """`tools` of a Chat Completions request."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def chat_assistant_message(text: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The assistant message that made `calls` (sent back before their results); without
    text it has no `content`, as in OpenAI's own recorded exchanges."""
    message: dict[str, Any] = {"role": "assistant"}
    if text:
        message["content"] = text
    message["tool_calls"] = [
        {"id": _call_id(c, i), "type": "function", "function": {"name": c.name, "arguments": _arguments_json(c)}}
        for i, c in enumerate(calls)
    ]
    return message


def chat_tool_messages(results: Sequence[ToolResult]) -> list[dict[str, Any]]:
    """One `role: tool` message per result."""
    return [
        {"role": "tool", "tool_call_id": _call_id(r.call, i), "content": r.content} for i, r in enumerate(results)
    ]


def chat_decode_calls(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The function calls in a Chat Completions `choices[0].message`."""
    calls: list[ToolCall] = []
    for index, item in enumerate(get_list(message, "tool_calls")):
        function = get_dict(item, "function")
        name = as_str(function, "name")
        if name is None:
            continue
        arguments = parse_arguments(function.get("arguments"))
        calls.append(ToolCall(name, arguments, id=as_str(item, "id") or f"call_{index}"))
    return tuple(calls)


# -- OpenAI Responses --------------------------------------------------------------------------


def responses_tools(tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    """`tools` of a Responses request (flat function tools, not strict: we validate ourselves)."""
    return [
        {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters, "strict": False}
        for t in tools
    ]


def responses_call_items(text: str, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The input items replaying the model's turn: its text, if any, then its function calls.

    The calls are sent without their output-item `id`: with `store: false` an item id would
    make the API look for the reasoning item that preceded it.
    """
    items: list[dict[str, Any]] = []
    if text:
        items.append({"role": "assistant", "content": text})
    items.extend(
        {"type": "function_call", "call_id": _call_id(c, i), "name": c.name, "arguments": _arguments_json(c)}
        for i, c in enumerate(calls)
    )
    return items


def responses_result_items(results: Sequence[ToolResult]) -> list[dict[str, Any]]:
    """One `function_call_output` item per result."""
    return [
        {"type": "function_call_output", "call_id": _call_id(r.call, i), "output": r.content}
        for i, r in enumerate(results)
    ]


def responses_decode_calls(output: Sequence[Any]) -> tuple[ToolCall, ...]:
    """The `function_call` items of a Responses `output` list."""
    calls: list[ToolCall] = []
    for index, item in enumerate(output):
        if as_str(item, "type") != "function_call":
            continue
        name = as_str(item, "name")
        if name is None:
            continue
        arguments = parse_arguments(cast(Mapping[str, Any], item).get("arguments"))
        calls.append(ToolCall(name, arguments, id=as_str(item, "call_id") or as_str(item, "id") or f"call_{index}"))
    return tuple(calls)


# -- Anthropic Messages ------------------------------------------------------------------------


def anthropic_tools(tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    """`tools` of a Messages request."""
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def anthropic_call_blocks(text: str, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The content blocks of the assistant turn that made `calls`."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.extend(
        {"type": "tool_use", "id": _call_id(c, i), "name": c.name, "input": _arguments_object(c)}
        for i, c in enumerate(calls)
    )
    return blocks


def anthropic_result_blocks(results: Sequence[ToolResult]) -> list[dict[str, Any]]:
    """The `tool_result` blocks answering them (they open the next user turn)."""
    return [
        {"type": "tool_result", "tool_use_id": _call_id(r.call, i), "content": r.content, "is_error": r.is_error}
        for i, r in enumerate(results)
    ]


def anthropic_decode_calls(content: Sequence[Any], *, output_tool: str | None = None) -> tuple[ToolCall, ...]:
    """The `tool_use` blocks of a response, except the one carrying the structured output."""
    calls: list[ToolCall] = []
    for index, block in enumerate(content):
        if as_str(block, "type") != "tool_use":
            continue
        name = as_str(block, "name")
        if name is None or name == output_tool:
            continue
        arguments = parse_arguments(cast(Mapping[str, Any], block).get("input"))
        calls.append(ToolCall(name, arguments, id=as_str(block, "id") or f"call_{index}"))
    return tuple(calls)


# -- Gemini ------------------------------------------------------------------------------------


def gemini_tools(tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    """`tools` of a `generateContent` request (JSON Schema via `parametersJsonSchema`)."""
    return [
        {
            "functionDeclarations": [
                {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters} for t in tools
            ]
        }
    ]


def gemini_tool_config(choice: ToolChoice) -> dict[str, Any]:
    """`toolConfig` for a tool choice."""
    return {"functionCallingConfig": {"mode": "NONE" if choice == "none" else "AUTO"}}


def gemini_call_parts(text: str, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The parts of the model turn that made `calls`, with each call's `thoughtSignature` kept."""
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for call in calls:
        function: dict[str, Any] = {"name": call.name, "args": _arguments_object(call)}
        if call.extra.get("gemini_id"):
            function["id"] = call.extra["gemini_id"]
        part: dict[str, Any] = {"functionCall": function}
        if call.extra.get("thoughtSignature"):
            part["thoughtSignature"] = call.extra["thoughtSignature"]
        parts.append(part)
    return parts


def gemini_result_parts(results: Sequence[ToolResult]) -> list[dict[str, Any]]:
    """One `functionResponse` part per result (`response` must be a JSON object)."""
    parts: list[dict[str, Any]] = []
    for result in results:
        body = {"error": result.content} if result.is_error else {"result": result.value}
        function: dict[str, Any] = {"name": result.call.name, "response": body}
        if result.call.extra.get("gemini_id"):
            function["id"] = result.call.extra["gemini_id"]
        parts.append({"functionResponse": function})
    return parts


def gemini_decode_calls(parts: Sequence[Any]) -> tuple[ToolCall, ...]:
    """The `functionCall` parts of a candidate's content."""
    calls: list[ToolCall] = []
    for index, part in enumerate(parts):
        function = get_dict(part, "functionCall")
        name = as_str(function, "name")
        if name is None:
            continue
        extra: dict[str, Any] = {}
        signature = as_str(part, "thoughtSignature")
        if signature:
            extra["thoughtSignature"] = signature
        given_id = as_str(function, "id")
        if given_id:
            extra["gemini_id"] = given_id
        arguments = parse_arguments(function.get("args"))
        calls.append(ToolCall(name, arguments, id=given_id or f"call_{index}", extra=extra))
    return tuple(calls)


# -- whole requests ----------------------------------------------------------------------------
# Each dialect's `encode` hands a call that offers tools to one of these: they rebuild the
# conversation with the tool turns in place and add the definitions and the tool choice.


def chat_with_tools(call: CallSpec, body: dict[str, Any]) -> None:
    """Complete a Chat Completions body for a call with tools."""
    messages: list[dict[str, Any]] = []
    for m in call.messages:
        if m.kind == "tool_calls":
            messages.append(chat_assistant_message(m.content, m.calls))
        elif m.kind == "tool_results":
            messages.extend(chat_tool_messages(m.results))
        else:
            messages.append(chat_message(m))  # text, data or media, as without tools
    body["messages"] = messages
    body["tools"] = chat_tools(call.tools)
    if call.tool_choice == "none":
        body["tool_choice"] = "none"


def responses_with_tools(call: CallSpec, body: dict[str, Any]) -> None:
    """Complete a Responses body for a call with tools."""
    items: list[dict[str, Any]] = []
    for m in call.messages:
        if m.role == "system":
            continue  # sent as `instructions`
        if m.kind == "tool_calls":
            items.extend(responses_call_items(m.content, m.calls))
        elif m.kind == "tool_results":
            items.extend(responses_result_items(m.results))
        elif m.role == "assistant":
            items.append({"role": "assistant", "content": m.content})
        else:
            items.append({"role": "user", "content": responses_content([m])})
    body["input"] = items
    body["tools"] = responses_tools(call.tools)
    if call.tool_choice == "none":
        body["tool_choice"] = "none"


def _anthropic_blocks(m: Message) -> list[dict[str, Any]]:
    if m.kind == "tool_calls":
        return anthropic_call_blocks(m.content, m.calls)
    if m.kind == "tool_results":
        return anthropic_result_blocks(m.results)
    return anthropic_content([m])


def anthropic_with_tools(call: CallSpec, body: dict[str, Any], *, output_tool: dict[str, Any] | None) -> None:
    """Complete a Messages body for a call with tools.

    `output_tool` is the contract's tool in forced-tool mode: one more tool, and the model must
    call some tool each turn (`any`), or that one once no other may be called.
    """
    body["messages"] = [
        {"role": role, "content": [block for m in group for block in _anthropic_blocks(m)]}
        for role, group in merged_turns(call.messages)
    ]
    tools = anthropic_tools(call.tools)
    if output_tool is not None:
        tools.append(output_tool)
        body["tool_choice"] = (
            {"type": "tool", "name": output_tool["name"]} if call.tool_choice == "none" else {"type": "any"}
        )
    elif call.tool_choice == "none":
        body["tool_choice"] = {"type": "none"}
    body["tools"] = tools


def _gemini_parts(m: Message) -> list[dict[str, Any]]:
    if m.kind == "tool_calls":
        return gemini_call_parts(m.content, m.calls)
    if m.kind == "tool_results":
        return gemini_result_parts(m.results)
    return gemini_content([m])


def gemini_with_tools(call: CallSpec, body: dict[str, Any]) -> None:
    """Complete a `generateContent` body for a call with tools."""
    body["contents"] = [
        {"role": "model" if role == "assistant" else "user", "parts": [p for m in group for p in _gemini_parts(m)]}
        for role, group in merged_turns(call.messages)
    ]
    body["tools"] = gemini_tools(call.tools)
    body["toolConfig"] = gemini_tool_config(call.tool_choice)
