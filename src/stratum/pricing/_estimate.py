"""Offline token estimation for budget reservations.

The reservation must be an upper bound: the estimate is multiplied by a safety margin for
input, and the output side is the call's `max_tokens`.

Models with a known OpenAI encoding (gpt-4o, gpt-4.1, gpt-5, o-series → `o200k_base`; gpt-4,
gpt-3.5 → `cl100k_base`) are counted in two steps. First the UTF-8 bytes of the text: every
tiktoken encoding is a byte-level BPE, so each token is at least one byte and the byte count is
a strict upper bound on the token count, had without loading the tokenizer (`Estimate.bound`).
Then, only when asked (`Estimate.refined`), exactly with the tokenizer, loaded offline once per
process (`_encodings`, ~80 MB and ~0.5 s). The runtime asks only when the bound does not fit
what a budget has left (`stratum._runtime.reservations`).

Every other model gets the conservative UTF-8 bytes / 3 count, marked `approximate`. Media
inputs (images, documents, audio) add their worst-case tokens by the provider's rule
(`_media_tokens`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratum._util.frozen import fast_frozen_init
from stratum._runtime.model import CallSpec, Message
from stratum._util.model_strings import is_local
from stratum.pricing._encodings import encoding, encoding_name_for
from stratum.pricing._media_tokens import media_tokens

__all__ = (
    "INPUT_SAFETY_MARGIN",
    "MESSAGE_OVERHEAD_TOKENS",
    "SCHEMA_OVERHEAD_TOKENS",
    "Estimate",
    "count_like",
    "count_text_tokens",
    "estimate",
    "estimate_parts",
    "estimate_text_tokens",
    "utf8_bytes",
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


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class _Request:
    """What an estimate counted, kept so that a bound can be counted again exactly."""

    model: str
    messages: Sequence[Message]
    output_schema: Mapping[str, Any] | None
    contract_hash: str
    provider: str | None


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Estimate:
    """A worst-case token estimate for one attempt.

    Attributes:
        input_tokens: estimated input tokens (before the safety margin).
        reserved_input_tokens: what the reservation counts (with the margin).
        output_tokens: the output cap (`max_tokens`), or None when unbounded.
        approximate: True when no exact tokenizer is known for the model (bytes / 3).
        encoding: the model's tiktoken encoding (`"o200k_base"`...), None for the bytes/3 count.
        bound: True when the text was counted as UTF-8 bytes, a strict upper bound on what
            `encoding` counts; `refined()` counts it exactly.
    """

    input_tokens: int
    reserved_input_tokens: int
    output_tokens: int | None
    approximate: bool
    encoding: str | None = None
    bound: bool = False
    _request: _Request | None = field(default=None, repr=False, compare=False)

    def refined(self) -> Estimate:
        """This estimate counted exactly with its tokenizer, loaded on first use (~80 MB, ~0.5 s
        once per process); the estimate itself when it is already exact or approximate."""
        request = self._request
        if not self.bound or request is None or self.encoding is None:
            return self
        tokens = _input_tokens(
            request.model, request.messages, request.output_schema, request.contract_hash, request.provider,
            self.encoding, exact=True,
        )
        return Estimate(
            input_tokens=tokens,
            reserved_input_tokens=math.ceil(tokens * INPUT_SAFETY_MARGIN),
            output_tokens=self.output_tokens,
            approximate=False,
            encoding=self.encoding,
        )


def estimate_text_tokens(text: str) -> int:
    """A conservative token count for any tokenizer: UTF-8 bytes / 3, rounded up."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def utf8_bytes(text: str) -> int:
    """The UTF-8 bytes of `text`: an upper bound on its tokens in any byte-level BPE (tiktoken's).

    A lone surrogate counts 3 bytes, as the U+FFFD tiktoken replaces it with."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def count_text_tokens(text: str, encoding_name: str | None, *, exact: bool = True) -> int:
    """Tokens of `text` in `encoding_name` (its UTF-8 bytes, an upper bound, when not `exact`),
    or the conservative bytes/3 count when `encoding_name` is None."""
    if encoding_name is None:
        return estimate_text_tokens(text)
    if not exact:
        return utf8_bytes(text)
    return len(encoding(encoding_name).encode_ordinary(text))


def count_like(estimate: Estimate, text: str) -> int:
    """Tokens of `text` counted the way `estimate` was: bytes/3, UTF-8 bytes, or exactly."""
    return count_text_tokens(text, estimate.encoding, exact=not estimate.bound)


@functools.lru_cache(maxsize=2048)
def _fixed_text_tokens(text: str, encoding_name: str | None, exact: bool) -> int:
    """`count_text_tokens` for text that repeats across calls (system messages: intent + context)."""
    return count_text_tokens(text, encoding_name, exact=exact)


class _SchemaKey:
    """Caches a schema's token count by its contract hash (the schema itself is not hashable).

    A plain class rather than a frozen dataclass: one is made on every estimate."""

    __slots__ = ("contract_hash", "encoding", "exact", "schema")

    def __init__(self, contract_hash: str, encoding: str | None, exact: bool, schema: Mapping[str, Any]) -> None:
        self.contract_hash = contract_hash
        self.encoding = encoding
        self.exact = exact
        self.schema = schema

    def __hash__(self) -> int:
        return hash((self.contract_hash, self.encoding, self.exact))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _SchemaKey)
            and self.contract_hash == other.contract_hash
            and self.encoding == other.encoding
            and self.exact == other.exact
        )


@functools.lru_cache(maxsize=1024)
def _schema_tokens(key: _SchemaKey) -> int:
    return count_text_tokens(json.dumps(key.schema, separators=(",", ":")), key.encoding, exact=key.exact)


def _counter(name: str | None, exact: bool) -> Callable[[str], int]:
    """How text is counted: bytes/3 (no known tokenizer), UTF-8 bytes (the bound) or exactly."""
    if name is None:
        return estimate_text_tokens
    if not exact:
        return utf8_bytes
    tokenizer = encoding(name)
    return lambda text: len(tokenizer.encode_ordinary(text))


def _input_tokens(
    model: str,
    messages: Sequence[Message],
    output_schema: Mapping[str, Any] | None,
    contract_hash: str,
    provider: str | None,
    name: str | None,
    *,
    exact: bool,
) -> int:
    """Messages with their framing, media inputs and the output schema, counted in `name`
    (exactly, or as UTF-8 bytes), or as bytes/3 when `name` is None."""
    count = _counter(name, exact)
    tokens = len(messages) * MESSAGE_OVERHEAD_TOKENS
    for m in messages:
        tokens += _fixed_text_tokens(m.content, name, exact) if m.role == "system" else count(m.content)
        if m.media is not None:  # an image, document or audio input: by the provider's rule
            tokens += media_tokens(m.media, model, provider, count)
    if output_schema is not None:
        if contract_hash:
            tokens += _schema_tokens(_SchemaKey(contract_hash, name, exact, output_schema))
        else:
            tokens += count(json.dumps(output_schema, separators=(",", ":")))
    return tokens


@functools.lru_cache(maxsize=1024)
def _encoding_of(provider: str | None, model: str) -> str | None:
    """The model's known tokenizer; None for models served by a local runtime (`ollama`...),
    whose weights may carry another tokenizer than the name suggests."""
    return None if provider and is_local(provider) else encoding_name_for(model)


def estimate(
    call: CallSpec, provider: str | None = None, *, schema_overhead: int = SCHEMA_OVERHEAD_TOKENS
) -> Estimate:
    """Estimate the input tokens of one attempt (messages, attachment and output schema).

    For a model with a known tokenizer this is the cheap upper bound a reservation starts from
    (`bound=True`: UTF-8 bytes); `.refined()` gives the exact count.

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
        est.refined().input_tokens  # counted with the model's tokenizer (o200k_base)
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
    """`estimate` from the parts of a call, before the `CallSpec` exists (the executor's path).

    Never loads a tokenizer: a model with a known one gets the UTF-8 byte bound (`bound=True`).
    """
    name = _encoding_of(provider, model)
    tokens = _input_tokens(model, messages, output_schema, contract_hash, provider, name, exact=False)
    if name is None:
        if output_schema is not None:
            tokens += schema_overhead
        return Estimate(
            input_tokens=tokens,
            reserved_input_tokens=math.ceil(tokens * INPUT_SAFETY_MARGIN),
            output_tokens=max_tokens,
            approximate=True,
        )
    return Estimate(
        input_tokens=tokens,
        reserved_input_tokens=math.ceil(tokens * INPUT_SAFETY_MARGIN),
        output_tokens=max_tokens,
        approximate=False,
        encoding=name,
        bound=True,
        _request=_Request(model, messages, output_schema, contract_hash, provider),
    )
