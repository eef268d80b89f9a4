"""Offline token estimation for budget reservations.

The reservation must be an upper bound: the estimate is multiplied by a safety margin for
input, and the output side is the call's `max_tokens`.

Models with a known OpenAI encoding (gpt-4o, gpt-4.1, gpt-5, o-series → `o200k_base`; gpt-4,
gpt-3.5 → `cl100k_base`) are counted with that tokenizer, loaded offline (`_encodings`). Every
other model gets the conservative UTF-8 bytes / 3 count, marked `approximate`. Media inputs
(images, documents, audio) add their worst-case tokens by the provider's rule (`_media_tokens`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratum._runtime.model import CallSpec, Message
from stratum._util.model_strings import is_local
from stratum.pricing._encodings import encoding, encoding_name_for
from stratum.pricing._media_tokens import media_tokens

__all__ = (
    "INPUT_SAFETY_MARGIN",
    "MESSAGE_OVERHEAD_TOKENS",
    "SCHEMA_OVERHEAD_TOKENS",
    "Estimate",
    "count_text_tokens",
    "estimate",
    "estimate_parts",
    "estimate_text_tokens",
)

INPUT_SAFETY_MARGIN = 1.15
"""Multiplier applied to estimated input tokens when reserving budget."""

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a provider adds around each message (role markers, separators)."""

SCHEMA_OVERHEAD_TOKENS = 350
"""Tokens a provider may add for a structured-output request that the request text does not show.

Anthropic documents a hidden tool-use system prompt of 313-346 tokens on Claude 4 models, and
the real cassettes show native structured outputs billed ~100 tokens above their text. Added to
approximate estimates of calls with an output schema, so reservations stay an upper bound."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A worst-case token estimate for one attempt.

    Attributes:
        input_tokens: estimated input tokens (before the safety margin).
        reserved_input_tokens: what the reservation counts (with the margin).
        output_tokens: the output cap (`max_tokens`), or None when unbounded.
        approximate: True when no exact tokenizer was available for the model.
        encoding: the tiktoken encoding used (`"o200k_base"`...), None for the bytes/3 count.
    """

    input_tokens: int
    reserved_input_tokens: int
    output_tokens: int | None
    approximate: bool
    encoding: str | None = None


def estimate_text_tokens(text: str) -> int:
    """A conservative token count for any tokenizer: UTF-8 bytes / 3, rounded up."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def count_text_tokens(text: str, encoding_name: str | None) -> int:
    """Tokens of `text` in `encoding_name`, or the conservative bytes/3 count when it is None."""
    if encoding_name is None:
        return estimate_text_tokens(text)
    return len(encoding(encoding_name).encode_ordinary(text))


@functools.lru_cache(maxsize=2048)
def _fixed_text_tokens(text: str, encoding_name: str | None) -> int:
    """`count_text_tokens` for text that repeats across calls (system messages: intent + context)."""
    return count_text_tokens(text, encoding_name)


@dataclass(frozen=True, slots=True)
class _SchemaKey:
    """Caches a schema's token count by its contract hash (the schema itself is not hashable)."""

    contract_hash: str
    encoding: str | None
    schema: Mapping[str, Any] = field(compare=False, hash=False)


@functools.lru_cache(maxsize=1024)
def _schema_tokens(key: _SchemaKey) -> int:
    return count_text_tokens(json.dumps(key.schema, separators=(",", ":")), key.encoding)


def estimate(
    call: CallSpec, provider: str | None = None, *, schema_overhead: int = SCHEMA_OVERHEAD_TOKENS
) -> Estimate:
    """Estimate the input tokens of one attempt (messages, attachment and output schema).

    Args:
        call: the attempt about to be sent; `call.model` picks the tokenizer.
        provider: the provider name from the model string (`"openai"`, `"openrouter"`...);
            models served by a local runtime (`ollama`, `vllm`...) are counted approximately,
            since their weights may carry another tokenizer than the name suggests.
        schema_overhead: hidden tokens a provider may add to a structured-output request, added
            to approximate estimates (test doubles declare 0).

    Example:
        ```python
        est = estimate(call, "openai")
        est.reserved_input_tokens   # est.input_tokens × INPUT_SAFETY_MARGIN, rounded up
        ```
    """
    return estimate_parts(
        call.model,
        call.messages,
        call.output_schema,
        call.contract_hash,
        call.max_tokens,
        provider,
        schema_overhead=schema_overhead,
    )


def estimate_parts(
    model: str,
    messages: Sequence[Message],
    output_schema: Mapping[str, Any] | None,
    contract_hash: str,
    max_tokens: int | None,
    provider: str | None,
    *,
    schema_overhead: int = SCHEMA_OVERHEAD_TOKENS,
) -> Estimate:
    """`estimate` from the parts of a call, before the `CallSpec` exists (the executor's path)."""
    name = None if provider and is_local(provider) else encoding_name_for(model)
    tokens = len(messages) * MESSAGE_OVERHEAD_TOKENS
    for m in messages:
        count = _fixed_text_tokens if m.role == "system" else count_text_tokens
        tokens += count(m.content, name)
        if m.media is not None:  # an image, document or audio input: by the provider's rule
            tokens += media_tokens(m.media, model, provider, lambda text: count_text_tokens(text, name))
    if output_schema is not None:
        if contract_hash:
            tokens += _schema_tokens(_SchemaKey(contract_hash, name, output_schema))
        else:
            tokens += count_text_tokens(json.dumps(output_schema, separators=(",", ":")), name)
        if name is None:
            tokens += schema_overhead
    return Estimate(
        input_tokens=tokens,
        reserved_input_tokens=math.ceil(tokens * INPUT_SAFETY_MARGIN),
        output_tokens=max_tokens,
        approximate=name is None,
        encoding=name,
    )
