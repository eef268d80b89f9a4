"""OpenAI dialects (Chat Completions and Responses) and the `OpenAI` / `OpenAICompatible` providers.

Wire facts: WIRE.md §1, §2, §5. Usage: OpenAI counts cached tokens inside `prompt_tokens`
(`input_tokens`) and reasoning tokens inside `completion_tokens` (`output_tokens`), which is
already Stratum's normalized shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

from stratum._runtime.model import CallSpec, Completion, FinishReason, Usage
from stratum.exceptions import ConfigurationError, ProviderError
from stratum.providers import _tool_wire
from stratum.providers._dialect import BadReply, as_str, get_dict, get_list, merged_turns, text_of, usage_int
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Options, Sleep, _HTTPProvider
from stratum.providers._http import api_key as _api_key
from stratum.providers._media_parts import chat_message, has_media, responses_content
from stratum.providers._schema import StrictSchema, drop_added_nulls, to_strict

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("OpenAI", "OpenAIChatDialect", "OpenAICompatible", "OpenAIResponsesDialect")

_CHAT_FINISH: Mapping[str, FinishReason] = MappingProxyType({
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    # what OpenAI-compatible servers send instead (Together, TGI, vLLM, llama.cpp...)
    "eos": "stop",
    "eos_token": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_length": "length",
})


class _StrictCache:
    """`to_strict` results by schema object: a contract's schema is the same object every call."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Mapping[str, Any], StrictSchema]] = {}

    def get(self, schema: Mapping[str, Any], strict: bool) -> StrictSchema:
        entry = self._entries.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
        result = to_strict(schema) if strict else StrictSchema(schema, strict=False, nullable_added=False)
        if len(self._entries) > 256:
            self._entries.clear()
        self._entries[id(schema)] = (schema, result)
        return result


def _chat_usage(data: Mapping[str, Any]) -> Usage | None:
    usage = get_dict(data, "usage")
    if not usage:
        return None
    prompt = get_dict(usage, "prompt_tokens_details")
    completion = get_dict(usage, "completion_tokens_details")
    return Usage(
        input_tokens=usage_int(usage, "prompt_tokens"),
        output_tokens=usage_int(usage, "completion_tokens"),
        cached_input_tokens=usage_int(prompt, "cached_tokens"),
        cache_write_tokens=usage_int(prompt, "cache_write_tokens"),
        reasoning_tokens=usage_int(completion, "reasoning_tokens"),
    )


