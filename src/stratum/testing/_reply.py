"""`Reply`: one scripted answer, and how a scripted output becomes the model's raw text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stratum._runtime.model import FinishReason, Usage

__all__ = ("Reply", "UsageLike", "as_usage", "render_output")

UsageLike = Usage | tuple[int, int]
"""A `stratum.Usage` or an `(input_tokens, output_tokens)` pair."""


def as_usage(value: UsageLike | None) -> Usage | None:
    """Normalize a `UsageLike` to `Usage` (None stays None)."""
    if value is None or isinstance(value, Usage):
        return value
    return Usage(input_tokens=value[0], output_tokens=value[1])


@dataclass(frozen=True, slots=True, init=False)
class Reply:
    """One scripted answer with its own usage, latency and finish reason.

    Example:
        ```python
        Reply({"label": "spam"}, usage=(120, 8), latency_ms=5)
        Reply("", finish_reason="refusal", refusal="I can't help with that.")
        ```
    """

    output: Any
    usage: Usage | None
    latency_ms: float | None
    finish_reason: FinishReason
    refusal: str | None
    model: str | None

    def __init__(
        self,
        output: Any,
        *,
        usage: UsageLike | None = None,
        latency_ms: float | None = None,
        finish_reason: FinishReason = "stop",
        refusal: str | None = None,
        model: str | None = None,
    ) -> None:
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "usage", as_usage(usage))
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "refusal", refusal)
        object.__setattr__(self, "model", model)


def render_output(output: Any) -> str:
    """The raw text a model would send for `output`."""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return json.dumps(output, default=str)
