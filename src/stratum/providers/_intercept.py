"""The HTTP interception seam used by cassettes and the network guard.

Every built-in provider sends each HTTP request (fault retries included) through
`send_intercepted`, which runs the interceptors of the current context around the real send:
the one added last runs first. An interceptor may answer by itself (replay, block) or call `send`
(record, pass through). Requests are `httpx2.Request` objects, or `httpx.Request` when the user
injected an httpx 0.x client; both have the same API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from stratum._util.frozen import fast_frozen_init
from stratum._runtime import context as _context
from stratum._runtime.model import CallSpec

__all__ = ("Exchange", "Interceptor", "Send", "send_intercepted")

Send = Callable[[Any], Awaitable[Any]]
"""Sends a request and returns the response (the real transport, or the next interceptor)."""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Exchange:
    """What an interceptor knows about the request besides the HTTP request itself."""

    provider: str
    """The provider name (`"openai"`, `"anthropic"`, `"gemini"`, a preset or a configured name)."""
    dialect: str
    """The wire dialect (`"openai-chat"`, `"openai-responses"`, `"anthropic"`, `"gemini"`)."""
    call: CallSpec | None
    """The call being made (None for requests that are not model calls)."""


class Interceptor(Protocol):
    """Wraps the sending of one HTTP request."""

    async def __call__(self, request: Any, exchange: Exchange, send: Send, /) -> Any:
        """Return the response for `request`, calling `send(request)` to reach the network."""
        ...


def send_intercepted(request: Any, exchange: Exchange, send: Send) -> Awaitable[Any]:
    """Send `request` through the current context's interceptors, then `send` (await the result).

    Not a coroutine itself: with no interceptor in scope it hands back `send(request)`, so the
    request runs with no extra frame to pass through at each resumption.
    """
    interceptors = _context.current_interceptors()
    if not interceptors:
        return send(request)

    def chain(index: int) -> Send:
        if index < 0:
            return send
        interceptor = interceptors[index]
        inner = chain(index - 1)

        async def run(req: Any) -> Any:
            return await interceptor(req, exchange, inner)

        return run

    # The innermost scope's interceptor (added last) runs first, and the outermost sits next to
    # the network: a cassette inside a test answers before the plugin's network guard is asked.
    return chain(len(interceptors) - 1)(request)


def add_interceptor(interceptor: Interceptor) -> Any:
    """A context manager that adds `interceptor` for the scope (cassettes, network guard)."""
    return _context.intercepting((*_context.current_interceptors(), interceptor))
