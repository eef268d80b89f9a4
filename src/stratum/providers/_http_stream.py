"""Streaming one attempt through a built-in HTTP provider.

The same endpoint, interceptors (cassettes, network guard), concurrency limit and fault policy
as `_HTTPProvider.complete`, with the body read as server-sent events:

- faults before the first piece of output (connection errors, error statuses, an error event
  before any text) are retried with the same backoff, `retry-after` and deadline rules;
- once output has arrived a broken stream raises `StreamInterruptedError` with what arrived;
- the request's read timeout is the time left before the deadline, so a stream that stalls
  past it ends as `BudgetExceeded(axis="ms")`;
- closing the generator closes the response: the provider stops generating (and billing).
"""

# The endpoint's private state (clients, limiter, headers, backoff) is shared with `_http`.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from stratum._runtime.model import Completion, Usage
from stratum.exceptions import ProviderError, StreamInterruptedError
from stratum.providers._faults import (
    is_transport_error,
    map_status,
    map_transport,
    retry_after_seconds,
    scrub,
    should_retry,
)
from stratum.providers._dialect import BadReply
from stratum.providers._http import signed
from stratum.providers._intercept import Exchange, send_intercepted
from stratum.providers._sse import decoder_for, stream_body, stream_path
from stratum.providers._sse_frames import SSEFrames
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport

if TYPE_CHECKING:
    from stratum._runtime.model import CallSpec
    from stratum.providers._http import Authorize, _HTTPProvider

__all__ = ("stream_http",)

_MAX_RETRY_AFTER = 60.0
_MAX_EVENT_BYTES = 1024 * 1024


