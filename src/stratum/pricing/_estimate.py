"""Offline token estimation for budget reservations.

The reservation must be an upper bound: the estimate is multiplied by a safety margin for
input, and the output side is the call's `max_tokens`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stratum._model import CallSpec

__all__ = ("INPUT_SAFETY_MARGIN", "Estimate", "estimate", "estimate_text_tokens")

INPUT_SAFETY_MARGIN = 1.15
"""Multiplier applied to estimated input tokens when reserving budget."""

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a provider adds around each message (role markers, separators)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A worst-case token estimate for one attempt.

    Attributes:
        input_tokens: estimated input tokens (before the safety margin).
        reserved_input_tokens: what the reservation counts (with the margin).
        output_tokens: the output cap (`max_tokens`), or None when unbounded.
        approximate: True when no exact tokenizer was available for the model.
    """

    input_tokens: int
    reserved_input_tokens: int
    output_tokens: int | None
    approximate: bool


def estimate_text_tokens(text: str) -> int:
    """A conservative token count for any tokenizer: UTF-8 bytes / 3, rounded up."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def estimate(call: CallSpec) -> Estimate:
    """Estimate the tokens of one attempt (messages, attachment and output schema)."""
    text_tokens = sum(estimate_text_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in call.messages)
    if call.output_schema is not None:
        import json

        text_tokens += estimate_text_tokens(json.dumps(call.output_schema, separators=(",", ":")))
    return Estimate(
        input_tokens=text_tokens,
        reserved_input_tokens=math.ceil(text_tokens * INPUT_SAFETY_MARGIN),
        output_tokens=call.max_tokens,
        approximate=True,
    )
