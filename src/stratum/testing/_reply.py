"""`Reply`: one scripted answer, and how a scripted output becomes the model's raw text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stratum._runtime.model import FinishReason, Usage
from stratum._runtime.tool_types import ToolCall

__all__ = ("NO_OUTPUT", "Reply", "ToolCall", "UsageLike", "as_usage", "render_output", "split_text")

UsageLike = Usage | tuple[int, int]
"""A `stratum.Usage` or an `(input_tokens, output_tokens)` pair."""


def as_usage(value: UsageLike | None) -> Usage | None:
    """Normalize a `UsageLike` to `Usage` (None stays None)."""
    if value is None or isinstance(value, Usage):
        return value
    return Usage(input_tokens=value[0], output_tokens=value[1])


class _NoOutput:
    """The `output` of a `Reply` that only calls tools."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_OUTPUT"


NO_OUTPUT: Any = _NoOutput()
"""Stands for an omitted `Reply` output (a round that only calls tools)."""


@dataclass(frozen=True, slots=True, init=False)
class Reply:
    """One scripted answer with its own usage, latency and finish reason.

    Example:
        ```python
        Reply({"label": "spam"}, usage=(120, 8), latency_ms=5)
        Reply("", finish_reason="refusal", refusal="I can't help with that.")
        Reply({"label": "spam", "reason": "…"}, chunks=5)   # streamed in 5 pieces
        Reply(tool_calls=[ToolCall("lookup_order", {"order_id": "A-17"})])  # one tool round
        ```

    `chunks` matters when the call is streamed (`fn.stream(...)`): the reply's raw text arrives
    in that many pieces of near-equal length, with `latency_ms` spread over them. A plain
    call ignores it.

    A reply with `tool_calls` is one round of tool calls: the call's tools run and the next
    scripted response answers with their results in the request. Its `output`, when given,
    is text the model says alongside the calls.
    """

    output: Any
    usage: Usage | None
    latency_ms: float | None
    finish_reason: FinishReason
    refusal: str | None
    model: str | None
    chunks: int
    tool_calls: tuple[ToolCall, ...]

    def __init__(
        self,
        output: Any = NO_OUTPUT,
        *,
        tool_calls: Sequence[ToolCall] = (),
        usage: UsageLike | None = None,
        latency_ms: float | None = None,
        finish_reason: FinishReason = "stop",
        refusal: str | None = None,
        model: str | None = None,
        chunks: int = 1,
    ) -> None:
        if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"Reply(chunks={chunks!r}): chunks must be an int of at least 1, e.g. chunks=5")
        calls = tuple(tool_calls)
        if output is NO_OUTPUT and not calls:
            raise ValueError("Reply() needs an output or tool_calls=[ToolCall(name, arguments)]; pass the model's answer")
        for call in calls:
            if not isinstance(call, ToolCall):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(f"Reply(tool_calls=...) takes ToolCall(name, arguments) items, got {call!r}")
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "usage", as_usage(usage))
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "refusal", refusal)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "tool_calls", calls)
        object.__setattr__(self, "chunks", chunks)


def split_text(text: str, chunks: int) -> list[str]:
    """`text` in `chunks` pieces of near-equal length (fewer when the text is shorter)."""
    if not text:
        return []
    count = min(max(chunks, 1), len(text))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def render_output(output: Any) -> str:
    """The raw text a model would send for `output`."""
    if output is NO_OUTPUT:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return json.dumps(output, default=str)
