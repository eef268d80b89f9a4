"""Streaming an `@infer` call: partial results while the output arrives, with the same
contract, `ensure`, targeted retries, budget and trace as a plain call.

`InferStream` drives the attempts itself, pulled by the consumer (no background task): each
`async for` step reads the provider's stream up to the next piece of output. An attempt is the
plain call's reserve → send → settle → judge, with the send done piece by piece and watched:

- every piece is counted (the provider's own counts win when it reports them) and priced; when
  the attempt would spend more than its envelopes have left, or the deadline arrives, the
  stream is cut, what arrived is charged, the record says `stopped="budget"` / `"deadline"`,
  and `BudgetExceeded` carries the last partial;
- leaving the `async with` block early closes the request; what arrived is charged and the
  record says `stopped="caller"` (status `"cancelled"`);
- a finished attempt is settled and judged like any other; a failed `ensure` or contract
  starts a new stream with the targeted retry section: `s.attempt` goes up, `s.retry_reasons`
  says why, and partials start over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

import anyio

from stratum import _context
from stratum._runtime.attempts import CallOutcome, attempt_record, now, price_after, record_call, resolve_for, status_of
from stratum._runtime.budget import Envelope, Reservation
from stratum._runtime.model import CallSpec, Completion, Usage
from stratum._runtime.partial import NOTHING, PartialParser
from stratum._runtime.prompt import retry_messages
from stratum._runtime.verdict import Verdict, give_up, judge
from stratum.exceptions import BudgetExceeded, ProviderError, StreamInterruptedError
from stratum.pricing._estimate import SCHEMA_OVERHEAD_TOKENS, count_text_tokens, estimate_parts
from stratum.pricing._resolve import resolve_price
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport
from stratum.trace._records import AttemptOutcome, Status
from stratum._util.ids import new_id

if TYPE_CHECKING:
    from stratum._runtime.model import Provider
    from stratum._runtime.routing import StubRoute
    from stratum._runtime.spec import InferSpec
    from stratum.pricing import Price
    from stratum.pricing._estimate import Estimate

__all__ = ("InferStream", "Stopped", "StreamContext")

R = TypeVar("R")

Stopped = Literal["budget", "deadline", "caller"]
"""Why a stream was cut before its end (the record's `stopped`)."""

_END: Any = object()


async def _complete_as_stream(provider: Provider, call: CallSpec) -> AsyncGenerator[StreamEvent, None]:
    """A provider without `stream`: the whole completion as one piece."""
    completion = await provider.complete(call)
    if completion.text:
        yield TextDelta(completion.text)
    yield completion


def _open(provider: Any, call: CallSpec) -> AsyncGenerator[StreamEvent, None]:
    stream = getattr(provider, "stream", None)
    if stream is None:
        return _complete_as_stream(provider, call)
    return stream(call)


class _Deadline:
    """The whole stream's deadline: `next(source)` raises TimeoutError once it has passed.

    Under asyncio one timer serves the whole attempt (a scope per event would cost a timer per
    piece): when it fires while an event is awaited, the task is cancelled and the
    cancellation turned into TimeoutError, as `asyncio.timeout` does. Elsewhere (trio), each
    wait gets an anyio scope.
    """

    __slots__ = ("at", "expired", "handle", "task", "waiting")

    def __init__(self, at: float | None) -> None:
        self.at = at
        self.expired = False
        self.waiting = False
        self.task: asyncio.Task[Any] | None = None
        self.handle: asyncio.TimerHandle | None = None
        if at is None:
            return
        try:
            self.task = asyncio.current_task()
        except RuntimeError:  # not asyncio
            return
        loop = asyncio.get_running_loop()
        self.handle = loop.call_at(loop.time() + (at - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self.expired = True
        if self.waiting and self.task is not None:
            self.task.cancel()

    async def next(self, source: AsyncIterator[StreamEvent]) -> StreamEvent:
        if self.at is None:
            return await source.__anext__()
        if self.task is None:  # trio: anyio's scope
            with anyio.fail_after(max(self.at - time.monotonic(), 0.0)):
                return await source.__anext__()
        if self.expired:
            raise TimeoutError
        self.waiting = True
        try:
            return await source.__anext__()
        except asyncio.CancelledError:
            if self.expired and self.task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self.waiting = False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class _Live:
    """The attempt in flight: what arrived, what it costs so far, and how much it may cost."""

    __slots__ = ("cap", "cap_axis", "cap_env", "encoding", "est_input", "out_tokens", "parts", "reported", "reservation")

    def __init__(self, estimate: Estimate, reservation: Reservation | None) -> None:
        self.parts: list[str] = []
        self.out_tokens = 0
        self.reported: Usage | None = None
        self.est_input = estimate.input_tokens
        self.encoding = estimate.encoding
        self.reservation = reservation
        self.cap: int | None = None
        self.cap_axis: Literal["usd", "tokens"] = "usd"
        self.cap_env: Envelope | None = None

    def text(self) -> str:
        return "".join(self.parts)

    def output_so_far(self) -> int:
        """Output tokens so far: counted, or the provider's count when it is higher."""
        rep = self.reported
        return self.out_tokens if rep is None or rep.output_tokens < self.out_tokens else rep.output_tokens

    def usage(self) -> Usage:
        """What arrived so far: the provider's counts where it reported them, else counted."""
        rep = self.reported
        if rep is None:
            return Usage(self.est_input, self.out_tokens)
        return Usage(
            rep.input_tokens or self.est_input,
            max(rep.output_tokens, self.out_tokens),
            rep.cached_input_tokens,
            rep.cache_write_tokens,
            rep.reasoning_tokens,
        )

    def set_caps(self, env: Envelope | None, price: Price | None) -> None:
        """The output tokens this attempt may reach before it must be cut (None: no limit)."""
        self.cap = None
        reservation = self.reservation
        if env is None or reservation is None:
            return
        input_tokens = self.usage().input_tokens
        for each in env.chain():
            held_tokens = each.reserved_tokens - reservation.tokens if reservation.open else each.reserved_tokens
            if each.budget.tokens is not None:
                fit = each.budget.tokens - each.spent_tokens - held_tokens - input_tokens
                if self.cap is None or fit < self.cap:
                    self.cap, self.cap_axis, self.cap_env = fit, "tokens", each
            if each.budget.usd is not None and price is not None:
                held_usd = each.reserved_usd - reservation.usd if reservation.open else each.reserved_usd
                fit_usd = price.output_tokens_for(each.budget.usd - each.spent_usd - held_usd, input_tokens)
                if fit_usd is not None and (self.cap is None or fit_usd < self.cap):
                    self.cap, self.cap_axis, self.cap_env = fit_usd, "usd", each


class InferStream(Generic[R]):
    """A streamed `@infer` call: iterate it for partial results, await `result()` for the value.

    Iterating yields partial results of the declared type as the output arrives: for a contract,
    an instance whose fields that have arrived are set and validated (the others are `None` or
    their default; `model_fields_set` names the ones set); for `-> str`, the text pieces as they
    arrive; for `list[...]`, the items complete so far. The last partial of a successful stream
    is the final value.

    Attributes:
        attempt: the attempt the current partials belong to (0 first; up by one on a retry).
        retry_reasons: why each earlier attempt of this stream was retried.
        stopped: `"budget"`, `"deadline"` or `"caller"` once the stream was cut, else None.
    """

    def __init__(self, spec: InferSpec, bound: Mapping[str, Any], *, override: Any = None, stub: StubRoute | None = None,
                 meta: Mapping[str, Any] | None = None) -> None:
        self._spec = spec
        self._bound = bound
        self._override = override
        self._stub = stub
        self._meta = meta
        self.attempt = 0
        self.retry_reasons: list[str] = []
        self.stopped: Stopped | None = None
        self._outcome = CallOutcome()
        self._live: _Live | None = None
        self._price: Price | None = None
        self._value: Any = _END
        self._error: BaseException | None = None
        self._driver: AsyncGenerator[str | None, None] = self._stub_drive() if stub is not None else self._drive()
        self._started = False
        self._finished = False
        self._last_partial: Any = None

    # -- what the consumer sees ------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Tokens used so far by every attempt, the one in flight included (live)."""
        live = self._live
        return self._outcome.usage if live is None else self._outcome.usage + live.usage()

    @property
    def cost_usd(self) -> Decimal | None:
        """USD spent so far by every attempt, the one in flight included; None when unpriced."""
        outcome = self._outcome
        if not outcome.priced:
            return None
        live = self._live
        if live is None:
            return outcome.cost
        if self._price is None:
            return None
        return outcome.cost + self._price.cost(live.usage())

    def __aiter__(self) -> AsyncIterator[R]:
        return self._partials()

    async def result(self) -> R:
        """The final value, validated and past every `ensure` (reads the rest of the stream).

        Raises:
            BudgetExceeded: the stream was cut by the budget or the deadline (`.partial` holds
                the last partial); PostconditionFailed, ParseFailure, ProviderError...: as a
                plain call.
        """
        while await self._pull() is not _END:
            pass
        return self._final()

    # -- driving -------------------------------------------------------------------------------

    def _final(self) -> R:
        if self._error is not None:
            raise self._error
        if self._value is _END:
            raise RuntimeError("the stream was closed before it finished; read it inside its `async with` block")
        return cast(R, self._value)

    async def _pull(self) -> Any:
        """The next piece (`str`), None for a retry, or `_END`; stores the driver's error."""
        if self._finished:
            return _END
        self._started = True
        try:
            return await self._driver.__anext__()
        except StopAsyncIteration:
            self._finished = True
            return _END
        except BaseException as exc:
            self._finished = True
            self._error = exc
            raise

    async def _partials(self) -> AsyncGenerator[R, None]:
        output = self._spec.output
        if output.kind == "text":
            while (piece := await self._pull()) is not _END:
                if piece:
                    yield piece
            self._final()
            return
        parser = PartialParser(output)
        while (piece := await self._pull()) is not _END:
            if piece is None:
                parser = PartialParser(output)  # a retry: partials start over
                continue
            live = self._live
            if live is None:
                continue
            value = parser.parse(live.text())
            if value is not NOTHING:
                self._last_partial = value
                yield value
        final = self._final()
        if final != self._last_partial:
            self._last_partial = final
            yield final

    async def aclose(self, exc: BaseException | None = None) -> None:
        """Stop the stream (the `async with` block does this): close the request, record it."""
        if not self._finished:
            self._finished = True
            await self._driver.aclose()

    def _partial_now(self) -> Any:
        live = self._live
        text = live.text() if live is not None else ""
        if self._spec.output.kind == "text":
            return text
        value = PartialParser(self._spec.output).parse(text)
        return self._last_partial if value is NOTHING else value

    async def _stub_drive(self) -> AsyncGenerator[str | None, None]:
        """A stubbed function: its (validated, traced) value arrives as one piece."""
        from stratum._runtime.call import run_stub

        assert self._stub is not None
        value = await run_stub(self._spec, self._stub, self._bound)
        self._value = value
        if self._spec.output.kind == "text" and value:
            yield value

    async def _drive(self) -> AsyncGenerator[str | None, None]:
        spec, bound, outcome = self._spec, self._bound, self._outcome
        started_at, started = now(), time.monotonic()
        record_id = new_id()
        status: Status = "failed"
        error: BaseException | None = None
        label = provider_name = prompt_hash = ""
        parent_env = _context.current_envelope()
        env = (
            Envelope(spec.budget, parent_env, flow_id=parent_env.flow_id if parent_env else None)
            if spec.budget
            else parent_env
        )
        live: _Live | None = None
        attempt_hash = ""
        sent = started
        max_tokens = spec.max_tokens
        try:
            resolved = resolve_for(spec, self._override)
            label, provider_name = resolved.label, resolved.provider_name
            prompt = spec.compile(bound)
            prompt_hash = prompt.hash
            price = self._price = resolve_price(label, resolved.provider, provider_name, resolved.model)
            overhead: int = getattr(resolved.provider, "schema_overhead_tokens", SCHEMA_OVERHEAD_TOKENS)
            messages, attempt_hash = prompt.messages, prompt.hash
            last = Verdict("parse_error")
            last_text = ""
            for attempt in range(spec.retries + 1):
                if attempt:
                    self.attempt = attempt
                    yield None  # tell the consumer: partials start over
                est = estimate_parts(
                    resolved.model, messages, spec.output.schema, spec.output.hash, spec.max_tokens, provider_name,
                    schema_overhead=overhead,
                )
                reservation: Reservation | None = None
                timeout: float | None = None
                max_tokens = spec.max_tokens
                if env is not None:
                    try:
                        reservation = env.reserve(
                            input_tokens=est.reserved_input_tokens, max_tokens=max_tokens, price=price, model=label
                        )
                    except BudgetExceeded as exc:
                        outcome.attempts.append(attempt_record(attempt, attempt_hash, "budget", estimated=est.input_tokens, error=exc))
                        raise
                    max_tokens = reservation.max_tokens
                    timeout = env.seconds_left()
                call = CallSpec(
                    model=resolved.model,
                    messages=messages,
                    output_schema=spec.output.schema,
                    output_name=spec.output.name,
                    max_tokens=max_tokens,
                    temperature=spec.temperature,
                    timeout=timeout,
                    function=spec.qualname,
                    attempt=attempt,
                    prompt_hash=prompt.hash,
                    contract_hash=spec.output.hash,
                    attachments=prompt.attachments,
                )
                live = self._live = _Live(est, reservation)
                live.set_caps(env, price)
                completion: Completion | None = None
                sent = time.monotonic()
                deadline = _Deadline(None if timeout is None else sent + timeout)
                source = _open(resolved.provider, call)
                try:
                    async with aclosing(source):
                        while True:
                            try:
                                event = await deadline.next(source)
                            except StopAsyncIteration:
                                break
                            if isinstance(event, TextDelta):
                                live.parts.append(event.text)
                                live.out_tokens += count_text_tokens(event.text, live.encoding)
                                if live.cap is not None and live.output_so_far() > live.cap:
                                    raise self._cut(env, live, price, "budget", attempt, attempt_hash, sent, max_tokens)
                                yield event.text
                            elif isinstance(event, UsageReport):
                                before = live.usage().input_tokens
                                live.reported = event.usage
                                if live.usage().input_tokens != before:
                                    live.set_caps(env, price)
                            else:
                                completion = event
                except TimeoutError:
                    raise self._cut(env, live, price, "deadline", attempt, attempt_hash, sent, max_tokens) from None
                except BudgetExceeded as exc:
                    if exc.axis != "ms" or self.stopped is not None:
                        raise
                    # the provider layer's own deadline (a stalled read, a retry-after past it)
                    reported: Usage | None = getattr(exc, "usage", None)
                    if reported is not None:
                        live.reported = reported
                    raise self._cut(env, live, price, "deadline", attempt, attempt_hash, sent, max_tokens) from None
                except ProviderError as exc:
                    used: Usage | None = getattr(exc, "usage", None)
                    if isinstance(exc, StreamInterruptedError) and exc.received:
                        if used is not None:
                            live.reported = used
                        used = live.usage()  # the provider bills what it sent
                    self._settle(env, live, price, used, attempt, attempt_hash, sent, max_tokens, "provider_error", exc)
                    raise
                finally:
                    deadline.close()
                if completion is None:
                    raise StreamInterruptedError(
                        f"{spec.qualname}: the stream of {label} ended without a final response; retry the call",
                        received=live.text(),
                        provider=provider_name,
                        model=resolved.model,
                    )
                usage = completion.usage
                if usage == Usage() and completion.text:
                    usage = live.usage()  # the provider reported nothing: what we counted
                if completion.fault_usage is not None:
                    usage = usage + completion.fault_usage
                call_price = price_after(label, resolved, price, completion)
                cost = call_price.cost(usage) if call_price is not None else None
                outcome.charge(usage, cost)
                outcome.response_model = completion.model
                if env is not None:
                    outcome.events.extend(env.settle(reservation, usage, cost))
                latency = (time.monotonic() - sent) * 1000
                self._live = None
                verdict = judge(spec, bound, completion, max_tokens=max_tokens, provider=provider_name, model=resolved.model)
                outcome.attempts.append(
                    attempt_record(
                        attempt, attempt_hash, verdict.outcome, completion=completion, usage=usage, cost=cost,
                        latency_ms=latency, estimated=est.input_tokens, max_tokens=max_tokens,
                        violations=verdict.violations, error=verdict.error,
                    )
                )
                if verdict.error is not None:
                    raise verdict.error
                if verdict.outcome == "ok":
                    self._value = verdict.value
                    outcome.output = verdict.value
                    status = "ok"
                    return
                last, last_text = verdict, completion.text
                if attempt < spec.retries:
                    self.retry_reasons.append("; ".join(verdict.violations))
                    messages, attempt_hash = retry_messages(prompt, completion.text, verdict.violations)
            raise give_up(spec, outcome.attempts, last, last_text)
        except GeneratorExit:
            # the consumer left the block early: the request is closed (aclosing above)
            status = "cancelled"
            self._stop_in_flight(env, "caller", attempt_hash, sent, max_tokens)
            raise
        except BaseException as exc:
            error = exc
            status = status_of(exc)
            if status == "cancelled":
                self._stop_in_flight(env, None, attempt_hash, sent, max_tokens)
            raise
        finally:
            live = self._live
            if live is not None and live.reservation is not None and env is not None:
                env.release(live.reservation)
            self._live = None
            record_call(
                record_id=record_id,
                function=spec.qualname,
                model=label,
                provider=provider_name,
                bound=bound,
                opaque=spec.opaque_params,
                outcome=outcome,
                status=status,
                error=None if status == "ok" else error,
                prompt_hash=prompt_hash,
                contract_hash=spec.output.hash,
                started_at=started_at,
                started=started,
                meta=self._meta,
                stopped=self.stopped,
            )

    # -- charging what arrived -------------------------------------------------------------------

    def _settle(
        self,
        env: Envelope | None,
        live: _Live,
        price: Price | None,
        used: Usage | None,
        attempt: int,
        attempt_hash: str,
        sent: float,
        max_tokens: int | None,
        kind: AttemptOutcome,
        exc: BaseException | None,
    ) -> None:
        """Charge `used` for the attempt in flight, settle its reservation and record it."""
        outcome = self._outcome
        cost = price.cost(used) if used is not None and price is not None else None
        if used is not None:
            outcome.charge(used, cost)
        if env is not None:
            outcome.events.extend(env.settle(live.reservation, used or Usage(), cost if used else Decimal(0)))
        live.reservation = None
        self._live = None
        text = live.text()
        outcome.attempts.append(
            attempt_record(
                attempt, attempt_hash, kind, usage=used, cost=cost, latency_ms=(time.monotonic() - sent) * 1000,
                estimated=live.est_input, max_tokens=max_tokens, error=exc,
                completion=Completion(text=text, finish_reason="other") if text else None,
            )
        )

    def _cut(
        self,
        env: Envelope | None,
        live: _Live,
        price: Price | None,
        why: Stopped,
        attempt: int,
        attempt_hash: str,
        sent: float,
        max_tokens: int | None,
    ) -> BudgetExceeded:
        """Stop the attempt in flight for the budget or the deadline; the error to raise."""
        self.stopped = why
        partial = self._partial_now()
        used = live.usage()
        spec = self._spec
        if why == "deadline":
            tight = env.chain() if env is not None else ()
            limited = [e for e in tight if e.deadline is not None]
            chosen = min(limited, key=lambda e: e.deadline or 0.0) if limited else None
            limit: Any = chosen.budget.ms if chosen is not None and chosen.budget.ms is not None else 0.0
            spent: Any = chosen.elapsed_ms if chosen is not None else 0.0
            error = BudgetExceeded(
                f"{spec.qualname}: the time budget of {limit:g} ms ran out while the stream was running "
                f"({len(live.text())} characters had arrived); raise Budget(ms=...) or ask for a shorter answer",
                axis="ms", limit=limit, spent=spent, partial=partial,
            )
        else:
            bound_env = live.cap_env
            assert bound_env is not None
            if live.cap_axis == "tokens":
                limit = bound_env.budget.tokens or 0
                spent = bound_env.spent_tokens + used.total_tokens
                what = f"token budget of {limit}"
            else:
                limit = bound_env.budget.usd or Decimal(0)
                spent = bound_env.spent_usd + (price.cost(used) if price is not None else Decimal(0))
                what = f"usd budget of ${limit}"
            error = BudgetExceeded(
                f"{spec.qualname}: the stream was cut at {used.output_tokens} output tokens: going on would pass the "
                f"{what} (the provider sent more than the reservation allowed for); raise the budget, set "
                "max_tokens= lower, or ask for a shorter answer",
                axis=live.cap_axis, limit=limit, spent=spent, partial=partial,
            )
        self._settle(env, live, price, used, attempt, attempt_hash, sent, max_tokens, "budget", error)
        return error

    def _stop_in_flight(self, env: Envelope | None, why: Stopped | None, attempt_hash: str, sent: float, max_tokens: int | None) -> None:
        """The consumer left (or the task was cancelled) mid-attempt: charge what arrived."""
        live = self._live
        if live is None:
            if why is not None and not self._finished_ok():
                self.stopped = why
            return
        self.stopped = why
        used = live.usage() if live.parts or live.reported is not None else None
        self._settle(env, live, self._price, used, self.attempt, attempt_hash, sent, max_tokens, "cancelled", None)

    def _finished_ok(self) -> bool:
        return self._value is not _END


class StreamContext(Generic[R]):
    """What `fn.stream(...)` returns: `async with` it to get the `InferStream`."""

    def __init__(self, opener: Any) -> None:
        self._opener = opener
        self._stream: InferStream[R] | None = None

    async def __aenter__(self) -> InferStream[R]:
        self._stream = self._opener()
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose(exc)
