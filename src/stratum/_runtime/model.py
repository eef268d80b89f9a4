"""The model seam: what the runtime sends to a provider, and what comes back.

A provider is anything with a `name` and `async def complete(call) -> Completion`. The
built-in HTTP providers (`stratum.providers`) and the test doubles (`stratum.testing`)
implement it; so can a user's own class, without inheriting from anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from stratum._util.frozen import fast_frozen_init
from stratum._runtime.tool_types import ToolCall, ToolDefinition, ToolResult

if TYPE_CHECKING:
    from stratum._media import Media

__all__ = ("NO_USAGE", "CallSpec", "Completion", "FinishReason", "Message", "Provider", "ToolChoice", "Usage")

FinishReason = Literal["stop", "length", "refusal", "content_filter", "tool_use", "other"]
"""Why the model stopped: normalized across providers."""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one model response, normalized across providers.

    `input_tokens` is the whole input including cached reads and cache writes;
    `output_tokens` includes reasoning/thinking tokens. The other fields are subsets;
    `cache_write_1h_tokens` is the part of `cache_write_tokens` written with a one-hour
    lifetime (Anthropic bills those at a higher rate than five-minute writes).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens: what the `tokens` budget axis counts."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
        )


NO_USAGE = Usage()
"""No tokens at all (a frozen value: shared rather than made again for every empty usage)."""

Role = Literal["system", "user", "assistant"]
ToolChoice = Literal["auto", "none"]
"""`"auto"`: the model may call tools or answer; `"none"`: it must answer now."""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Message:
    """One provider-neutral message.

    `kind="data"` marks the opaque JSON attachment: dialects send it as its own content part,
    never merged into instruction text. `kind="media"` carries one media input (`media`, an
    `Image`, `Document` or `Audio`); its `content` is a short caption naming the input, which
    is all a provider that knows nothing of media would see. A tool round adds two: the model's `"tool_calls"`
    (role assistant; `content` is any text it said alongside, `calls` the calls) and the
    `"tool_results"` (role user; `results`, sent in the provider's tool-result slots; `content`
    is their text, for token estimates only).
    """

    role: Role
    content: str
    kind: Literal["text", "data", "media", "tool_calls", "tool_results"] = "text"
    media: Media | None = None
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CallSpec:
    """Everything a provider needs for one attempt of one `@infer` call.

    Attributes:
        model: the model name as the provider knows it (no `provider:` prefix).
        messages: system, user, data and (on retries) the last output and its violations.
        output_schema: the JSON Schema to request as structured output, or None for plain text.
        output_name: a short name for the schema (`[a-zA-Z0-9_-]`, for `response_format.name`).
        max_tokens: the output cap, already lowered to what the budget can pay for.
        temperature: sampling temperature, or None for the provider default.
        timeout: seconds left before the call's deadline, or None when unbounded.
        function: the qualified name of the `@infer` function (for traces and cassettes).
        attempt: 0 for the first attempt.
        prompt_hash: the compiled prompt's 12-hex hash (the first attempt's).
        contract_hash: the output contract's 12-hex hash.
        attachments: the opaque inputs, by name (also in `messages` as a `data` message).
        prompt_cache: mark the stable prefix (intent, context, schema) as cacheable, for
            providers with explicit cache breakpoints (Anthropic `cache_control`).
        tools: the tools the model may call (empty: none).
        tool_choice: `"none"` when the model must answer without calling a tool.
    """

    model: str
    messages: tuple[Message, ...]
    output_schema: Mapping[str, Any] | None = None
    output_name: str = "result"
    max_tokens: int | None = None
    temperature: float | None = None
    timeout: float | None = None
    function: str = ""
    attempt: int = 0
    prompt_hash: str = ""
    contract_hash: str = ""
    attachments: Mapping[str, Any] = field(default_factory=dict[str, Any])
    prompt_cache: bool = False
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = "auto"

    @property
    def instructions(self) -> str:
        """The instruction text: every text message, in order, without the data attachment."""
        return "\n\n".join(m.content for m in self.messages if m.kind == "text")

    @property
    def system(self) -> str:
        """The system part (intent and context)."""
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    def attachment_json(self) -> str:
        """The opaque attachment as compact JSON (empty string when there is none)."""
        if not self.attachments:
            return ""
        return json.dumps(self.attachments, ensure_ascii=False, sort_keys=True, default=str)


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """One provider response, normalized.

    Attributes:
        text: the output text (the JSON document for structured outputs).
        finish_reason: why the model stopped.
        usage: normalized token usage.
        model: the model id the provider returned (e.g. a dated snapshot).
        request_id: the provider's request id, when it sent one.
        refusal: the refusal text when the model refused.
        fault_retries: how many transport/HTTP fault retries the provider layer made.
        fault_usage: usage reported by responses that were retried as faults (metered too).
        tool_calls: the tools the model asked to call (its `text` is then whatever it said
            alongside, often nothing).
        usage_reported: False when the response said nothing about usage (`usage` is then
            zero and the runtime charges its own estimate instead).
    """

    text: str
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    request_id: str | None = None
    refusal: str | None = None
    fault_retries: int = 0
    fault_usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage_reported: bool = True


@runtime_checkable
class Provider(Protocol):
    """A model backend: the one seam between the runtime and the outside world.

    `name` is the provider part of a model string (`"openai"`). Implementations may also expose
    `price: stratum.pricing.Price | None` (what a call costs when no other price is known) and
    `model_name: str` (the model to use when the provider object is passed as `model=`).
    """

    name: str

    async def complete(self, call: CallSpec, /) -> Completion:
        """Run one attempt and return the normalized completion (raise `ProviderError` on faults)."""
        ...