def _request_id(data: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id") or as_str(data, "id")


class OpenAIChatDialect:
    """`POST /chat/completions` with `response_format` json_schema (strict when possible)."""

    name = "openai-chat"

    def __init__(self, *, strict: bool = True, max_tokens_field: str = "max_completion_tokens") -> None:
        self._strict = strict
        self._max_tokens_field = max_tokens_field
        self._cache = _StrictCache()

    def path(self, call: CallSpec) -> str:
        return "chat/completions"

    def encode(self, call: CallSpec) -> dict[str, Any]:
        # One chat message per stratum message: the data attachment is its own user message,
        # which every OpenAI-compatible server accepts (not all take content-part lists).
        body: dict[str, Any] = {
            "model": call.model,
            "messages": [{"role": m.role, "content": m.content} for m in call.messages]
            if not has_media(call.messages)
            else [chat_message(m) for m in call.messages],
        }
        if call.max_tokens is not None:
            body[self._max_tokens_field] = call.max_tokens
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.output_schema is not None:
            strict = self._cache.get(call.output_schema, self._strict)
            fmt: dict[str, Any] = {"name": call.output_name, "schema": strict.schema}
            if self._strict:
                fmt["strict"] = strict.strict
            body["response_format"] = {"type": "json_schema", "json_schema": fmt}
        if call.tools:
            _tool_wire.chat_with_tools(call, body)
        return body

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        choices: Any = data.get("choices")
        if not isinstance(choices, list) or not choices:
            shown = "missing" if choices is None else "empty" if isinstance(choices, list) else f"a {type(choices).__name__}"
            raise BadReply(f"'choices' is {shown}, where the reply should be")
        choice: Any = cast(list[Any], choices)[0]
        if not isinstance(choice, dict):
            raise BadReply(f"choices[0] is a {type(choice).__name__}, not an object")
        message = get_dict(choice, "message")
        text = text_of(message.get("content"), "the message content")
        refusal = as_str(message, "refusal")
        reason: FinishReason = _CHAT_FINISH.get(as_str(choice, "finish_reason") or "", "other")
        if refusal:
            reason = "refusal"
        elif text and call.output_schema is not None and self._strict:
            text = drop_added_nulls(text, self._cache.get(call.output_schema, True))
        usage = _chat_usage(data)
        return Completion(
            text=text,
            finish_reason=reason,
            usage=usage or Usage(),
            usage_reported=usage is not None,
            model=as_str(data, "model"),
            request_id=_request_id(data, headers),
            refusal=refusal,
            tool_calls=_tool_wire.chat_decode_calls(message) if call.tools else (),
        )

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        return _chat_usage(data)


def _responses_usage(data: Mapping[str, Any]) -> Usage | None:
    usage = get_dict(data, "usage")
    if not usage:
        response = get_dict(data, "response")  # error events wrap the response
        return _responses_usage(response) if response else None
    inputs = get_dict(usage, "input_tokens_details")
    outputs = get_dict(usage, "output_tokens_details")
    return Usage(
        input_tokens=usage_int(usage, "input_tokens"),
        output_tokens=usage_int(usage, "output_tokens"),
        cached_input_tokens=usage_int(inputs, "cached_tokens"),
        cache_write_tokens=usage_int(inputs, "cache_write_tokens"),
        reasoning_tokens=usage_int(outputs, "reasoning_tokens"),
    )


class OpenAIResponsesDialect:
    """`POST /responses` with the flat `text.format` json_schema."""

    name = "openai-responses"

    def __init__(self, *, strict: bool = True) -> None:
        self._strict = strict
        self._cache = _StrictCache()

    def path(self, call: CallSpec) -> str:
        return "responses"

    def encode(self, call: CallSpec) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        media = has_media(call.messages)
        for role, group in merged_turns(call.messages):
            if role == "assistant":
                items.append({"role": "assistant", "content": "\n\n".join(m.content for m in group)})
            else:
                # the data attachment is its own input_text part, never merged into the text
                content = responses_content(group) if media else [{"type": "input_text", "text": m.content} for m in group]
                items.append({"role": "user", "content": content})
        body: dict[str, Any] = {"model": call.model, "input": items, "store": False}
        if call.system:
            body["instructions"] = call.system
        if call.max_tokens is not None:
            body["max_output_tokens"] = call.max_tokens
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.output_schema is not None:
            strict = self._cache.get(call.output_schema, self._strict)
            body["text"] = {
                "format": {"type": "json_schema", "name": call.output_name, "schema": strict.schema, "strict": strict.strict}
            }
        if call.tools:
            _tool_wire.responses_with_tools(call, body)
        return body

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        status = as_str(data, "status")
        if status == "failed":
            error = get_dict(data, "error")
            exc = ProviderError(
                f"OpenAI Responses reported status 'failed' ({as_str(error, 'code') or 'no code'}: "
                f"{as_str(error, 'message') or 'no message'}); retry later or check the request",
                model=call.model,
            )
            exc.usage = _responses_usage(data)  # pyright: ignore[reportAttributeAccessIssue]
            raise exc
        texts: list[str] = []
        refusal: str | None = None
        tool_call = False
        raw_output = data.get("output")
        if not isinstance(raw_output, list):
            raise BadReply(f"'output' is {'missing' if raw_output is None else 'a ' + type(raw_output).__name__}, where the reply should be")
        output = cast(list[Any], raw_output)
        for item in output:
            kind = as_str(item, "type")
            if kind == "message":
                for part in get_list(item, "content"):
                    part_kind = as_str(part, "type")
                    if part_kind == "output_text":
                        texts.append(as_str(part, "text") or "")
                    elif part_kind == "refusal":
                        refusal = as_str(part, "refusal") or "refused"
            elif kind == "function_call":
                tool_call = True
        text = "".join(texts)
        reason: FinishReason = "stop"
        incomplete = as_str(get_dict(data, "incomplete_details"), "reason")
        if refusal:
            reason = "refusal"
        elif incomplete == "max_output_tokens":
            reason = "length"
        elif incomplete == "content_filter":
            reason = "content_filter"
        elif status == "incomplete":
            reason = "other"
        elif tool_call and not text:
            reason = "tool_use"
        if text and reason == "stop" and call.output_schema is not None and self._strict:
            text = drop_added_nulls(text, self._cache.get(call.output_schema, True))
        usage = _responses_usage(data)
        return Completion(
            text=text,
            finish_reason=reason,
            usage=usage or Usage(),
            usage_reported=usage is not None,
            model=as_str(data, "model"),
            request_id=_request_id(data, headers),
            refusal=refusal,
            tool_calls=_tool_wire.responses_decode_calls(output) if call.tools and tool_call else (),
        )

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        return _responses_usage(data)


_OPENAI_BASE = "https://api.openai.com/v1"


class OpenAI(_HTTPProvider):
    """OpenAI's API (or an Azure/proxy endpoint speaking it), Chat Completions or Responses.

    The key comes from `api_key=` or `OPENAI_API_KEY`; a missing key raises
    `ConfigurationError` when the provider is constructed.

    Example:
        ```python
        stratum.configure(providers={"oai": OpenAI(api="responses")})

        @infer("Classify the ticket", model="oai:gpt-4.1-mini")
        def classify(text: str) -> Ticket: ...
        ```

    Args:
        api_key: the key; defaults to the `OPENAI_API_KEY` environment variable.
        base_url: the API root; defaults to `OPENAI_BASE_URL` or `https://api.openai.com/v1`.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        api: `"chat"` (Chat Completions) or `"responses"` (Responses API).
        max_retries: transient-fault retries per attempt (408/409/429/5xx, connection errors).
        max_concurrency: requests in flight at once (also the connection pool size).
        model: the model to use when this object is passed as `@infer(model=...)`.
        price: what a call costs, when the pricing catalog does not know the model.
        organization: optional `OpenAI-Organization` header.
        project: optional `OpenAI-Project` header.
        transport: an `httpx2` transport for the clients this provider makes itself (one per
            event loop), e.g. `httpx2.MockTransport` in tests.
        sleep: how to wait between fault retries (tests pass a fake; default `anyio.sleep`).
        jitter: a `() -> float in [0, 1)` for backoff jitter (default `random.random`).
        rate_limit: a `RateLimit` (requests/min, tokens/min, the provider's rate-limit headers)
            applied to every request of this provider object, fault retries included.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        api: Literal["chat", "responses"] = "chat",
        *,
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        organization: str | None = None,
        project: str | None = None,
        name: str = "openai",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if api not in ("chat", "responses"):
            raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}; pass api='chat'")
        key = _api_key(api_key, ("OPENAI_API_KEY",), "OpenAI")
        headers = {"authorization": f"Bearer {key}"}
        if organization:
            headers["openai-organization"] = organization
        if project:
            headers["openai-project"] = project
        self.api = api
        super().__init__(
            name=name,
            dialect=OpenAIChatDialect() if api == "chat" else OpenAIResponsesDialect(),
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or _OPENAI_BASE,
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


class OpenAICompatible(_HTTPProvider):
    """Any server speaking OpenAI Chat Completions: Ollama, vLLM, llama.cpp, Groq, OpenRouter...

    Structured output is requested as `response_format` json_schema without `strict` (local
    servers treat it as best effort; the contract validates the result either way).

    Example:
        ```python
        stratum.configure(providers={"local": OpenAICompatible("http://localhost:8000/v1")})
        ```

    Args:
        base_url: the API root, e.g. `http://localhost:11434/v1`.
        api_key: sent as `Authorization: Bearer`, when the server wants one.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        name: the provider name in traces and interceptors.
        strict: send `strict: true` with a strict-transformed schema (for servers that honour it).
        max_tokens_field: `"max_tokens"` (most servers) or `"max_completion_tokens"`.
        max_retries, max_concurrency, model, price, transport, sleep, jitter, rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        http_client: Any = None,
        *,
        name: str = "openai-compatible",
        strict: bool = False,
        max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                "OpenAICompatible needs base_url, e.g. OpenAICompatible('http://localhost:11434/v1')"
            )
        sent = dict(headers or {})
        if api_key:
            sent["authorization"] = f"Bearer {_api_key(api_key, (), name)}"
        super().__init__(
            name=name,
            dialect=OpenAIChatDialect(strict=strict, max_tokens_field=max_tokens_field),
            base_url=base_url,
            headers=sent,
            secret=api_key,
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
