"""Streaming over server-sent events, one decoder per wire dialect.

Each decoder turns the SSE events of one response into `TextDelta` / `UsageReport` events
and, at the end, rebuilds the body the non-streaming endpoint would have returned and hands
it to the dialect's own `decode`: refusals, truncation, content filters, strict-schema nulls
and usage normalization stay in one place.

Wire shapes (all seen in real recordings):
- OpenAI Chat: unnamed `data:` chunks, `data: [DONE]` at the end; usage only in a last chunk
  with `choices: []`, and only when `stream_options.include_usage` is sent.
- OpenAI Responses: named `response.*` events; text in `response.output_text.delta`, the
  whole response (usage included) in `response.completed` / `.incomplete` / `.failed`.
- Anthropic: `message_start` (input usage, placeholder output), `content_block_*`,
  `message_delta` (stop reason, cumulative usage), `message_stop`; `error` may arrive after
  an HTTP 200.
- Gemini: `streamGenerateContent?alt=sse`, unnamed `data:` chunks of `GenerateContentResponse`,
  `usageMetadata` on every chunk (the last one counts), no end marker.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from collections.abc import Mapping
from typing import Any, Protocol, cast

from pydantic_core import from_json

from stratum._runtime.model import CallSpec, Completion, Usage
from stratum.exceptions import ProviderError
from stratum.providers._dialect import Dialect, as_str, first, get_dict, get_list
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport

__all__ = ("StreamDecoder", "decoder_for", "stream_body", "stream_path")


class StreamDecoder(Protocol):
    """Decodes the SSE events of one streamed response."""

    done: bool
    """True once the provider marked the end of the stream (when its dialect has a marker)."""

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        """The stream events one SSE event carries (raise `ProviderError` on an error event)."""
        ...

    def finish(self, headers: Mapping[str, str]) -> Completion:
        """The completion of the whole stream, decoded like a non-streamed response."""
        ...

    def received(self) -> str:
        """The output text received so far."""
        ...

    def usage(self) -> Usage | None:
        """The usage reported so far, if any."""
        ...


def stream_path(dialect: Dialect, call: CallSpec) -> str:
    """The request path of a streamed call."""
    if dialect.name == "gemini":
        path = dialect.path(call)
        return path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
    return dialect.path(call)


def stream_body(dialect: Dialect, call: CallSpec) -> dict[str, Any]:
    """The JSON body of a streamed call: the dialect's body plus its streaming switches."""
    body = dialect.encode(call)
    if dialect.name == "gemini":
        return body  # the path says it (streamGenerateContent)
    body["stream"] = True
    if dialect.name == "openai-chat":
        # without it a chat stream reports no usage at all
        body["stream_options"] = {"include_usage": True}
    return body


def _load(data: str, provider: str) -> dict[str, Any]:
    """One event's JSON object ({} for other JSON values).

    Parsed with pydantic-core's `from_json` (jiter: a third of `json.loads`'s time on an event
    this small, and every piece of output is one); what it refuses is read by `json.loads`,
    which also takes escaped lone surrogates (`"\\ud800"`), before the event is called broken.
    """
    try:
        value = from_json(data)
    except ValueError:
        value = _json_loads(data, provider)
    if type(value) is not dict:
        return {}
    return cast(dict[str, Any], value)


