"""The endpoint half of a built-in provider: client, auth, concurrency, fault retries, deadlines.

`_HTTPProvider` pairs an endpoint (base URL, auth headers, an `httpx2.AsyncClient`) with a
`Dialect`. Every request, fault retries included, goes through `send_intercepted` so cassettes
and the network guard see it.

Clients: one pooled `httpx2.AsyncClient` per provider *and per running event loop*, made on
first use. An async client's connections belong to the loop that opened them, so a provider
object used by successive `asyncio.run()` / `anyio.run()` / `trio.run()` calls gets a fresh
client in each loop instead of failing on a dead one. A user-supplied `http_client` is used as
is (it may be an httpx 0.x client; errors are mapped the same way). A client table entry is
dropped when its loop ends, so a provider used by many `stratum.run()` calls keeps nothing of
the loops that are gone.

Deadlines: `call.timeout` bounds the whole attempt (waiting for a concurrency slot, connecting,
sending, reading the whole body, and backoff between fault retries), not each socket read, so
a server dripping its body a byte at a time cannot hold a call past its deadline.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import anyio
import httpx2

from stratum._runtime.model import CallSpec, Completion, Usage
from stratum._util.backoff import Backoff, retry_after_seconds
from stratum._util.secrets import check_header, check_key
from stratum.exceptions import BudgetExceeded, ConfigurationError, ProviderError
from stratum.providers._dialect import BadReply, Dialect
from stratum.providers._faults import (
    is_transport_error,
    map_status,
    map_transport,
    safe_cause,
    scrub,
    server_error,
    should_retry,
)
from stratum.providers._deadlines import DeadlineWheel
from stratum.providers._intercept import Exchange, send_intercepted

if TYPE_CHECKING:
    from stratum.pricing import Price
    from stratum.providers._stream_events import StreamEvent
    from stratum.providers._ratelimit import RateLimit, Ticket

__all__ = ("DEFAULT_MAX_CONCURRENCY", "MAX_RESPONSE_BYTES", "Authorize", "Options", "Sleep", "_HTTPProvider", "api_key", "missing_key")

DEFAULT_MAX_CONCURRENCY = 100
"""Default per-provider limit on requests in flight, and the size of the connection pool."""

_SHARD_CONNECTIONS = 10
"""Connections per pooled client: the provider's pool is split in shards of this size."""
_CONNECT_TIMEOUT = 10.0
_READ_TIMEOUT = 600.0
# Stainless SDK defaults (WIRE.md §6): 0.5 s doubling up to 8 s, minus up to 25 % jitter; a
# server hint longer than this is not waited for.
_INITIAL_DELAY = 0.5
_MAX_DELAY = 8.0
_MAX_RETRY_AFTER = 60.0

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""A response body larger than this is refused (a provider error), not held in memory."""

Sleep = Callable[[float], Awaitable[None]]
Authorize = Callable[[Any], Awaitable[Mapping[str, str]]]
"""Per-request auth headers for a built request (SigV4 signature, a fresh OAuth token): added
after the interceptors (cassettes, network guard) have seen the request, so never recorded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What every built-in provider takes besides its endpoint and dialect (see `OpenAI`'s Args)."""

    http_client: Any = None
    transport: Any = None
    max_retries: int = 3
    max_concurrency: int = 100
    model: str | None = None
    price: Price | None = None
    sleep: Sleep | None = None
    jitter: Callable[[], float] | None = None
    rate_limit: RateLimit | None = None
    authorize: Authorize | None = None


def missing_key(provider: str, env_vars: tuple[str, ...]) -> ConfigurationError:
    """The error for a provider built without an API key."""
    names = " or ".join(env_vars)
    return ConfigurationError(
        f"no API key for the {provider} provider: set {names} in the environment or pass "
        f"api_key=...; to run without a model, use stratum.testing.ScriptedModel with "
        "stratum.testing.use_model(...), or a local server such as 'ollama:llama3.2'"
    )


def api_key(explicit: str | None, env_vars: tuple[str, ...], provider: str) -> str:
    """The key to use: `explicit`, else the first of `env_vars` set; checked before any request.

    Raises:
        ConfigurationError: no key, or a key that cannot be sent as a header (a trailing newline,
            a non-ASCII character), with a message that shows no part of it.
    """
    if explicit:
        return check_key(explicit, provider=provider, source="api_key=")
    for var in env_vars:
        value = os.environ.get(var)
        if value:
            return check_key(value, provider=provider, source=var)
    raise missing_key(provider, env_vars)


@functools.cache
def _ssl_context() -> Any:
    """One TLS context for every client Stratum makes.

    Building one loads the CA bundle (~0.25 s of blocked event loop); each pool shard made
    during a burst used to build its own, stalling every call in flight (and their deadlines).
    """
    return httpx2.create_ssl_context()


def _loop_key() -> object:
    """An object identifying the running event loop (asyncio loop or trio token)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import trio  # only reached under trio, where it is importable by definition

    return trio.lowlevel.current_trio_token()


Limiter = asyncio.Semaphore | anyio.Semaphore
"""The per-loop limit on requests in flight (`max_concurrency` slots)."""


def _limiter(slots: int, *, asyncio_loop: bool) -> Limiter:
    """The slot limiter for a loop: asyncio's own semaphore under asyncio, anyio's under trio.

    Under asyncio, anyio's semaphore makes a burst of deadlines dearer: a release skips (pops)
    the waiters already cancelled but not yet run, and each of those then fails to find itself
    in the queue, scanning all of it and formatting `repr(future)` for the `ValueError`.
    asyncio's semaphore leaves every waiter to remove itself (found near the head), and its
    free-slot path is half the cost of anyio's.
    """
    if asyncio_loop:
        return asyncio.Semaphore(slots)
    # fast_acquire: no extra trip through the event loop when a slot is free
    return anyio.Semaphore(slots, fast_acquire=True)


class _LoopState:
    """The clients of one provider in one event loop, and its concurrency limit there."""

    __slots__ = ("clients", "closer", "deadlines", "headers", "limiter", "loads", "make", "owned")

    def __init__(
        self, first: Any, shards: int, limiter: Limiter, make: Callable[[], Any] | None, *, owned: bool
    ) -> None:
        self.clients: list[Any] = [first] + [None] * (shards - 1)
        self.loads = [0] * shards
        self.limiter = limiter
        self.make = make
        self.owned = owned
        """True when the clients are the provider's own (closed with the loop), not the user's."""
        self.headers: Any = None
        """The full request headers of the provider's own clients (httpx's defaults and ours),
        merged once: their requests are built directly, not through `build_request`."""
        self.deadlines: DeadlineWheel | None = None
        """The requests' deadlines on an asyncio loop (one loop timer for all of them)."""
        self.closer: AsyncGenerator[None, None] | None = None

    def pick(self) -> int:
        """The least-loaded shard (its client made on first use)."""
        loads = self.loads
        index = loads.index(min(loads)) if len(loads) > 1 else 0
        if self.clients[index] is None and self.make is not None:
            self.clients[index] = self.make()
        return index


