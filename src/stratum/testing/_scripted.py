"""`ScriptedModel`: a model that answers from a script, through the whole attempt loop."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio

from stratum._runtime.budget import current_budget
from stratum._runtime.model import CallSpec, Completion, FinishReason, Usage
from stratum.exceptions import BudgetExceeded, ScriptExhaustedError
from stratum.pricing._estimate import estimate_text_tokens
from stratum.pricing._price import FREE, Price
from stratum.testing._faults import Fault
from stratum._runtime.tool_types import ToolCall
from stratum.providers._stream_events import StreamEvent, TextDelta, UsageReport
from stratum.testing._reply import Reply, UsageLike, as_usage, render_output, split_text

__all__ = ("ModelRequest", "Reply", "ScriptedModel", "UsageLike", "render_output")

ModelRequest = CallSpec
"""What a model received: `.instructions`, `.attachments`, `.messages`, `.max_tokens`, `.attempt`."""


class ScriptedModel:
    """A model object that answers from a script, going through the whole attempt loop.

    Each response is a dict, a contract instance, a `str` (the raw text), an exception
    instance to raise, a `Reply`, or a provider fault from `stratum.testing.faults`. Without an
    explicit usage, tokens are estimated from the request and the answer. Without a `price`,
    calls cost nothing, so flows with `usd` budgets run unchanged.

    A retryable fault (`faults.rate_limit()`, `server_error()`, `overloaded()`, `timeout()`)
    is retried here the way a provider's fault layer does it: the next scripted response
    answers the same attempt, up to `max_retries` (3) times, after waiting `retry_after`
    seconds; a wait past the deadline raises `BudgetExceeded(axis="ms")` at once. Fault
    retries do not consume `@infer(retries=)` and are counted in the attempt's
    `fault_retries`. Non-retryable faults and exhausted retries raise the provider's error.

    Example:
        ```python
        model = ScriptedModel([{"label": "positive", "confidence": 0.42, "reasoning": "…"},
                               Reply({"label": "positive", "confidence": 0.93, "reasoning": "…"},
                                     usage=(120, 30))])
        with use_model(model):
            await classify(text="Love it")
        assert model.requests[1].attempt == 1
        ```
    """

    name = "scripted"
    model_name = "scripted"
    schema_overhead_tokens = 0
    """A scripted model adds no hidden prompt to structured-output requests."""
    max_retries = 3
    """Fault retries per attempt, like the built-in providers' default `max_retries`."""
    __test__ = False

    def __init__(
        self,
        responses: Iterable[Any],
        *,
        usage: UsageLike | None = None,
        latency_ms: float = 0,
        price: Price | None = None,
    ) -> None:
        self._responses: list[Any] = list(responses)
        self._cursor = 0
        self._usage = as_usage(usage)
        self._latency_ms = latency_ms
        self.price: Price = price if price is not None else FREE
        self.requests: list[ModelRequest] = []
        self._call_ids = 0

    @property
    def remaining(self) -> int:
        """How many scripted responses are left."""
        return len(self._responses) - self._cursor

    def _next(self, call: CallSpec, fault_retries: int) -> Any:
        index = self._cursor
        if index >= len(self._responses):
            after_fault = (
                f" after {fault_retries} fault retr{'y' if fault_retries == 1 else 'ies'} "
                "(a retryable fault takes the next response, like a provider's retry)"
                if fault_retries
                else ""
            )
            raise ScriptExhaustedError(
                f"ScriptedModel has {len(self._responses)} response(s) but {call.function or 'a call'} "
                f"asked for response #{index + 1} (attempt {call.attempt}){after_fault}; "
                "add responses to the script"
            )
        self._cursor += 1
        return self._responses[index]

    async def _wait_for_retry(self, fault: Fault, started: float, call: CallSpec) -> None:
        wait = fault.retry_after or 0.0
        if call.timeout is not None and wait > call.timeout - (time.monotonic() - started):
            env = current_budget()
            limit = env.budget.ms if env is not None and env.budget.ms is not None else 0.0
            spent = (env.elapsed_ms if env is not None else 0.0) + wait * 1000
            raise BudgetExceeded(
                f"{call.function or 'the call'}: the provider asked to wait {wait:g}s (retry-after) but "
                f"the deadline is {max(call.timeout, 0):.3g}s away; raise Budget(ms=...) or slow the flow down",
                axis="ms",
                limit=limit,
                spent=spent,
            )
        if wait:
            await anyio.sleep(wait)

    async def _answer(self, call: CallSpec) -> tuple[Completion, float, int]:
        """The next scripted answer to `call`: its completion, latency (ms) and chunk count."""
        self.requests.append(call)
        started = time.monotonic()
        fault_retries = 0
        while True:
            item = self._next(call, fault_retries)
            if not isinstance(item, Fault):
                break
            if not item.retryable or fault_retries >= self.max_retries:
                raise item.error(provider=self.name, model=call.model)
            await self._wait_for_retry(item, started, call)
            fault_retries += 1
        reply = item if isinstance(item, Reply) else Reply(item)
        latency = reply.latency_ms if reply.latency_ms is not None else self._latency_ms
        if isinstance(reply.output, BaseException):
            if latency:
                await anyio.sleep(latency / 1000)
            raise reply.output
        text = render_output(reply.output)
        usage = reply.usage or self._usage or Usage(
            input_tokens=sum(estimate_text_tokens(m.content) for m in call.messages),
            output_tokens=max(estimate_text_tokens(text), 1),
        )
        finish: FinishReason = reply.finish_reason
        calls = self._number(reply.tool_calls)
        if calls and finish == "stop":
            finish = "tool_use"
        if call.max_tokens is not None and usage.output_tokens > call.max_tokens:
            # A real provider never returns more than max_tokens: cut the answer off there.
            keep = max(len(text) * call.max_tokens // usage.output_tokens, 0)
            text = text[:keep]
            usage = Usage(
                usage.input_tokens,
                call.max_tokens,
                usage.cached_input_tokens,
                usage.cache_write_tokens,
                min(usage.reasoning_tokens, call.max_tokens),
            )
            finish = "length"
        completion = Completion(
            text=text,
            finish_reason=finish,
            usage=usage,
            model=reply.model or self.model_name,
            refusal=reply.refusal if finish == "refusal" else None,
            fault_retries=fault_retries,
            tool_calls=calls,
        )
        return completion, latency, reply.chunks

    async def complete(self, call: CallSpec, /) -> Completion:
        """Answer `call` with the next scripted response."""
        completion, latency, _ = await self._answer(call)
        if latency:
            await anyio.sleep(latency / 1000)
        return completion

    async def stream(self, call: CallSpec, /) -> AsyncIterator[StreamEvent]:
        """Answer `call` with the next scripted response, in `Reply(..., chunks=N)` pieces.

        The input tokens are reported first (as a provider does when the stream opens), each
        piece arrives after its share of the latency, and the final usage comes last.
        """
        completion, latency, chunks = await self._answer(call)
        pieces = split_text(completion.text, chunks)
        usage = completion.usage
        yield UsageReport(Usage(usage.input_tokens, 0, usage.cached_input_tokens, usage.cache_write_tokens, 0))
        for piece in pieces:
            if latency:
                await anyio.sleep(latency / 1000 / len(pieces))
            yield TextDelta(piece)
        if latency and not pieces:
            await anyio.sleep(latency / 1000)
        yield UsageReport(usage)
        yield completion

    def _number(self, calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
        """The scripted calls, each with an id unique to this model (as providers give them)."""
        numbered: list[ToolCall] = []
        for call in calls:
            self._call_ids += 1
            numbered.append(call if call.id else ToolCall(call.name, call.arguments, id=f"call_{self._call_ids}"))
        return tuple(numbered)

    def __repr__(self) -> str:
        return f"ScriptedModel({len(self._responses)} responses, {self.remaining} left)"