def _json_loads(data: str, provider: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ProviderError(
            f"{provider} sent a stream event that is not JSON: {data[:120]!r}; check base_url points "
            "at the provider's API",
            provider=provider,
        ) from None


def _error(provider: str, call: CallSpec, error: Mapping[str, Any], usage: Usage | None = None) -> ProviderError:
    kind = as_str(error, "type") or as_str(error, "code") or "error"
    message = as_str(error, "message") or "no message"
    exc = ProviderError(
        f"{provider} ({call.model}) reported an error in the stream ({kind}: {message}); retry later "
        "or check the request",
        provider=provider,
        model=call.model,
    )
    if usage is not None:
        exc.usage = usage  # pyright: ignore[reportAttributeAccessIssue]
    return exc


class _Base:
    """Text and usage bookkeeping shared by the decoders."""

    def __init__(self, dialect: Dialect, call: CallSpec, provider: str) -> None:
        self.dialect = dialect
        self.call = call
        self.provider = provider
        self.done = False
        self.texts: list[str] = []
        self.last_usage: Usage | None = None

    def received(self) -> str:
        return "".join(self.texts)

    def usage(self) -> Usage | None:
        return self.last_usage

    def _text(self, text: str, out: list[StreamEvent]) -> None:
        if text:
            self.texts.append(text)
            out.append(TextDelta(text))

    def _usage(self, usage: Usage | None, out: list[StreamEvent]) -> None:
        if usage is not None and usage != self.last_usage:
            self.last_usage = usage
            out.append(UsageReport(usage))


class OpenAIChatStream(_Base):
    """Chat Completions chunks (`data: {chat.completion.chunk}` … `data: [DONE]`)."""

    def __init__(self, dialect: Dialect, call: CallSpec, provider: str) -> None:
        super().__init__(dialect, call, provider)
        self.refusal: list[str] = []
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.usage_body: Mapping[str, Any] | None = None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        if data.startswith("[DONE]"):
            self.done = True
            return []
        chunk = _load(data, self.provider)
        # The hot path of a chat stream: plain dict reads (a chunk is tiny and arrives often).
        if chunk.get("error"):
            raise _error(self.provider, self.call, get_dict(chunk, "error"), self.last_usage)
        if self.model is None:
            self.model = as_str(chunk, "model")
            self.id = as_str(chunk, "id")
        out: list[StreamEvent] = []
        choices: Any = chunk.get("choices")
        if type(choices) is list and choices:
            choice: Any = cast(list[Any], choices)[0]
            if type(choice) is dict:
                picked = cast(dict[str, Any], choice)
                delta: Any = picked.get("delta")
                if type(delta) is dict:
                    parts = cast(dict[str, Any], delta)
                    content: Any = parts.get("content")
                    if type(content) is str and content:
                        self.texts.append(content)
                        out.append(TextDelta(content))
                    refusal: Any = parts.get("refusal")
                    if type(refusal) is str and refusal:
                        self.refusal.append(refusal)
                finish: Any = picked.get("finish_reason")
                if type(finish) is str:
                    self.finish_reason = finish
        if chunk.get("usage"):
            self.usage_body = chunk
            self._usage(self.dialect.usage(chunk), out)
        return out

    def finish(self, headers: Mapping[str, str]) -> Completion:
        message: dict[str, Any] = {"content": self.received(), "refusal": "".join(self.refusal) or None}
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "choices": [{"message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage_body is not None:
            body["usage"] = self.usage_body["usage"]
        return self.dialect.decode(self.call, body, headers)


class OpenAIResponsesStream(_Base):
    """Responses events (`response.output_text.delta` … `response.completed`)."""

    def __init__(self, dialect: Dialect, call: CallSpec, provider: str) -> None:
        super().__init__(dialect, call, provider)
        self.final: Mapping[str, Any] | None = None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        payload = _load(data, self.provider)
        kind = as_str(payload, "type") or event
        out: list[StreamEvent] = []
        if kind == "response.output_text.delta":
            self._text(as_str(payload, "delta") or "", out)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = get_dict(payload, "response")
            self.done = True
            self._usage(self.dialect.usage(self.final), out)
        elif kind == "error":
            raise _error(self.provider, self.call, payload, self.last_usage)
        return out

    def finish(self, headers: Mapping[str, str]) -> Completion:
        if self.final is None:
            raise ProviderError(
                f"{self.provider} ({self.call.model}): the stream ended without response.completed; retry the call",
                provider=self.provider,
                model=self.call.model,
            )
        return self.dialect.decode(self.call, self.final, headers)


class AnthropicStream(_Base):
    """Messages events (`message_start`, `content_block_*`, `message_delta`, `message_stop`)."""

    def __init__(self, dialect: Dialect, call: CallSpec, provider: str) -> None:
        super().__init__(dialect, call, provider)
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.tool_json: dict[int, list[str]] = {}
        self.usage_body: dict[str, Any] = {}

    def _merge_usage(self, usage: Mapping[str, Any], out: list[StreamEvent]) -> None:
        # message_delta's counts are cumulative; its optional input counts replace the start's
        self.usage_body.update({k: v for k, v in usage.items() if v is not None})
        self._usage(self.dialect.usage({"usage": self.usage_body}), out)

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        payload = _load(data, self.provider)
        kind = as_str(payload, "type") or event
        out: list[StreamEvent] = []
        if kind == "content_block_delta":
            index = payload.get("index", 0)
            delta = get_dict(payload, "delta")
            delta_kind = as_str(delta, "type")
            if delta_kind == "text_delta":
                text = as_str(delta, "text") or ""
                block = self.blocks.setdefault(index, {"type": "text", "text": ""})
                block["text"] = str(block.get("text", "")) + text
                self._text(text, out)
            elif delta_kind == "input_json_delta":
                piece = as_str(delta, "partial_json") or ""
                self.tool_json.setdefault(index, []).append(piece)
                if self.call.output_schema is not None and index == min(self.tool_json):
                    self._text(piece, out)  # forced tool use: the tool input is the output JSON
        elif kind == "content_block_start":
            self.blocks[payload.get("index", 0)] = dict(get_dict(payload, "content_block"))
        elif kind == "message_start":
            self.message = dict(get_dict(payload, "message"))
            self._merge_usage(get_dict(self.message, "usage"), out)
        elif kind == "message_delta":
            delta = get_dict(payload, "delta")
            self.message.update({k: v for k, v in delta.items() if v is not None})
            self._merge_usage(get_dict(payload, "usage"), out)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise _error(self.provider, self.call, get_dict(payload, "error"), self.last_usage)
        return out

    def finish(self, headers: Mapping[str, str]) -> Completion:
        content: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            if block.get("type") == "tool_use":
                raw = "".join(self.tool_json.get(index, []))
                try:
                    block["input"] = json.loads(raw) if raw else {}
                except ValueError:
                    block["input"] = raw  # cut-off tool JSON: let the contract report it
            content.append(block)
        body = {**self.message, "content": content, "usage": self.usage_body}
        completion = self.dialect.decode(self.call, body, headers)
        if any(isinstance(b.get("input"), str) for b in content):
            return Completion(
                text="".join("".join(parts) for parts in self.tool_json.values()),
                finish_reason=completion.finish_reason,
                usage=completion.usage,
                model=completion.model,
                request_id=completion.request_id,
                refusal=completion.refusal,
            )
        return completion


class GeminiStream(_Base):
    """`streamGenerateContent?alt=sse` chunks (each a `GenerateContentResponse`)."""

    def __init__(self, dialect: Dialect, call: CallSpec, provider: str) -> None:
        super().__init__(dialect, call, provider)
        self.last: Mapping[str, Any] = {}
        self.finish_reason: str | None = None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        chunk = _load(data, self.provider)
        error = get_dict(chunk, "error")
        if error:
            raise _error(self.provider, self.call, error, self.last_usage)
        out: list[StreamEvent] = []
        candidate = first(get_list(chunk, "candidates"))
        for part in get_list(get_dict(candidate, "content"), "parts"):
            if isinstance(part, dict) and not cast(dict[str, Any], part).get("thought"):
                self._text(as_str(part, "text") or "", out)
        self.finish_reason = as_str(candidate, "finishReason") or self.finish_reason
        self.last = chunk
        self._usage(self.dialect.usage(chunk), out)
        return out

    def finish(self, headers: Mapping[str, str]) -> Completion:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": self.received()}], "role": "model"}}
        if self.finish_reason is not None:
            candidate["finishReason"] = self.finish_reason
        body: dict[str, Any] = {**self.last, "candidates": [candidate]}
        if not get_list(self.last, "candidates") and get_dict(self.last, "promptFeedback"):
            body["candidates"] = []
        return self.dialect.decode(self.call, body, headers)


_DECODERS: Mapping[str, type[OpenAIChatStream | OpenAIResponsesStream | AnthropicStream | GeminiStream]] = (
    MappingProxyType({
        "openai-chat": OpenAIChatStream,
        "openai-responses": OpenAIResponsesStream,
        "anthropic": AnthropicStream,
        "gemini": GeminiStream,
    })
)


def decoder_for(dialect: Dialect, call: CallSpec, provider: str) -> StreamDecoder:
    """A fresh decoder for one streamed response in `dialect`."""
    kind = _DECODERS.get(dialect.name)
    if kind is None:
        raise ProviderError(
            f"{provider}: the {dialect.name!r} dialect cannot stream; call the function without .stream()",
            provider=provider,
            model=call.model,
        )
    return kind(dialect, call, provider)