async def _close_at_loop_end(
    state: _LoopState, states: weakref.WeakKeyDictionary[object, _LoopState], key: object
) -> AsyncGenerator[None, None]:
    """Close the clients of `state` and forget it when its event loop shuts down.

    An async generator left suspended is finalized by the loop that started it: `asyncio.run`
    (via `shutdown_asyncgens`) and `trio.run` both close it before they return, so the pooled
    connections are closed inside their own loop instead of leaking when the loop is gone. The
    table entry must go too: its value (clients, connections) references the loop, so the weak
    key alone would never let the loop be collected.
    """
    try:
        yield
    finally:
        if states.get(key) is state:
            del states[key]
        del key
        if state.owned:
            with anyio.CancelScope(shield=True):
                for client in state.clients:
                    if client is not None:
                        await client.aclose()


class _HTTPProvider:
    """Shared machinery of the built-in HTTP providers (private; subclasses are public)."""

    name: str
    model_name: str | None
    price: Price | None
    enforces_deadline = True
    """Every request phase and backoff is bounded by `call.timeout` (see `_executor._complete`)."""

    def __init__(
        self,
        *,
        name: str,
        dialect: Dialect,
        base_url: str,
        headers: Mapping[str, str],
        secret: str | None,
        options: Options | None = None,
    ) -> None:
        opts = options or Options()
        if opts.max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, got {opts.max_retries}; pass max_retries=3")
        if opts.max_concurrency < 1:
            raise ConfigurationError(
                f"max_concurrency must be at least 1, got {opts.max_concurrency}; pass max_concurrency=100"
            )
        for header, value in headers.items():
            check_header(header, value, provider=name)
        self.name = name
        self.model_name = opts.model
        self.price = opts.price
        self.max_retries = opts.max_retries
        self.max_concurrency = opts.max_concurrency
        self._dialect = dialect
        self._base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json", "accept": "application/json", **headers}
        self._secret = secret
        self._user_client = opts.http_client
        self._transport = opts.transport
        self._sleep: Sleep = opts.sleep or anyio.sleep
        self._delays = Backoff(_INITIAL_DELAY, _MAX_DELAY, jitter=opts.jitter or random.random)
        self._states: weakref.WeakKeyDictionary[object, _LoopState] = weakref.WeakKeyDictionary()
        self._urls: dict[str, Any] = {}
        if self._user_client is None and self._transport is None:
            _ssl_context()  # built here, not on the event loop inside the first call's deadline
        self.rate_limit = opts.rate_limit
        self._authorize = opts.authorize

    def __repr__(self) -> str:
        # Never the key: reprs end up in logs and tracebacks.
        return f"{type(self).__name__}(name={self.name!r}, base_url={self._base_url!r}, dialect={self._dialect.name!r})"

    @property
    def base_url(self) -> str:
        """The endpoint's base URL."""
        return self._base_url

    # -- clients ---------------------------------------------------------------------------

    def _new_client(self, connections: int) -> Any:
        limits = httpx2.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30.0
        )
        return httpx2.AsyncClient(
            verify=_ssl_context(),
            limits=limits,
            timeout=httpx2.Timeout(_READ_TIMEOUT, connect=_CONNECT_TIMEOUT),
            transport=self._transport,
            headers=self._headers,
        )

    async def _state(self) -> _LoopState:
        key = _loop_key()
        state = self._states.get(key)
        if state is None:
            limiter = _limiter(self.max_concurrency, asyncio_loop=isinstance(key, asyncio.AbstractEventLoop))
            if self._user_client is not None:
                state = _LoopState(self._user_client, 1, limiter, None, owned=False)
            else:
                # httpcore scans every pooled connection on each request start and end, so one
                # pool of 100 costs ~4x the CPU per request of four pools of 25 under a burst:
                # shard the pool, least-loaded first (shards past the first made on demand).
                shards = -(-self.max_concurrency // _SHARD_CONNECTIONS)
                size = -(-self.max_concurrency // shards)
                state = _LoopState(
                    self._new_client(size), shards, limiter, lambda: self._new_client(size), owned=True
                )
            if isinstance(key, asyncio.AbstractEventLoop):
                state.deadlines = DeadlineWheel(key)
            if state.owned:
                state.headers = state.clients[0].headers
            self._states[key] = state
            state.closer = _close_at_loop_end(state, self._states, key)
            await state.closer.__anext__()
        return state

    async def aclose(self) -> None:
        """Close the client this provider opened in the running event loop (not a user's client)."""
        state = self._states.pop(_loop_key(), None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()

    async def __aenter__(self) -> _HTTPProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one call --------------------------------------------------------------------------

    def _url(self, path: str) -> Any:
        """The request URL; parsed once per path for our own clients (URL parsing is not free)."""
        url = f"{self._base_url}/{path}"
        if self._user_client is not None:
            return url  # may be an httpx 0.x client: let it parse its own URL type
        parsed = self._urls.get(path)
        if parsed is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            parsed = self._urls[path] = httpx2.URL(url)
        return parsed

    def _backoff(self, retry: int) -> float:
        return self._delays.delay(retry)

    def _timeout(self, call: CallSpec, deadline: float | None, started: float) -> dict[str, float]:
        if deadline is None:
            return {"connect": _CONNECT_TIMEOUT, "read": _READ_TIMEOUT, "write": _READ_TIMEOUT, "pool": _READ_TIMEOUT}
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._deadline_error(call, started, 0.0, "no time is left for the request")
        return {"connect": min(_CONNECT_TIMEOUT, left), "read": left, "write": left, "pool": left}

    def _deadline_error(self, call: CallSpec, started: float, wait: float, why: str) -> BudgetExceeded:
        limit = (call.timeout or 0.0) * 1000
        spent = (time.monotonic() - started + wait) * 1000
        return BudgetExceeded(
            f"{self.name} ({call.model}): {why} before the call's deadline ({limit:.0f} ms were left "
            "for this attempt); raise Budget(ms=...), lower concurrency, or retry later",
            axis="ms",
            limit=limit,
            spent=spent,
        )

    def _where(self, call: CallSpec) -> str:
        return f"{self.name} ({call.model})" if call.model else self.name

    def _bad_reply(self, call: CallSpec, status: int, problem: str, data: Mapping[str, Any] | None) -> ProviderError:
        """A provider error for a reply whose shape is wrong; carries its usage when that is sound."""
        error = ProviderError(
            f"{self._where(call)} answered HTTP {status} with a reply Stratum cannot use: {scrub(problem, self._secret)}. "
            f"The server does not speak the {self._dialect.name} API as expected; check base_url and the model, "
            "or retry later",
            provider=self.name,
            model=call.model,
        )
        usage: Usage | None = None
        if data is not None:
            try:
                usage = self._dialect.usage(data)
            except BadReply:
                usage = None
        if usage is not None:
            error.usage = usage  # pyright: ignore[reportAttributeAccessIssue]
        else:
            # the request reached the model but what it cost is unknown: meter the worst case
            error.usage_unknown = True  # pyright: ignore[reportAttributeAccessIssue]
        return error

    async def _exchange(self, state: _LoopState, request: Any, exchange: Exchange, deadline: float | None = None) -> Any:
        async with state.limiter:
            if deadline is not None and time.monotonic() >= deadline:
                # The slot came after the deadline (its timer not yet run on a busy loop): a
                # request started now could only be cancelled, after a wasted connect and send.
                return _DEADLINE
            shard = state.pick()
            state.loads[shard] += 1
            try:
                return await send_intercepted(
                    request, exchange, _ReadAll(state.clients[shard], self._authorize, own=state.owned)
                )
            finally:
                state.loads[shard] -= 1

    async def _bounded(self, state: _LoopState, request: Any, exchange: Exchange, deadline: float) -> Any:
        """`_exchange` under one scope for the whole request: slot wait, send and body read."""
        left = deadline - time.monotonic()
        if state.deadlines is not None:
            scope = state.deadlines.scope(left)
            try:
                with scope:
                    return await self._exchange(state, request, exchange, deadline)
            except TimeoutError:
                if scope.expired():
                    return _DEADLINE
                raise
        with anyio.move_on_after(left) as cancel:
            return await self._exchange(state, request, exchange, deadline)
        if cancel.cancelled_caught:
            return _DEADLINE
        raise AssertionError("unreachable")  # pragma: no cover

    async def _take_turn(self, rate: RateLimit, call: CallSpec, body: bytes, deadline: float | None, started: float) -> Ticket:
        from stratum.providers._ratelimit import wait_turn

        return await wait_turn(
            rate,
            len(body) // 4 + (call.max_tokens or 0),
            time_left=None if deadline is None else deadline - time.monotonic(),
            sleep=self._sleep,
            past_deadline=lambda wait: self._deadline_error(
                call, started, wait, f"the rate limit's next turn is {wait:.2f} s away, past the deadline"
            ),
            provider=self.name,
            model=call.model,
        )

    async def complete(self, call: CallSpec, /) -> Completion:
        """Send one attempt, retrying transient faults inside the call's deadline."""
        body = json.dumps(self._dialect.encode(call), ensure_ascii=False, separators=(",", ":")).encode()
        exchange = Exchange(provider=self.name, dialect=self._dialect.name, call=call)
        state = await self._state()
        builder = state.clients[0]
        url = self._url(self._dialect.path(call))
        # our own clients carry the auth headers already; a user's client gets them per request
        sent_headers = self._headers if self._user_client is not None else None
        started = time.monotonic()
        deadline = None if call.timeout is None else started + call.timeout
        fault_usage: Usage | None = None
        rate = self.rate_limit
        ticket: Ticket | None = None
        retry = 0
        while True:
            if rate is not None:
                ticket = await self._take_turn(rate, call, body, deadline, started)
            timeout = self._timeout(call, deadline, started)
            if state.headers is not None:
                # Our own client: no cookies, no base URL, headers merged once. `build_request`
                # would merge all of that again (~40 µs a request); the request is the same.
                request = httpx2.Request("POST", url, headers=state.headers, content=body, extensions={"timeout": timeout})
            else:
                request = builder.build_request("POST", url, content=body, headers=sent_headers, extensions={"timeout": timeout})
            failure: BaseException | None = None
            response: Any = None
            try:
                if deadline is None:
                    response = await self._exchange(state, request, exchange)
                else:
                    response = await self._bounded(state, request, exchange, deadline)
            except _TooLarge as exc:
                raise self._bad_reply(call, 200, f"a body of more than {exc.size} bytes", None) from None
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                failure = exc
            if response is _DEADLINE:
                exceeded = self._deadline_error(call, started, 0.0, "the request (slot wait, send and reply) did not finish")
                if fault_usage is not None:
                    exceeded.usage = fault_usage  # pyright: ignore[reportAttributeAccessIssue]
                raise exceeded
            if failure is not None:
                error = map_transport(failure, provider=self.name, model=call.model, secret=self._secret, retries=retry)
                if fault_usage is not None:
                    error.usage = fault_usage  # pyright: ignore[reportAttributeAccessIssue]
                cause = safe_cause(failure, self._secret)
                if deadline is not None and self._timed_out(failure, deadline):
                    # The transport timeout was the deadline itself: that is the time budget.
                    raise self._deadline_error(call, started, 0.0, "the request timed out") from cause
                if retry >= self.max_retries:
                    raise error from cause
                wait = self._backoff(retry)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    raise error from cause
                await self._sleep(wait)
                retry += 1
                continue
            status: int = response.status_code
            content: bytes = response.content
            headers: Mapping[str, str] = response.headers
            data: Any = None
            if 200 <= status < 300:
                try:
                    data = json.loads(content)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    raise ProviderError(
                        f"{self._where(call)} answered HTTP {status} with a body that is not a JSON "
                        f"object: {scrub(content[:200].decode(errors='replace'), self._secret)!r}. Check "
                        "base_url points at the provider's API",
                        provider=self.name,
                        model=call.model,
                    )
                reply = cast(dict[str, Any], data)
                carried = server_error(reply, self._dialect.name)
                if carried is None:
                    try:
                        completion = self._dialect.decode(call, reply, headers)
                    except BadReply as exc:
                        bad = self._bad_reply(call, status, str(exc), reply)
                        if fault_usage is not None:
                            known: Usage | None = getattr(bad, "usage", None)
                            bad.usage = fault_usage if known is None else fault_usage + known  # pyright: ignore[reportAttributeAccessIssue]
                        raise bad from None
                    if rate is not None and ticket is not None:
                        rate.settle(ticket, completion.usage.total_tokens, headers)
                    if retry or fault_usage is not None:
                        completion = _with_faults(completion, retry, fault_usage)
                    return completion
                # A 200 carrying {"error": ...}: an error with the server's own words, treated as
                # the status it names (a proxy's upstream 503 is retried like a 503).
                if carried is False:
                    raise self._bad_reply(call, status, "an error object with no message", reply)
                status = carried
            try:
                usage = self._usage_of(content, data)
            except BadReply as exc:
                raise self._bad_reply(call, status, str(exc), None) from None
            if rate is not None and ticket is not None:
                rate.settle(ticket, None if usage is None else usage.total_tokens, headers)
            total = usage if fault_usage is None else (fault_usage if usage is None else fault_usage + usage)
            error = map_status(
                status,
                content.decode(errors="replace"),
                headers,
                provider=self.name,
                model=call.model,
                secret=self._secret,
                retries=retry,
                usage=total,
            )
            if retry >= self.max_retries or not should_retry(status, headers):
                raise error
            hint = retry_after_seconds(headers)
            now = time.monotonic()
            if hint is not None and hint > 0:
                if deadline is not None and now + hint >= deadline:
                    exceeded = self._deadline_error(
                        call, started, hint, f"the provider asked to wait {hint:g} s (HTTP {status}), past the deadline"
                    )
                    if total is not None:
                        exceeded.usage = total  # pyright: ignore[reportAttributeAccessIssue]
                    raise exceeded from error
                if hint > _MAX_RETRY_AFTER:
                    raise error
                wait = hint
            else:
                wait = self._backoff(retry)
                if deadline is not None and now + wait >= deadline:
                    raise error
            if usage is not None:
                fault_usage = usage if fault_usage is None else fault_usage + usage
            await self._sleep(wait)
            retry += 1

    def stream(self, call: CallSpec, /) -> AsyncIterator[StreamEvent]:
        """Stream one attempt as server-sent events (see `stratum.providers._http_stream`)."""
        from stratum.providers._http_stream import stream_http

        return stream_http(self, call)

    def _usage_of(self, body: bytes, data: Any = None) -> Usage | None:
        """The usage an error response reports (None when it reports none); `data` is the body
        already parsed, when it was."""
        if data is None:
            try:
                data = json.loads(body)
            except ValueError:
                return None
        return self._dialect.usage(cast(dict[str, Any], data)) if isinstance(data, dict) else None

    @staticmethod
    def _timed_out(exc: BaseException, deadline: float) -> bool:
        names = {cls.__name__ for cls in type(exc).__mro__}
        return "TimeoutException" in names and time.monotonic() >= deadline - 0.05


async def signed(request: Any, authorize: Authorize) -> Any:
    """A copy of `request` with the per-request auth headers `authorize` gives (an Entra token,
    a Google OAuth token, a SigV4 signature); added after every interceptor, so cassettes never
    see them."""
    extra = await authorize(request)
    return type(request)(
        request.method,
        request.url,
        headers={**request.headers, **extra},
        content=request.content,
        extensions=request.extensions,
    )


class _ReadAll:
    """Send a request and read its whole body, refusing one larger than `MAX_RESPONSE_BYTES`.

    Interceptors see it as the client's `send` (`__self__` is the client, as for a bound method).
    With `authorize`, per-request auth headers (a SigV4 signature, a fresh token) are added to
    a copy of the request here, after every interceptor: cassettes never see them.

    With `own=True` (a client the provider made: no auth flow, no event hooks, no redirects
    followed) the request goes straight to the client's transport for its URL (its proxy
    mount, if any), skipping the client-level steps the provider never uses: the auth
    generator, the redirect loop, the cookie jar (an API client must not carry cookies from
    one call to the next anyway) and the per-request log line. About 30 µs per request.
    A user's client (`OpenAI(client=...)`) always goes through its own `send`.
    """

    __slots__ = ("__self__", "_authorize", "_own")

    def __init__(self, client: Any, authorize: Authorize | None = None, *, own: bool = False) -> None:
        self.__self__ = client
        self._authorize = authorize
        self._own = own and hasattr(client, "_transport_for_url")

    async def __call__(self, request: Any) -> Any:
        if self._authorize is not None:
            request = await signed(request, self._authorize)
        if self._own:
            transport = self.__self__._transport_for_url(request.url)
            response = await transport.handle_async_request(request)
            response.request = request
        else:
            response = await self.__self__.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise _TooLarge(int(declared))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _TooLarge(size)
                chunks.append(chunk)
            response._content = b"".join(chunks)  # what `aread()` sets: `.content` works as usual
        finally:
            await response.aclose()
        return response


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


_DEADLINE: Any = object()
"""What `_bounded` returns when the deadline ended the request."""


def _with_faults(completion: Completion, retries: int, fault_usage: Usage | None) -> Completion:
    return Completion(
        text=completion.text,
        finish_reason=completion.finish_reason,
        usage=completion.usage,
        model=completion.model,
        request_id=completion.request_id,
        refusal=completion.refusal,
        fault_retries=retries,
        fault_usage=fault_usage,
        tool_calls=completion.tool_calls,
        usage_reported=completion.usage_reported,
    )
