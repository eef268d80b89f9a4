"""`block_network()`: refuse every real provider request; loopback stays allowed."""

from __future__ import annotations

import ipaddress
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from stratum.exceptions import NetworkBlockedError
from stratum.providers._intercept import Exchange, Send, add_interceptor

__all__ = ("block_network", "is_loopback", "send_guarded")

_HINT = (
    "tests never reach the network: use stratum.testing.stub(...), ScriptedModel([...]) or "
    "SchemaModel() with use_model(...), or replay a recording with stratum.testing.cassette(...) "
    "(in pytest: @pytest.mark.stratum_cassette); to allow it anyway mark the test "
    "@pytest.mark.stratum_allow_network"
)


def is_loopback(host: str) -> bool:
    """True for `localhost` (and `*.localhost`), 127.0.0.0/8 and ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_mocked(request: Any, send: Send) -> bool:
    """True when `send` is an httpx client whose transport never reaches the network.

    That is an `httpx.MockTransport`/`httpx2.MockTransport`, or a transport patched by respx:
    tests that mock the transport already cannot leak, and must keep working under the guard.
    """
    # a bound `client.send`, or `functools.partial(client.send, stream=True)` for streams
    client = getattr(send, "__self__", None) or getattr(getattr(send, "func", None), "__self__", None)
    pick = getattr(client, "_transport_for_url", None)
    if pick is None:
        return False
    try:
        transport = pick(request.url)
    except Exception:  # noqa: BLE001 - an unknown client shape: treat as real network
        return False
    if type(transport).__name__ == "MockTransport":
        return True
    for owner in (transport, getattr(transport, "_pool", None)):
        handler = getattr(owner, "handle_async_request", None)
        module = str(getattr(handler, "__module__", "") or "")
        if module.startswith("respx"):
            return True
    return False


_BLOCKED = "stratum.network_blocked"
"""Request extension set by every guard in scope; enforced next to the network."""


def _is_chain(send: Send) -> bool:
    """True when `send` leads to another interceptor rather than to the transport."""
    return "send_intercepted.<locals>" in str(getattr(send, "__qualname__", ""))


async def send_guarded(request: Any, exchange: Exchange, send: Send) -> Any:
    """Send `request`, refusing it if a guard marked it and `send` reaches the real network.

    Only the interceptor that holds the transport's own `send` decides, so a guard entered
    inside a cassette scope still lets the cassette replay, and a recording cassette inside
    a guard cannot slip past it.
    """
    if _is_chain(send) or not request.extensions.get(_BLOCKED):
        return await send(request)
    host = str(request.url.host)
    if is_loopback(host) or _is_mocked(request, send):
        return await send(request)
    function = exchange.call.function if exchange.call is not None and exchange.call.function else None
    who = f"{function} tried to call" if function else "a request went to"
    raise NetworkBlockedError(
        f"network blocked: {who} {exchange.provider} at {request.method} "
        f"{request.url.scheme}://{host}{request.url.path}; {_HINT}"
    )


class _NetworkGuard:
    """The interceptor behind `block_network()`."""

    __slots__ = ()

    async def __call__(self, request: Any, exchange: Exchange, send: Send, /) -> Any:
        request.extensions[_BLOCKED] = True
        return await send_guarded(request, exchange, send)


@contextmanager
def block_network() -> Generator[None, None, None]:
    """Make every real provider request in this scope raise `NetworkBlockedError`.

    Loopback hosts (127.0.0.0/8, ::1, localhost) stay reachable: local model servers and test
    fakes live there. Requests answered by an httpx `MockTransport` or by respx never reach
    the network and pass too. A cassette entered inside this scope still replays (it answers
    first).

    Example:
        ```python
        with block_network():
            await classify(text="hi")   # NetworkBlockedError naming the testing tools
        ```
    """
    with add_interceptor(_NetworkGuard()):
        yield
