"""Anthropic Messages dialect and the `Anthropic` provider.

Wire facts: WIRE.md §3. Usage: Anthropic reports cache reads and cache writes *outside*
`input_tokens`, so the normalized input is `input + cache_read + cache_creation` (DESIGN §9).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

from stratum._runtime.model import CallSpec, Completion, FinishReason, Usage
from stratum.exceptions import ConfigurationError
from stratum.providers import _tool_wire
from stratum.providers._dialect import BadReply, as_str, get_dict, merged_turns, usage_int
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Options, Sleep, _HTTPProvider
from stratum.providers._http import api_key as _api_key
from stratum.providers._media_parts import anthropic_content, has_media

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("Anthropic", "AnthropicDialect")

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires `max_tokens`; used when the `@infer` call sets none."""

_STOP: Mapping[str, FinishReason] = MappingProxyType({
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "pause_turn": "other",
})


def _usage(data: Mapping[str, Any]) -> Usage | None:
    usage = get_dict(data, "usage")
    if not usage:
        return None
    read = usage_int(usage, "cache_read_input_tokens")
    write = usage_int(usage, "cache_creation_input_tokens")
    # the split of cache writes by lifetime; one-hour writes cost more than five-minute ones
    hour = usage_int(get_dict(usage, "cache_creation"), "ephemeral_1h_input_tokens")
    return Usage(
        input_tokens=usage_int(usage, "input_tokens") + read + write,
        output_tokens=usage_int(usage, "output_tokens"),
        cached_input_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=0,  # thinking is billed inside output_tokens and not reported apart
        cache_write_1h_tokens=min(hour, write),
    )


class AnthropicDialect:
    """`POST /v1/messages`: native `output_config.format` json_schema, or forced tool use."""

    name = "anthropic"

    def __init__(self, *, structured_output: Literal["native", "tool"] = "native") -> None:
        self._mode = structured_output

    def path(self, call: CallSpec) -> str:
        return "messages"

    def encode(self, call: CallSpec) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        media = has_media(call.messages)
        for role, group in merged_turns(call.messages):
            # consecutive same-role messages become one turn; the data attachment keeps its
            # own text block
            content = anthropic_content(group) if media else [{"type": "text", "text": m.content} for m in group]
            messages.append({"role": role, "content": content})
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens if call.max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if call.system:
            if call.prompt_cache:
                # One breakpoint at the end of the stable prefix: tools (the contract in tool
                # mode), then the system text (intent and context); the output schema is part
                # of the cached prefix too. Below the model's minimum length it is ignored.
                body["system"] = [{"type": "text", "text": call.system, "cache_control": {"type": "ephemeral"}}]
            else:
                body["system"] = call.system
        if call.temperature is not None:
            body["temperature"] = call.temperature
        output_tool: dict[str, Any] | None = None
        if call.output_schema is not None:
            if self._mode == "tool":
                output_tool = {
                    "name": call.output_name,
                    "description": f"Record the {call.output_name} result.",
                    "input_schema": call.output_schema,
                }
                body["tools"] = [output_tool]
                body["tool_choice"] = {"type": "tool", "name": call.output_name}
            else:
                body["output_config"] = {"format": {"type": "json_schema", "schema": call.output_schema}}
        if call.tools:
            _tool_wire.anthropic_with_tools(call, body, output_tool=output_tool)
        return body

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        texts: list[str] = []
        tool_input: Any = None
        raw_content = data.get("content")
        if not isinstance(raw_content, list):
            raise BadReply(f"'content' is {'missing' if raw_content is None else 'a ' + type(raw_content).__name__}, where the reply should be")
        content = cast(list[Any], raw_content)
        # with tools of the caller's own, only the contract's tool carries the output
        output_tool = call.output_name if call.tools and self._mode == "tool" else None
        for block in content:
            kind = as_str(block, "type")
            if kind == "text":
                texts.append(as_str(block, "text") or "")
            elif kind == "tool_use" and tool_input is None and (not call.tools or as_str(block, "name") == output_tool):
                tool_input = block.get("input")
        stop = as_str(data, "stop_reason") or ""
        reason: FinishReason = _STOP.get(stop, "other")
        refusal: str | None = None
        if reason == "refusal":
            details = get_dict(data, "stop_details")
            refusal = "".join(texts) or as_str(details, "explanation") or "refused"
        if tool_input is not None and call.output_schema is not None:
            # forced tool use: the single tool_use block's input is the output, whatever its name
            text = json.dumps(tool_input, ensure_ascii=False)
        else:
            text = "".join(texts)
        usage = _usage(data)
        return Completion(
            text=text,
            finish_reason=reason,
            usage=usage or Usage(),
            usage_reported=usage is not None,
            model=as_str(data, "model"),
            request_id=headers.get("request-id") or as_str(data, "id"),
            refusal=refusal,
            tool_calls=_tool_wire.anthropic_decode_calls(content, output_tool=output_tool) if call.tools else (),
        )

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        return _usage(data)


def _env_base_url() -> str | None:
    """`ANTHROPIC_BASE_URL`, which the Anthropic SDK reads without the `/v1` it appends itself."""
    root = os.environ.get("ANTHROPIC_BASE_URL", "").rstrip("/")
    if not root:
        return None
    return root if root.endswith("/v1") else f"{root}/v1"


class Anthropic(_HTTPProvider):
    """Anthropic's Messages API.

    The key comes from `api_key=` or `ANTHROPIC_API_KEY`; a missing key raises
    `ConfigurationError` when the provider is constructed.

    Args:
        api_key: the key; defaults to the `ANTHROPIC_API_KEY` environment variable.
        base_url: the API root, `/v1` included; defaults to `ANTHROPIC_BASE_URL` (with `/v1`
            appended when it lacks it, as the Anthropic SDK reads it) or `https://api.anthropic.com/v1`.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        structured_output: `"native"` (`output_config.format` json_schema, the default) or
            `"tool"` (one tool whose input schema is the contract, forced with `tool_choice`;
            for models without native structured outputs).
        anthropic_version: the `anthropic-version` header.
        beta: `anthropic-beta` features to enable, if any.
        max_retries, max_concurrency, model, price, transport, sleep, jitter, rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        *,
        structured_output: Literal["native", "tool"] = "native",
        anthropic_version: str = ANTHROPIC_VERSION,
        beta: tuple[str, ...] = (),
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        name: str = "anthropic",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if structured_output not in ("native", "tool"):
            raise ConfigurationError(
                f"structured_output must be 'native' or 'tool', got {structured_output!r}; pass "
                "structured_output='tool' for models without native structured outputs"
            )
        key = _api_key(api_key, ("ANTHROPIC_API_KEY",), "Anthropic")
        headers = {"x-api-key": key, "anthropic-version": anthropic_version}
        if beta:
            headers["anthropic-beta"] = ",".join(beta)
        self.structured_output = structured_output
        super().__init__(
            name=name,
            dialect=AnthropicDialect(structured_output=structured_output),
            base_url=base_url or _env_base_url() or "https://api.anthropic.com/v1",
            headers=headers,
            secret=key,
            options=Options(
                http_client=http_client,
                transport=transport,
                max_retries=max_retries,
                max_concurrency=max_concurrency,
                model=model,
                price=price,
                sleep=sleep,
                jitter=jitter,
                rate_limit=rate_limit,
            ),
        )
