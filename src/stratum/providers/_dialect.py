"""The dialect seam: how one wire format encodes a `CallSpec` and decodes a response.

A dialect knows nothing about base URLs, keys or clients (that is the endpoint, in `_http`).
It turns a call into a request path and JSON body, a parsed JSON response into a `Completion`,
and reads the usage an error body may carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, cast

from stratum._runtime.model import CallSpec, Completion, Message, Usage

__all__ = (
    "MAX_USAGE_TOKENS",
    "BadReply",
    "Dialect",
    "as_int",
    "as_str",
    "first",
    "get_dict",
    "get_list",
    "merged_turns",
    "text_of",
    "usage_int",
)

MAX_USAGE_TOKENS = 100_000_000
"""A token count above this in one response is not believed (no model reads or writes that much)."""


class BadReply(ValueError):
    """A 2xx response whose shape a dialect cannot use (the endpoint maps it to `ProviderError`)."""


class Dialect(Protocol):
    """One provider wire format (OpenAI Chat, OpenAI Responses, Anthropic, Gemini)."""

    name: str
    """`"openai-chat"`, `"openai-responses"`, `"anthropic"` or `"gemini"` (for interceptors)."""

    def path(self, call: CallSpec) -> str:
        """The request path, relative to the endpoint's base URL."""
        ...

    def encode(self, call: CallSpec) -> dict[str, Any]:
        """The JSON request body."""
        ...

    def decode(self, call: CallSpec, data: Mapping[str, Any], headers: Mapping[str, str]) -> Completion:
        """The normalized completion of a successful (2xx) response body."""
        ...

    def usage(self, data: Mapping[str, Any]) -> Usage | None:
        """The normalized usage a response body reports, or None when it reports none."""
        ...


# -- small typed readers for untyped JSON -----------------------------------------------------


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def get_dict(data: Any, key: str) -> Mapping[str, Any]:
    """`data[key]` when it is a JSON object, else an empty mapping."""
    # json.loads gives dicts: a concrete isinstance is much cheaper than the Mapping ABC
    if isinstance(data, dict):
        value: Any = cast(dict[str, Any], data).get(key)
        if isinstance(value, dict):
            return cast(Any, value)
    return _EMPTY


def get_list(data: Any, key: str) -> list[Any]:
    """`data[key]` when it is a JSON array, else an empty list."""
    if isinstance(data, dict):
        value: Any = cast(dict[str, Any], data).get(key)
        if isinstance(value, list):
            return cast(Any, value)
    return []


def as_int(data: Any, key: str) -> int:
    """`data[key]` as an int; absent, null or non-numeric counts as 0 (providers omit zeros)."""
    if isinstance(data, dict):
        value: Any = cast(dict[str, Any], data).get(key)
        if type(value) is int:
            return value
        if isinstance(value, float):
            return int(value)
    return 0


def usage_int(data: Any, key: str) -> int:
    """A token count: absent or null is 0; negative, fractional, NaN, infinite or absurd raises.

    A usage figure is money: a negative count would refund a budget and an infinite one would
    crash the arithmetic, so a server reporting one is misbehaving, not merely imprecise.
    """
    if not isinstance(data, dict):
        return 0
    value: Any = cast(dict[str, Any], data).get(key)
    if type(value) is int and 0 <= value <= MAX_USAGE_TOKENS:
        return value
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_USAGE_TOKENS:
        return int(value)
    raise BadReply(f"impossible usage {key}={value!r} (token counts are whole numbers from 0 to {MAX_USAGE_TOKENS:,})")


def text_of(content: Any, where: str) -> str:
    """Message content as text: a string, null (""), or a list of parts with `text` fields."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts: list[str] = []
        for part in cast(list[Any], content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text: Any = cast(dict[str, Any], part).get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts)
    raise BadReply(f"{where} is a {type(content).__name__} ({str(content)[:40]}), not text")


def as_str(data: Any, key: str) -> str | None:
    """`data[key]` when it is a string, else None."""
    if isinstance(data, dict):
        value: Any = cast(dict[str, Any], data).get(key)
        if isinstance(value, str):
            return value
    return None


def merged_turns(messages: tuple[Message, ...]) -> list[tuple[str, list[Message]]]:
    """Non-system messages grouped into turns of one role, in order.

    Providers that want alternating roles (Anthropic, Gemini) get one turn per run of
    same-role messages; the data attachment stays its own part inside its turn.
    """
    turns: list[tuple[str, list[Message]]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1][0] == message.role:
            turns[-1][1].append(message)
        else:
            turns.append((message.role, [message]))
    return turns


def first(items: list[Any]) -> Mapping[str, Any]:
    """The first element of a JSON array when it is an object, else an empty mapping."""
    if items and isinstance(items[0], dict):
        return cast(dict[str, Any], items[0])
    return _EMPTY
