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

__all__ = ("Dialect", "as_int", "as_str", "first", "get_dict", "get_list", "merged_turns")


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
