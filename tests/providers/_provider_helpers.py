"""Shared helpers for the provider tests: a scripted mock server and a recording sleep."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from stratum._runtime.model import CallSpec, Message

SECRET = "sk-test-PLANTED-0123456789abcdef"


class Server:
    """A `MockTransport` handler answering with scripted responses (or raising them)."""

    def __init__(self, *responses: httpx2.Response | BaseException | Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx2.Response):
            return item
        return item(request)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class Sleeps:
    """A fake `sleep` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def call(
    *,
    model: str = "m",
    schema: dict[str, Any] | None = None,
    data: str | None = None,
    retry: bool = False,
    timeout: float | None = None,
    max_tokens: int | None = None,
) -> CallSpec:
    messages: list[Message] = [Message("system", "Extract the city."), Message("user", "text: Paris is nice")]
    if data is not None:
        messages.append(Message("user", data, "data"))
    if retry:
        messages += [Message("assistant", '{"city": 3}'), Message("user", "Your previous answer failed these checks")]
    return CallSpec(
        model=model,
        messages=tuple(messages),
        output_schema=schema,
        output_name="City",
        timeout=timeout,
        max_tokens=max_tokens,
        attachments={"doc": {"k": 1}} if data is not None else {},
    )


CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "City",
    "properties": {
        "city": {"type": "string", "title": "City"},
        "population": {"type": "integer", "title": "Population", "default": 0},
    },
    "required": ["city"],
}


def chat_ok(content: str | None = '{"city": "Paris"}', **extra: Any) -> httpx2.Response:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": extra.pop("refusal", None)}
    body = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": extra.pop("finish_reason", "stop"), "message": message}],
        "usage": extra.pop(
            "usage",
            {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 40},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        ),
    }
    return httpx2.Response(200, json=body, headers={"x-request-id": "req_chat_1", **extra.pop("headers", {})})


def statuses(items: Sequence[int]) -> list[httpx2.Response]:
    return [httpx2.Response(code, json={"error": {"message": f"status {code}"}}) for code in items]
