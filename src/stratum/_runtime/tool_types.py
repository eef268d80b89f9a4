"""The tool-calling values that cross the model seam: definitions, calls and results.

A provider receives `ToolDefinition`s (what the model may call), returns `ToolCall`s (what
the model asked for), and is sent `ToolResult`s (what the tools answered). These are plain
values with no behaviour, shared by the runtime, the wire dialects and the test doubles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ("ToolCall", "ToolDefinition", "ToolResult")


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    """One tool the model may call: a name, a description and the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """A JSON Schema object (`{"type": "object", "properties": ...}`)."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call of a tool the model asked for (or that a `ScriptedModel` script asks for).

    Example:
        ```python
        Reply(tool_calls=[ToolCall("lookup_order", {"order_id": "A-17"})])
        ```

    Attributes:
        name: the tool's name.
        arguments: the arguments as a JSON object, or the raw text when the model sent
            something that is not a JSON object (it is then reported back as a bad argument).
        id: the provider's id for this call (tool results refer to it); made up when the
            provider sends none.
        extra: provider data that must be sent back with the call verbatim (Gemini's
            `thoughtSignature`); never shown to users.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict[str, Any])
    id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict[str, Any], repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """What one tool call answered, as sent back to the model.

    Attributes:
        call: the call this answers.
        content: the result as text (a `str` result as is; anything else, and every opaque
            result, as JSON).
        value: the result as a JSON value (for dialects that want structured results).
        is_error: True when this reports a failure (a bad argument, or an exception the tool
            declared with `retry_on=`) rather than a result.
        data: True for an `opaque[T]` result: data for the model to read, never instructions.
    """

    call: ToolCall
    content: str
    value: Any = None
    is_error: bool = False
    data: bool = False
