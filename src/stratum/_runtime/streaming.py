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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

import anyio

from stratum._runtime.attempts import Attempt, AttemptLoop, Verdict, resolve_for
from stratum._runtime.metering import charged_usage
from stratum._runtime.model import Completion, Usage
from stratum._runtime.partial import NOTHING, PartialParser
from stratum._runtime.prompt import retry_messages
from stratum._runtime.recording import CallTally, Recording, recording
from stratum.exceptions import BudgetExceeded, ConfigurationError, ProviderError, StreamInterruptedError
from stratum.pricing._estimate import count_like
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport
from stratum.trace._records import AttemptOutcome, Stopped

if TYPE_CHECKING:
    from stratum._runtime.budget import Envelope
    from stratum._runtime.model import CallSpec, Provider
    from stratum._runtime.routing import StubRoute
    from stratum._runtime.spec import InferSpec
    from stratum.pricing import Price

__all__ = ("InferStream", "StreamContext")

R = TypeVar("R")

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
    """The whole attempt's deadline, under asyncio: one timer for the whole stream.

    A scope per event would cost a timer per piece. Instead one timer is armed for the
    attempt; when it fires while the stream waits for the provider (`waiting`), the task is
    cancelled and the cancellation turned into TimeoutError (as `asyncio.timeout` does); when
    it fires while the consumer holds a piece, `expired` is checked as soon as the consumer
    asks for the next one. Elsewhere (trio) each wait gets an anyio scope (`_within`).
    """

    __slots__ = ("expired", "handle", "task", "waiting")

    def __init__(self, task: asyncio.Task[Any], at: float) -> None:
        self.expired = False
        self.waiting = False
        self.task = task
        loop = asyncio.get_running_loop()
        self.handle = loop.call_at(loop.time() + (at - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self.expired = True
        if self.waiting:
            self.task.cancel()

    def timed_out(self) -> bool:
        """After a cancellation while waiting: True when it was this deadline's own."""
        return self.expired and self.task.uncancel() == 0

    def close(self) -> None:
        self.handle.cancel()


def _deadline_for(at: float | None) -> _Deadline | None:
    """The asyncio deadline of an attempt; None without a deadline or outside asyncio."""
    if at is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # not asyncio
        return None
    return None if task is None else _Deadline(task, at)


async def _within(source: AsyncGenerator[StreamEvent, None], at: float) -> AsyncGenerator[StreamEvent, None]:
    """`source` with each wait bounded by the deadline `at` (TimeoutError): the non-asyncio path."""
    async with aclosing(source):
        while True:
            with anyio.fail_after(max(at - time.monotonic(), 0.0)):
                try:
                    event = await source.__anext__()
                except StopAsyncIteration:
                    return
            yield event


class _Live:
    """The attempt in flight: what arrived, what it costs so far, and how much it may cost.

    Output is counted the way the attempt's input estimate was: for a model with a known
    tokenizer, as UTF-8 bytes (an upper bound) until that count passes the cap; then `refine`
    counts what arrived exactly (and the input too, while the provider has not reported it).
    It is counted lazily, when a count is read: each piece still counts on its own (the sum is
    the same as counting them as they come), but a piece that cannot reach the cap (4 tokens
    per character is more than any count gives) is not counted on arrival.
    """

    __slots__ = (
        "attempt", "cap", "cap_axis", "cap_env", "counted", "estimate", "est_input", "parts", "reported", "tokens",
        "unsure",
    )

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.parts: list[str] = []
        self.tokens = 0  # the tokens of parts[:counted]
        self.counted = 0
        self.unsure = 0  # at most the tokens of parts[counted:] (while a cap watches them)
        self.reported: Usage | None = None
        self.estimate = attempt.estimate
        self.est_input = attempt.estimate.input_tokens
        self.cap: int | None = None
        self.cap_axis: Literal["usd", "tokens"] = "usd"
        self.cap_env: Envelope | None = None

    def text(self) -> str:
        return "".join(self.parts)

    def out_tokens(self) -> int:
        """The output tokens counted so far (the sum of each piece's count)."""
        parts = self.parts
        if self.counted < len(parts):
            estimate = self.estimate
            tokens = self.tokens
            for piece in parts[self.counted :]:
                tokens += count_like(estimate, piece)
            self.tokens = tokens
            self.counted = len(parts)
            self.unsure = 0
        return self.tokens

    def over_cap(self) -> bool:
        """True when the output so far passes the cap (counted only when it may)."""
        cap = self.cap
        if cap is None:
            return False
        rep = self.reported
        if rep is not None and rep.output_tokens > cap:
            return True
        return self.tokens + self.unsure > cap and self.out_tokens() > cap

    def refine(self, env: Envelope | None, price: Price | None) -> bool:
        """Count exactly what was counted as a bound; True when that brings it back under the cap."""
        estimate = self.estimate
        if not estimate.bound:
            return False
        self.estimate = estimate.refined()  # loads the tokenizer
        self.tokens = count_like(self.estimate, self.text())
        self.counted = len(self.parts)
        self.unsure = 0
        if self.reported is None or not self.reported.input_tokens:
            self.est_input = self.estimate.input_tokens
            self.set_caps(env, price)
        return not self.over_cap()

    def output_so_far(self) -> int:
        """Output tokens so far: counted, or the provider's count when it is higher."""
        rep = self.reported
        counted = self.out_tokens()
        return counted if rep is None or rep.output_tokens < counted else rep.output_tokens

    def input_tokens(self) -> int:
        """Input tokens: the provider's count once it reported one, else the estimate."""
        rep = self.reported
        return self.est_input if rep is None else rep.input_tokens or self.est_input

    def usage(self) -> Usage:
        """What arrived so far: the provider's counts where it reported them, else counted."""
        rep = self.reported
        if rep is None:
            return Usage(self.est_input, self.out_tokens())
        return Usage(
            rep.input_tokens or self.est_input,
            max(rep.output_tokens, self.out_tokens()),
            rep.cached_input_tokens,
            rep.cache_write_tokens,
            rep.reasoning_tokens,
        )

    def set_caps(self, env: Envelope | None, price: Price | None) -> None:
        """The output tokens this attempt may reach before it must be cut (None: no limit)."""
        self.cap = None
        reservation = self.attempt.reservation
        if env is None or reservation is None:
            return
        input_tokens = self.input_tokens()
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

    def __init__(
        self,
        spec: InferSpec,
        bound: Mapping[str, Any],
        *,
        model: Any = None,
        stub: StubRoute | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._spec = spec
        self._bound = bound
        self._model = model
        self._stub = stub
        self._meta = meta
        self.attempt = 0
        self.retry_reasons: list[str] = []
        self.stopped: Stopped | None = None
        self._tally = CallTally()
        self._live: _Live | None = None
        self._price: Price | None = None
        self._value: Any = _END
        self._error: BaseException | None = None
        self._driver: AsyncGenerator[str | None, None] = self._stub_drive() if stub is not None else self._drive()
        self._finished = False
        self._last_partial: Any = None
        self._iterators: list[AsyncGenerator[R, None]] = []

    # -- what the consumer sees ------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Tokens used so far by every attempt, the one in flight included (live)."""
        live = self._live
        return self._tally.usage if live is None else self._tally.usage + live.usage()

    @property
    def cost_usd(self) -> Decimal | None:
        """USD spent so far by every attempt, the one in flight included; None when unpriced."""
        tally = self._tally
        if not tally.priced:
            return None
        live = self._live
        if live is None:
            return tally.cost
        if self._price is None:
            return None
        return tally.cost + self._price.cost(live.usage())

    def __aiter__(self) -> AsyncIterator[R]:
        iterator = self._partials()
        self._iterators.append(iterator)  # closed with the stream, even when left mid-way
        return iterator

    async def result(self) -> R:
        """The final value, validated and past every `ensure` (reads the rest of the stream).

        Raises:
            BudgetExceeded: the stream was cut by the budget or the deadline (`.partial` holds
                the last partial); PostconditionFailed, ParseFailure, ProviderError...: as a
                plain call.
        """
        if not self._finished:
            try:
                async for _ in self._driver:
                    pass
            except BaseException as exc:
                self._error = exc
                raise
            finally:
                self._finished = True
        return self._final()

    # -- driving -------------------------------------------------------------------------------

    def _final(self) -> R:
        if self._error is not None:
            raise self._error
        if self._value is _END:
            raise RuntimeError("the stream was closed before it finished; read it inside its `async with` block")
        return cast(R, self._value)

    async def _partials(self) -> AsyncGenerator[R, None]:
        output = self._spec.output
        driver = self._driver
        text = output.kind == "text"
        parser = None if text else PartialParser(output)
        while not self._finished:
            try:
                piece = await driver.__anext__()
            except StopAsyncIteration:
                self._finished = True
                break
            except BaseException as exc:
                self._finished = True
                self._error = exc
                raise
            if text:
                if piece:
                    yield cast(R, piece)
                continue
            if piece is None:
                parser = PartialParser(output)  # a retry: partials start over
                continue
            live = self._live
            if live is None or parser is None:
                continue
            value = parser.parse(live.text())
            if value is not NOTHING:
                self._last_partial = value
                yield value
        final = self._final()
        if not text and final != self._last_partial:
            self._last_partial = final
            yield final

    async def aclose(self) -> None:
        """Stop the stream (the `async with` block does this): close the request, record it."""
        for iterator in self._iterators:
            await iterator.aclose()
        self._iterators.clear()
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
        """The attempts of the call; yields each piece of output text, None before a retry.

        One generator for the whole call, the send of each attempt inline: a piece passes one
        generator on its way from the provider's stream to the consumer.
        """
        spec, bound = self._spec, self._bound
        with recording(
            spec.qualname, bound=bound, opaque=spec.opaque_params, contract_hash=spec.output.hash, meta=self._meta
        ) as rec:
            rec.tally = self._tally
            resolved = resolve_for(spec, self._model)
            rec.model, rec.provider = resolved.label, resolved.provider_name
            prompt = spec.compile(bound)
            rec.prompt_hash = prompt.hash
            loop = AttemptLoop(spec, bound, resolved, prompt, rec)
            if loop.shared:
                raise ConfigurationError(
                    f"{spec.qualname}: streaming under a shared budget (Budget(key=...)) is not supported yet; "
                    "call the function without .stream() or use a local budget for streamed calls"
                )
            self._price = loop.price
            messages, prompt_hash = prompt.messages, prompt.hash
            verdict = Verdict()
            last_text = ""
            try:
                for number in range(spec.retries + 1):
                    if number:
                        self.attempt = number
                        yield None  # tell the consumer: partials start over
                    attempt = loop.reserve(number, messages, prompt_hash)
                    live = self._live = _Live(attempt)
                    live.set_caps(loop.env, loop.price)
                    # -- the send, piece by piece, watching the cost and the deadline --------
                    call = loop.call_for(attempt)
                    attempt.sent = time.monotonic()
                    at = None if attempt.timeout is None else attempt.sent + attempt.timeout
                    deadline = _deadline_for(at)
                    source = _open(loop.resolved.provider, call)
                    if at is not None and deadline is None:
                        source = _within(source, at)
                    parts = live.parts
                    completion: Completion | None = None
                    try:
                        async with aclosing(source):  # leaving early closes the request at once
                            if deadline is not None:
                                deadline.waiting = True
                            try:
                                async for event in source:
                                    if type(event) is TextDelta:
                                        text = event.text
                                        parts.append(text)
                                        if live.cap is not None:
                                            live.unsure += 4 * len(text)
                                            if live.over_cap() and not live.refine(loop.env, loop.price):
                                                raise self._cut(loop, live, rec, "budget")
                                        if deadline is None:
                                            yield text
                                            continue
                                        deadline.waiting = False
                                        yield text
                                        if deadline.expired:
                                            raise TimeoutError
                                        deadline.waiting = True
                                    elif type(event) is UsageReport:
                                        before = live.input_tokens()
                                        live.reported = event.usage
                                        if live.input_tokens() != before:
                                            live.set_caps(loop.env, loop.price)
                                    else:
                                        completion = cast(Completion, event)
                            finally:
                                if deadline is not None:
                                    deadline.waiting = False  # closing the source is not a wait
                    except TimeoutError:
                        raise self._cut(loop, live, rec, "deadline") from None
                    except asyncio.CancelledError:
                        if deadline is not None and deadline.timed_out():
                            raise self._cut(loop, live, rec, "deadline") from None
                        raise
                    except BudgetExceeded as exc:
                        if exc.axis != "ms" or self.stopped is not None:
                            raise
                        # the provider layer's own deadline (a stalled read, a retry-after past it)
                        reported: Usage | None = getattr(exc, "usage", None)
                        if reported is not None:
                            live.reported = reported
                        raise self._cut(loop, live, rec, "deadline") from None
                    except ProviderError as exc:
                        self._provider_error(loop, live, exc)
                        raise
                    finally:
                        if deadline is not None:
                            deadline.close()
                    self._settle(loop, live, completion)
                    completion = attempt.completion
                    assert completion is not None
                    self._live = None
                    verdict = loop.judge(attempt, completion)  # refusals and filtered outputs raise
                    if not verdict.violations:
                        rec.output = self._value = verdict.value
                        return
                    last_text = completion.text
                    if number < spec.retries:
                        self.retry_reasons.append("; ".join(verdict.violations))
                        messages, prompt_hash = retry_messages(prompt, completion.text, verdict.violations)
                raise loop.give_up(verdict, last_text)
            except GeneratorExit:
                # the consumer left the block early: the request is already closed
                self._stop_in_flight(loop, rec, "caller")
                raise
            except anyio.get_cancelled_exc_class():
                self._stop_in_flight(loop, rec, None)
                raise

    def _settle(self, loop: AttemptLoop, live: _Live, completion: Completion | None) -> None:
        """The attempt's stream ended: settle it like a plain call's reply."""
        if completion is None:
            raise StreamInterruptedError(
                f"{self._spec.qualname}: the stream of {loop.resolved.label} ended without a final response; "
                "retry the call",
                received=live.text(),
                provider=loop.resolved.provider_name,
                model=loop.resolved.model,
            )
        if completion.usage == Usage() and completion.text:
            # the provider reported no usage (some servers never do when streaming): what we counted
            counted = live.usage()
            completion = Completion(
                text=completion.text, finish_reason=completion.finish_reason, usage=counted, model=completion.model,
                request_id=completion.request_id, refusal=completion.refusal, fault_retries=completion.fault_retries,
                fault_usage=completion.fault_usage,
            )
        loop.settle(live.attempt, completion)

    def _provider_error(self, loop: AttemptLoop, live: _Live, exc: ProviderError) -> None:
        """Charge what a failed stream cost: what arrived, or the worst case when unknown."""
        used: Usage | None = getattr(exc, "usage", None)
        if isinstance(exc, StreamInterruptedError) and exc.received:
            if used is not None:
                live.reported = used
            used = live.usage()  # the provider bills what it sent
        elif used is None and getattr(exc, "usage_unknown", False):
            # the model ran but what it cost cannot be read (impossible usage): the worst case
            attempt = live.attempt
            used = charged_usage(attempt.estimate, attempt.reservation, live.text())
            attempt.estimated = self._tally.estimated = True
        self._charge(loop, live, used, "provider_error", exc)

    # -- charging what arrived -------------------------------------------------------------------

    def _charge(
        self, loop: AttemptLoop, live: _Live, used: Usage | None, outcome: AttemptOutcome, exc: BaseException | None
    ) -> None:
        """Charge `used` for the attempt in flight, settle its reservation and record it."""
        attempt = live.attempt
        self._live = None
        if used is not None:
            attempt.usage = used
            attempt.cost = loop.price.cost(used) if loop.price is not None else None
            self._tally.charge(used, attempt.cost)
        if loop.env is not None:
            self._tally.events.extend(
                loop.env.settle(attempt.reservation, used or Usage(), attempt.cost if used is not None else Decimal(0))
            )
        attempt.reservation = None
        text = live.text()
        if text:
            attempt.completion = Completion(text=text, finish_reason="other")
        self._tally.attempts.append(attempt.record(outcome, error=exc))

    def _cut(self, loop: AttemptLoop, live: _Live, rec: Recording, why: Stopped) -> BudgetExceeded:
        """Stop the attempt in flight for the budget or the deadline; the error to raise."""
        self.stopped = rec.stopped = why
        partial = self._partial_now()
        used = live.usage()
        spec = self._spec
        env = loop.env
        if why == "deadline":
            limited = [e for e in (env.chain() if env is not None else ()) if e.deadline is not None]
            chosen = min(limited, key=lambda e: e.deadline or 0.0) if limited else None
            limit: Any = chosen.budget.ms if chosen is not None and chosen.budget.ms is not None else 0.0
            spent: Any = chosen.elapsed_ms if chosen is not None else 0.0
            error = BudgetExceeded(
                f"{spec.qualname}: the time budget of {limit:g} ms ran out while the stream was running "
                f"({len(live.text())} characters had arrived); raise Budget(ms=...) or ask for a shorter answer",
                axis="ms",
                limit=limit,
                spent=spent,
                partial=partial,
            )
        else:
            binding = live.cap_env
            assert binding is not None
            if live.cap_axis == "tokens":
                limit = binding.budget.tokens or 0
                spent = binding.spent_tokens + used.total_tokens
                what = f"token budget of {limit}"
            else:
                limit = binding.budget.usd or Decimal(0)
                spent = binding.spent_usd + (loop.price.cost(used) if loop.price is not None else Decimal(0))
                what = f"usd budget of ${limit}"
            error = BudgetExceeded(
                f"{spec.qualname}: the stream was cut at {used.output_tokens} output tokens: going on would pass "
                f"the {what} (more output than the reservation allowed for); raise the budget, set max_tokens= "
                "lower, or ask for a shorter answer",
                axis=live.cap_axis,
                limit=limit,
                spent=spent,
                partial=partial,
            )
        self._charge(loop, live, used, "budget", error)
        return error

    def _stop_in_flight(self, loop: AttemptLoop, rec: Recording, why: Stopped | None) -> None:
        """The consumer left (or the task was cancelled) mid-stream: charge what arrived."""
        if why is not None:
            self.stopped = rec.stopped = why
        live = self._live
        if live is None:
            return
        used = live.usage() if live.parts or live.reported is not None else None
        self._charge(loop, live, used, "cancelled", None)


class StreamContext(Generic[R]):
    """What `fn.stream(...)` returns: `async with` it to get the `InferStream`.

    Entering routes the call and checks `given` (nothing is sent until the stream is read);
    leaving closes the stream, charging and recording what arrived if it was not finished.
    """

    __slots__ = ("_open", "_stream")

    def __init__(self, open_stream: Callable[[], InferStream[R]]) -> None:
        self._open = open_stream
        self._stream: InferStream[R] | None = None

    async def __aenter__(self) -> InferStream[R]:
        stream = self._stream = self._open()
        return stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()