class _Retry(Exception):
    """Internal: the attempt failed before any output and may be sent again."""

    def __init__(self, error: ProviderError, usage: Usage | None, hint: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.usage = usage
        self.hint = hint


def _plus(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None:
        return b
    return a if b is None else a + b


async def stream_http(provider: _HTTPProvider, call: CallSpec) -> AsyncIterator[StreamEvent]:
    """Stream one attempt of `call` through `provider` (see the module docstring)."""
    dialect = provider._dialect
    body = json.dumps(stream_body(dialect, call), ensure_ascii=False, separators=(",", ":")).encode()
    exchange = Exchange(provider=provider.name, dialect=dialect.name, call=call)
    state = await provider._state()
    builder = state.clients[0]
    limiter = state.limiter
    url = provider._url(stream_path(dialect, call))
    extra = {"accept": "text/event-stream"}
    sent_headers = {**provider._headers, **extra} if provider._user_client is not None else extra
    started = time.monotonic()
    deadline = None if call.timeout is None else started + call.timeout
    fault_usage: Usage | None = None
    retry = 0
    while True:
        timeout = provider._timeout(call, deadline, started)
        request = builder.build_request(
            "POST", url, content=body, headers=sent_headers, extensions={"timeout": timeout}
        )
        # One generator for the whole attempt (no nested ones): each event passes one layer.
        await limiter.acquire()
        if deadline is not None and time.monotonic() >= deadline:
            # handed the slot after the deadline (a busy loop): start nothing that can only be cut
            limiter.release()
            raise provider._deadline_error(call, started, 0.0, "no concurrency slot was free")
        shard = state.pick()
        state.loads[shard] += 1
        response: Any = None
        try:
            try:
                response = await _send(provider, call, state.clients[shard], request, exchange, retry, fault_usage, deadline, started)
                content_type = str(response.headers.get("content-type", "")).partition(";")[0].strip().lower()
                if content_type != "text/event-stream":
                    # A server that ignores `stream: true` answers one JSON body: use it whole.
                    completion = _whole_body(provider, call, await response.aread(), response.headers)
                    if completion.text:
                        yield TextDelta(completion.text)
                    yield UsageReport(completion.usage)
                    yield _with_faults(completion, retry, fault_usage)
                    return
                decoder = decoder_for(dialect, call, provider.name)
                held: list[StreamEvent] | None = []  # usage before the first text: dropped on a retry
                try:
                    frames = SSEFrames(_MAX_EVENT_BYTES)
                    # the body as it comes (one generator less per chunk) unless it is compressed
                    # or already read (a replayed or mocked response)
                    plain = "content-encoding" not in response.headers and not response.is_stream_consumed
                    async for chunk in response.aiter_raw() if plain else response.aiter_bytes():
                        for name, data in frames.feed(chunk):
                            if decoder.done:
                                continue  # read the body to its end so the connection is reused
                            events = decoder.feed(name, data)
                            if held is not None and events:
                                if not any(type(e) is TextDelta for e in events):
                                    held.extend(events)
                                    continue
                                events = [*held, *events]
                                held = None  # from now on, events go straight out
                            for event in events:
                                yield event
                    for name, data in frames.end():  # an event a CR as the body's last byte ends
                        if not decoder.done:
                            events = decoder.feed(name, data)
                            if held is not None:
                                held.extend(events)
                            else:
                                for event in events:
                                    yield event
                except BadReply as exc:  # impossible usage in an event: what it cost is unknown
                    raise _bad_stream(provider, call, str(exc)) from None
                except ProviderError as exc:  # an error event from the provider
                    if not decoder.received():
                        raise _Retry(exc, decoder.usage(), None) from None
                    raise _interrupted(provider, call, decoder.received(), _plus(fault_usage, decoder.usage()), str(exc)) from exc
                except Exception as exc:
                    if not is_transport_error(exc):
                        raise
                    if deadline is not None and provider._timed_out(exc, deadline):
                        exceeded = provider._deadline_error(call, started, 0.0, "the stream was still running")
                        exceeded.usage = _plus(fault_usage, decoder.usage())  # pyright: ignore[reportAttributeAccessIssue]
                        raise exceeded from exc
                    if not decoder.received():
                        error = map_transport(exc, provider=provider.name, model=call.model, secret=provider._secret, retries=retry)
                        raise _Retry(error, decoder.usage(), None) from exc
                    detail = scrub(f"{type(exc).__name__}: {exc}", provider._secret)
                    raise _interrupted(provider, call, decoder.received(), _plus(fault_usage, decoder.usage()), detail) from exc
                if held:
                    for event in held:
                        yield event
                if not decoder.done and dialect.name != "gemini":  # Gemini has no end marker
                    raise _interrupted(
                        provider, call, decoder.received(), _plus(fault_usage, decoder.usage()),
                        "the stream ended before its end event",
                    )
                try:
                    completion = decoder.finish(response.headers)
                except BadReply as exc:
                    raise _bad_stream(provider, call, str(exc)) from None
                yield _with_faults(completion, retry, fault_usage)
                return
            finally:
                state.loads[shard] -= 1
                limiter.release()
                if response is not None:
                    await response.aclose()
        except _Retry as failed:
            fault_usage = _plus(fault_usage, failed.usage)
            error = failed.error
            if fault_usage is not None:
                error.usage = fault_usage  # pyright: ignore[reportAttributeAccessIssue]
            if retry >= provider.max_retries:
                raise error from None
            now = time.monotonic()
            if failed.hint is not None and failed.hint > 0:
                if deadline is not None and now + failed.hint >= deadline:
                    exceeded = provider._deadline_error(
                        call, started, failed.hint, f"the provider asked to wait {failed.hint:g} s, past the deadline"
                    )
                    if fault_usage is not None:
                        exceeded.usage = fault_usage  # pyright: ignore[reportAttributeAccessIssue]
                    raise exceeded from error
                if failed.hint > _MAX_RETRY_AFTER:
                    raise error from None
                wait = failed.hint
            else:
                wait = provider._backoff(retry)
                if deadline is not None and now + wait >= deadline:
                    raise error from None
            await provider._sleep(wait)
            retry += 1


async def _send(
    provider: _HTTPProvider,
    call: CallSpec,
    client: Any,
    request: Any,
    exchange: Exchange,
    retry: int,
    fault_usage: Usage | None,
    deadline: float | None,
    started: float,
) -> Any:
    """Send the request and return the 2xx response, its body unread; `_Retry` for a fault."""
    try:
        authorize = provider._authorize
        send: Any = functools.partial(client.send, stream=True) if authorize is None else _Authorized(client, authorize)
        response = await send_intercepted(request, exchange, send)
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        error = map_transport(exc, provider=provider.name, model=call.model, secret=provider._secret, retries=retry)
        if deadline is not None and provider._timed_out(exc, deadline):
            raise provider._deadline_error(call, started, 0.0, "the request timed out") from exc
        raise _Retry(error, None, None) from exc
    status: int = response.status_code
    if 200 <= status < 300:
        return response
    try:
        content: bytes = await response.aread()
    finally:
        await response.aclose()
    usage = provider._usage_of(content)
    headers: Mapping[str, str] = response.headers
    error = map_status(
        status,
        content.decode(errors="replace"),
        headers,
        provider=provider.name,
        model=call.model,
        secret=provider._secret,
        retries=retry,
        usage=_plus(fault_usage, usage),
    )
    if not should_retry(status, headers):
        raise error
    raise _Retry(error, usage, retry_after_seconds(headers))


class _Authorized:
    """`client.send(request, stream=True)` with per-request auth headers (an Entra token, a
    Google OAuth token, a SigV4 signature) added to a copy of the request, after every
    interceptor: cassettes never see them. `__self__` is the client, as for a bound method."""

    __slots__ = ("__self__", "_authorize")

    def __init__(self, client: Any, authorize: Authorize) -> None:
        self.__self__ = client
        self._authorize = authorize

    async def __call__(self, request: Any) -> Any:
        return await self.__self__.send(await signed(request, self._authorize), stream=True)


def _interrupted(provider: _HTTPProvider, call: CallSpec, received: str, usage: Usage | None, why: str) -> StreamInterruptedError:
    return StreamInterruptedError(
        f"{provider.name} ({call.model}): the stream broke after {len(received)} characters of output ({why}); "
        "what arrived is in .received; retry the call",
        received=received,
        usage=usage,
        provider=provider.name,
        model=call.model,
    )


def _bad_stream(provider: _HTTPProvider, call: CallSpec, problem: str) -> ProviderError:
    """A stream whose events Stratum cannot use (impossible usage: negative, fractional, NaN,
    infinite or absurd): the model ran but its cost is unknown, so the worst case is charged."""
    error = provider._bad_reply(call, 200, f"a stream event with {problem}", None)
    error.usage_unknown = True  # pyright: ignore[reportAttributeAccessIssue]
    return error


def _whole_body(provider: _HTTPProvider, call: CallSpec, content: bytes, headers: Mapping[str, str]) -> Completion:
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(
            f"{provider.name} ({call.model}) answered a stream request with a body that is neither server-sent "
            f"events nor a JSON object: {scrub(content[:200].decode(errors='replace'), provider._secret)!r}. "
            "Check base_url points at the provider's API",
            provider=provider.name,
            model=call.model,
        )
    reply = cast(dict[str, Any], data)
    try:
        return provider._dialect.decode(call, reply, headers)
    except BadReply as exc:
        raise provider._bad_reply(call, 200, str(exc), reply) from None


def _with_faults(completion: Completion, retries: int, fault_usage: Usage | None) -> Completion:
    if not retries and fault_usage is None:
        return completion
    return Completion(
        text=completion.text,
        finish_reason=completion.finish_reason,
        usage=completion.usage,
        model=completion.model,
        request_id=completion.request_id,
        refusal=completion.refusal,
        fault_retries=retries,
        fault_usage=fault_usage,
    )
