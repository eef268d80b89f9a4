"""Gemini `generateContent` dialect and the `Gemini` provider.

Wire facts: WIRE.md §4. Usage: `cachedContentTokenCount` is inside `promptTokenCount`, and
`thoughtsTokenCount` is *outside* `candidatesTokenCount`, so the normalized output is
candidates + thoughts (DESIGN §9). Absent counts are 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stratum._runtime.model import CallSpec, Completion, FinishReason, Usage
from stratum.providers import _tool_wire
from stratum.providers._dialect import BadReply, as_str, first, get_dict, get_list, merged_turns, usage_int
from stratum.providers._http import DEFAULT_MAX_CONCURRENCY, Options, Sleep, _HTTPProvider
from stratum.providers._http import api_key as _api_key
from stratum.providers._media_parts import gemini_content, has_media

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._ratelimit import RateLimit

__all__ = ("Gemini", "GeminiDialect")

_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)
_FINISH: Mapping[str, FinishReason] = MappingProxyType({
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "other",
    "UNEXPECTED_TOOL_CALL": "tool_use",
    "TOO_MANY_TOOL_CALLS": "tool_use",
})


def _usage(data: Mapping[str, Any]) -> Usage | None:
    meta = get_dict(data, "usageMetadata")
    if not meta:
        return None
    thoughts = usage_int(meta, "thoughtsTokenCount")
    return Usage(
        # tool-use prompt tokens are input the model read (and are billed as input)
        input_tokens=usage_int(meta, "promptTokenCount") + usage_int(meta, "toolUsePromptTokenCount"),
        output_tokens=usage_int(meta, "candidatesTokenCount") + thoughts,
        cached_input_tokens=usage_int(meta, "cachedContentTokenCount"),
        cache_write_tokens=0,
        reasoning_tokens=thoughts,
    )


class GeminiDialect:
    """`POST /models/{model}:generateContent` with `responseMimeType` + `responseJsonSchema`."""

    name = "gemini"

    def path(self, call: CallSpec) -> str:
        return f"models/{quote(call.model, safe='-._~')}:generateContent"

    def encode(self, call: CallSpec) -> dict[str, Any]:
        contents: list[dict[str, Any]] = []
        media = has_media(call.messages)
        for role, group in merged_turns(call.messages):
            # the data attachment stays its own part inside the user turn
            contents.append(
                {
                    "role": "model" if role == "assistant" else "user",
                    "parts": gemini_content(group) if media else [{"text": m.content} for m in group],
                }
            )
        body: dict[str, Any] = {"contents": contents}
        if call.system:
            body["systemInstruction"] = {"parts": [{"text": call.system}]}
        config: dict[str, Any] = {}
        if call.max_tokens is not None:
            config["maxOutputTokens"] = call.max_tokens
        if call.temperature is not None:
            config["temperature"] = call.temperature
        if call.output_schema is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = call.output_schema
        if config:
            body["generationConfig"] = config
        if call.tools:
            _tool_wire.gemini_with_tools(call, body)
        return body

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        candidates = get_list(data, "candidates")
        candidate = first(candidates)
        parts = get_list(get_dict(candidate, "content"), "parts")
        texts = [
            as_str(part, "text") or ""
            for part in parts
            if not get_dict({"p": part}, "p").get("thought")  # thought summaries are not the answer
        ]
        finish = as_str(candidate, "finishReason") or ""
        reason: FinishReason
        if not candidates and as_str(get_dict(data, "promptFeedback"), "blockReason"):
            reason = "content_filter"  # the prompt itself was blocked: no candidates at all
        elif not candidates:
            raise BadReply("'candidates' is missing or empty and no block reason is given")
        elif finish in _FILTERED:
            reason = "content_filter"
        else:
            reason = _FINISH.get(finish, "other")
        usage = _usage(data)
        return Completion(
            text="".join(texts),
            finish_reason=reason,
            usage=usage or Usage(),
            usage_reported=usage is not None,
            model=as_str(data, "modelVersion"),
            request_id=as_str(data, "responseId") or headers.get("x-request-id"),
            tool_calls=_tool_wire.gemini_decode_calls(parts) if call.tools else (),
        )

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        return _usage(data)


class Gemini(_HTTPProvider):
    """Google's Gemini API (AI Studio, `generativelanguage.googleapis.com`).

    The key comes from `api_key=`, `GEMINI_API_KEY` or `GOOGLE_API_KEY` and is sent in the
    `x-goog-api-key` header (never in the URL, where it would leak into logs and cassettes); a
    missing key raises `ConfigurationError` when the provider is constructed.

    Args:
        api_key: the key; defaults to `GEMINI_API_KEY`, then `GOOGLE_API_KEY`.
        base_url: the API root; defaults to `https://generativelanguage.googleapis.com/v1beta`.
        http_client: an `httpx2.AsyncClient` (or httpx 0.x `AsyncClient`) to use as is.
        max_retries, max_concurrency, model, price, transport, sleep, jitter, rate_limit: as for `OpenAI`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        *,
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        model: str | None = None,
        price: Price | None = None,
        name: str = "gemini",
        transport: Any = None,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        key = _api_key(api_key, ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "Gemini")
        super().__init__(
            name=name,
            dialect=GeminiDialect(),
            base_url=base_url or "https://generativelanguage.googleapis.com/v1beta",
            headers={"x-goog-api-key": key},
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
