"""`Reply`: one scripted answer, and how a scripted output becomes the model's raw text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stratum._runtime.model import FinishReason, Usage

__all__ = ("Reply", "UsageLike", "as_usage", "render_output", "split_text")

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
        Reply({"label": "spam", "reason": "…"}, chunks=5)   # streamed in 5 pieces
        ```

    `chunks` matters when the call is streamed (`fn.stream(...)`): the reply's raw text arrives
    in that many pieces of near-equal length, with `latency_ms` spread over them. A plain
    call ignores it.
    """

    output: Any
    usage: Usage | None
    latency_ms: float | None
    finish_reason: FinishReason
    refusal: str | None
    model: str | None
    chunks: int

    def __init__(
        self,
        output: Any,
        *,
        usage: UsageLike | None = None,
        latency_ms: float | None = None,
        finish_reason: FinishReason = "stop",
        refusal: str | None = None,
        model: str | None = None,
        chunks: int = 1,
    ) -> None:
        if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"Reply(chunks={chunks!r}): chunks must be an int of at least 1, e.g. chunks=5")
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "usage", as_usage(usage))
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "refusal", refusal)
        object.__setattr__(self, "model", model)
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
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return json.dumps(output, default=str)
