"""The `@infer` attempt loop: reserve → send → settle → judge, and retry with only what failed.

`run_attempts` is reached only through `stratum._runtime.call`, which has already routed the
call, checked `given` and applied composition. Each attempt:

1. **reserve** the worst case (estimated input + `max_tokens` output, priced) in every envelope,
   lowering `max_tokens` to what fits or raising `BudgetExceeded` before anything is sent;
2. **send** the request to the provider under the tightest deadline;
3. **settle** the usage it reports at the model's price (failed responses too);
4. **judge** the output: refusal, content filter, parse and contract validation, `ensure`.

A failed judgement makes the next attempt's messages: the first prompt, the last output and its
violations, never the whole history. Every outcome leaves an `AttemptRecord` on the call's record.

With tools (`@infer(tools=[...])`), a response that calls tools is a round of the same attempt:
its tools run (`stratum._runtime.tools`), and the next request of the attempt is reserved, sent
and settled the same way, with the calls and their results added.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from stratum._runtime import context as _context
from stratum._runtime import reservations
from stratum._runtime.budget import Envelope, Reservation
from stratum._runtime.checks import run_ensure
from stratum._runtime.contracts import OutputError
from stratum._runtime.fallback import model_chain, run_chain
from stratum._runtime.model import NO_USAGE, CallSpec, Completion, Message, Provider, Usage
from stratum._runtime.plan import ModelPlan
from stratum._runtime.prompt import Prompt, retry_messages
from stratum._runtime.metering import charged_usage, within_reservation
from stratum._runtime.recording import CallTally, Recording, error_text, status_of
from stratum._runtime.tools import ToolRun
from stratum.exceptions import (
    BudgetExceeded,
    ContentFilterError,
    ParseFailure,
    PostconditionFailed,
    ProviderError,
    RefusalError,
)
from stratum.pricing._estimate import Estimate, estimate_parts
from stratum.pricing._resolve import resolve_price
from stratum.providers._registry import ResolvedModel
from stratum.trace import AttemptRecord
from stratum.trace._otel import LiveSpan, end_attempt, start_attempt
from stratum.trace._records import AttemptOutcome

if TYPE_CHECKING:
    from stratum._runtime.spec import InferSpec

__all__ = ("Attempt", "AttemptLoop", "Verdict", "resolve_for", "run_attempts")


def resolve_for(spec: InferSpec, model: Any) -> ResolvedModel:
    """Pick the model: a routed one, else the decorator's, else `configure(default_model=)`."""
    return spec.plans.get(spec.qualname, spec.model, model).resolved


@dataclass(slots=True)
class _Attempt:
    """One attempt in flight: what was reserved and sent, and what came back."""

    number: int
    messages: tuple[Message, ...]
    prompt_hash: str
    estimate: Estimate
    max_tokens: int | None
    timeout: float | None = None
    reservation: Reservation | None = None
    sent: float = 0.0
    completion: Completion | None = None
    usage: Usage | None = None
    cost: Decimal | None = None
    tool_round: int = 0
    live: LiveSpan | None = None  # the OpenTelemetry span of the request, ended with its record
    hold: Reservation | None = None
    """The reservation while it is also held in a shared ledger (closed after the attempt)."""
    charged: tuple[Usage, Decimal | None] | None = None
    """What the attempt was charged, to settle in the ledger too."""
    estimated: bool = False

    def record(
        self,
        outcome: AttemptOutcome,
        *,
        violations: tuple[str, ...] = (),
        error: BaseException | None = None,
        tool_calls: tuple[str, ...] = (),
    ) -> AttemptRecord:
        used = self.usage or NO_USAGE
        done = self.completion
        record = AttemptRecord(
            attempt=self.number,
            prompt_hash=self.prompt_hash,
            outcome=outcome,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cached_input_tokens=used.cached_input_tokens,
            cache_write_tokens=used.cache_write_tokens,
            reasoning_tokens=used.reasoning_tokens,
            estimated_input_tokens=self.estimate.input_tokens,
            max_tokens=self.max_tokens if outcome != "budget" or self.sent else None,
            cost_usd=self.cost,
            latency_ms=(time.monotonic() - self.sent) * 1000 if self.sent else 0.0,
            finish_reason=done.finish_reason if done is not None else None,
            raw_output=done.text if done is not None else None,
            violations=violations,
            error=None if error is None else error_text(error),
            response_model=done.model if done is not None else None,
            request_id=done.request_id if done is not None else None,
            fault_retries=done.fault_retries if done is not None else 0,
            tool_round=self.tool_round,
            tool_calls=tool_calls,
            usage_estimated=self.estimated,
        )
        if self.live is not None:
            end_attempt(self.live, record, done)
            self.live = None
        return record


@dataclass(slots=True)
class _Verdict:
    """What judging one output found: the value, or why it is not acceptable yet."""

    value: Any = None
    violations: tuple[str, ...] = ()
    parse_failed: bool = False


async def _complete_within(provider: Provider, call: CallSpec, timeout: float) -> Completion:
    """`provider.complete(call)`, raising TimeoutError after `timeout` seconds."""
    try:
        asyncio.current_task()
    except RuntimeError:  # not under asyncio (trio): anyio's scope
        with anyio.fail_after(timeout):
            return await provider.complete(call)
    async with asyncio.timeout(timeout):  # far cheaper than an anyio scope on asyncio
        return await provider.complete(call)


def judge_completion(
    spec: InferSpec,
    bound: Mapping[str, Any],
    completion: Completion,
    max_tokens: int | None,
    resolved: ResolvedModel,
    *,
    tool_note: str | None = None,
) -> tuple[AttemptOutcome, _Verdict, BaseException | None]:
    """Judge one completion: the attempt's outcome, the verdict, and the error that ends the call
    (a refusal or a filtered output) or None. Used by the attempt loop and by batch results."""
    if completion.finish_reason == "refusal":
        refusal = completion.refusal or completion.text
        return "refusal", _Verdict(), RefusalError(
            f"{spec.qualname}: the model refused: {refusal!r}; rephrase the intent or inputs, or handle RefusalError",
            refusal=refusal,
            provider=resolved.provider_name,
            model=resolved.model,
        )
    if completion.finish_reason == "content_filter":
        return "content_filter", _Verdict(), ContentFilterError(
            f"{spec.qualname}: the provider's content filter withheld the output; "
            "change the inputs or handle ContentFilterError",
            provider=resolved.provider_name,
            model=resolved.model,
        )
    if completion.finish_reason == "length" and not completion.text.strip():
        # a reasoning model that spent the whole output budget thinking: not an empty answer
        found = (
            f"the output limit (max_tokens={max_tokens}) was used up before any answer was written; "
            "answer directly and briefly",
        )
        return "truncated", _Verdict(violations=found, parse_failed=True), None
    try:
        value = spec.output.parse(completion.text)
    except OutputError as exc:
        found = tuple(exc.violations)
        if tool_note is not None:
            found = (tool_note, *found)
        truncated = completion.finish_reason == "length"
        if truncated:
            found = (
                f"the output was cut off at the output limit (max_tokens={max_tokens}) before it was "
                "complete; give a shorter answer",
                *found,
            )
        return ("truncated" if truncated else "parse_error"), _Verdict(violations=found, parse_failed=True), None
    found = tuple(v for check in spec.ensures if (v := run_ensure(check, value, bound)) is not None)
    return ("violation" if found else "ok"), _Verdict(value=value, violations=found), None


def exhausted_error(spec: InferSpec, verdict: _Verdict, attempts: list[AttemptRecord], last_text: str) -> BaseException:
    """The error after the last attempt: `ParseFailure` or `PostconditionFailed`, with history."""
    count = len({a.attempt for a in attempts})  # tool rounds are requests of one attempt
    listed = "; ".join(verdict.violations).rstrip(" .")  # ". Inspect ..." follows
    tries = f"{count} attempt{'s' if count != 1 else ''}"
    if verdict.parse_failed:
        return ParseFailure(
            f"{spec.qualname}: the output did not match {spec.output.name} after {tries}: "
            f"{listed}. Inspect .retry_history, raise retries=, or simplify the contract",
            function=spec.qualname,
            raw_output=last_text,
            violations=verdict.violations,
            retry_history=attempts,
        )
    return PostconditionFailed(
        f"{spec.qualname}: ensure failed after {tries}: {listed}. "
        "Inspect .retry_history, raise retries=, or revisit the ensure",
        function=spec.qualname,
        violations=verdict.violations,
        retry_history=attempts,
    )


class _AttemptLoop:
    """The state one call's attempts share: the model, its price, the prompt, the envelope."""

    __slots__ = (
        "enforces_deadline",
        "env",
        "price",
        "prompt",
        "prompt_cache",
        "rec",
        "resolved",
        "schema_overhead",
        "shared",
        "spec",
        "tally",
        "tools",
        "bound",
    )

    def __init__(
        self,
        spec: InferSpec,
        bound: Mapping[str, Any],
        resolved: ResolvedModel,
        prompt: Prompt,
        rec: Recording,
        same_env: tuple[Envelope | None] | None = None,
        plan: ModelPlan | None = None,
    ) -> None:
        self.spec = spec
        self.bound = bound
        self.resolved = resolved
        self.prompt = prompt
        self.rec = rec
        self.tally = rec.tally or CallTally()
        plan = plan if plan is not None and plan.resolved is resolved else ModelPlan.of(resolved)
        self.price = plan.price
        self.schema_overhead = plan.schema_overhead
        self.enforces_deadline = plan.enforces_deadline
        self.prompt_cache = plan.prompt_cache if spec.prompt_cache is None else spec.prompt_cache
        if same_env is not None:  # the next model of a fallback chain: the same envelope and deadline
            self.env: Envelope | None = same_env[0]
        else:
            parent = _context.current_envelope()
            self.env = Envelope(spec.budget, parent, flow_id=parent.flow_id if parent else None) if spec.budget else parent
        self.tools: ToolRun | None = ToolRun(spec.tools, spec.max_tool_rounds, rec.record_id) if spec.tools else None
        self.shared = self.env is not None and self.env.shared

    def reserve(self, number: int, messages: tuple[Message, ...], prompt_hash: str) -> _Attempt:
        """Estimate this attempt and reserve its worst case; `BudgetExceeded` before sending."""
        spec = self.spec
        tools = self.tools
        estimate = estimate_parts(
            self.resolved.model,
            messages if tools is None else tools.estimate_messages(messages),
            spec.output.schema,
            spec.output.hash,
            spec.max_tokens,
            self.resolved.provider_name,
            schema_overhead=self.schema_overhead,
        )
        attempt = _Attempt(number, messages, prompt_hash, estimate, spec.max_tokens)
        if tools is not None:
            attempt.tool_round = tools.rounds
        if self.env is None:
            return attempt
        try:  # the estimate's cheap bound, counted exactly only when it does not fit
            held = reservations.reserve(
                self.env, attempt, max_tokens=spec.max_tokens, price=self.price, model=self.resolved.label
            )
        except BudgetExceeded as exc:
            self.tally.attempts.append(attempt.record("budget", error=exc))
            raise
        attempt.max_tokens = held.max_tokens
        attempt.timeout = self.env.seconds_left()
        return attempt

    def call_for(self, attempt: _Attempt) -> CallSpec:
        """What the provider is asked for in this attempt."""
        spec = self.spec
        return CallSpec(
            model=self.resolved.model,
            messages=attempt.messages,
            output_schema=spec.output.schema,
            output_name=spec.output.name,
            max_tokens=attempt.max_tokens,
            temperature=spec.temperature,
            timeout=attempt.timeout,
            function=spec.qualname,
            attempt=attempt.number,
            prompt_hash=self.prompt.hash,
            contract_hash=spec.output.hash,
            attachments=self.prompt.attachments,
            prompt_cache=self.prompt_cache,
            tools=() if self.tools is None else self.tools.definitions,
            tool_choice="none" if self.tools is not None and self.tools.exhausted() else "auto",
        )

    async def send(self, attempt: _Attempt) -> Completion:
        """Send the attempt; a timeout, a provider fault or the provider's own deadline stop is
        recorded (with any usage it reported, charged) and raised."""
        resolved = self.resolved
        call = self.call_for(attempt)
        attempt.sent = time.monotonic()
        attempt.live = start_attempt(call, resolved.provider_name)
        try:
            # Providers that declare `enforces_deadline = True` (the built-in HTTP providers bound
            # every request phase and backoff by `call.timeout`) skip the extra cancel scope.
            if attempt.timeout is None or self.enforces_deadline:
                return await resolved.provider.complete(call)
            return await _complete_within(resolved.provider, call, attempt.timeout)
        except TimeoutError as exc:
            self._release(attempt)
            self.tally.attempts.append(attempt.record("budget", error=exc))
            assert self.env is not None  # a timeout only exists under a deadline
            self.env.raise_deadline()
            raise  # pragma: no cover - raise_deadline always raises
        except (ProviderError, BudgetExceeded) as exc:
            # BudgetExceeded here is the provider layer refusing to wait past the deadline (a
            # retry-after too long); usage its failed responses reported is still metered.
            used: Usage | None = getattr(exc, "usage", None)
            if used is None and getattr(exc, "usage_unknown", False):
                # the model answered but what it cost cannot be read: charge the worst case
                used = charged_usage(attempt.estimate, attempt.reservation, "")
                attempt.estimated = self.tally.estimated = True
            if used is not None:
                cost = self.price.cost(used) if self.price is not None else None
                # usage reported by failed responses is believed up to what was reserved
                attempt.cost, tokens = within_reservation(attempt.reservation, cost, used.total_tokens)
                attempt.usage = used
                self.tally.charge(used, attempt.cost)
                self._settle_envelope(attempt, used, attempt.cost, tokens)
            else:
                self._settle_envelope(attempt, Usage(), Decimal(0))
            outcome: AttemptOutcome = "budget" if isinstance(exc, BudgetExceeded) else "provider_error"
            self.tally.attempts.append(attempt.record(outcome, error=exc))
            raise

    def settle(self, attempt: _Attempt, completion: Completion) -> None:
        """Charge what the response reported, at the price of the model that answered."""
        attempt.completion = completion
        reply = completion.usage
        if not completion.usage_reported:
            # no usage in the reply: never free; the worst case reserved, or an estimate
            reply = charged_usage(attempt.estimate, attempt.reservation, completion.text)
            attempt.estimated = self.tally.estimated = True
        faults = completion.fault_usage
        usage = reply if faults is None else reply + faults
        price = self.price
        if completion.model and completion.model != self.resolved.model:
            resolved = self.resolved
            price = resolve_price(resolved.label, resolved.provider, resolved.provider_name, resolved.model, completion.model)
        cost = price.cost(usage) if price is not None else None
        tokens = usage.total_tokens
        if faults is not None:
            # Usage that retried error responses reported is believed only up to what was
            # reserved: the reply itself is charged in full, the faults fill what is left.
            floor = price.cost(reply) if price is not None else None
            cost, tokens = within_reservation(attempt.reservation, cost, tokens, floor, reply.total_tokens)
        attempt.usage = usage
        attempt.cost = cost
        self.tally.charge(usage, cost)
        if price is not None and (usage.cached_input_tokens or usage.cache_write_tokens):
            self.tally.save(price.cache_savings(usage))
        self._settle_envelope(attempt, usage, cost, tokens)

    def judge(self, attempt: _Attempt, completion: Completion) -> _Verdict:
        """Refusals and filtered outputs raise; otherwise parse, validate and run `ensure`."""
        over = self.tools.over_limit() if self.tools is not None and completion.tool_calls else None
        outcome, verdict, error = judge_completion(
            self.spec, self.bound, completion, attempt.max_tokens, self.resolved, tool_note=over
        )
        if error is not None:
            self._fail(attempt, outcome, error)
        self.tally.attempts.append(attempt.record(outcome, violations=verdict.violations))
        return verdict

    def give_up(self, verdict: _Verdict, last_text: str) -> BaseException:
        """The error after the last attempt: `ParseFailure` or `PostconditionFailed`, with history."""
        return exhausted_error(self.spec, verdict, self.tally.attempts, last_text)

    def _fail(self, attempt: _Attempt, outcome: AttemptOutcome, error: BaseException) -> NoReturn:
        self.tally.attempts.append(attempt.record(outcome, error=error))
        raise error

    def _settle_envelope(self, attempt: _Attempt, usage: Usage, cost: Decimal | None, tokens: int | None = None) -> None:
        if self.env is not None:
            self.tally.events.extend(self.env.settle(attempt.reservation, usage, cost, tokens=tokens))
            if attempt.hold is not None:
                attempt.charged = (usage, cost)
        attempt.reservation = None

    async def _reserve_shared(self, attempt: _Attempt) -> None:
        """Hold the attempt in the shared ledger too (the local reservation is already made)."""
        assert self.env is not None
        try:
            held = await reservations.reserve_shared(
                self.env, attempt, max_tokens=self.spec.max_tokens, price=self.price, model=self.resolved.label
            )
        except BaseException as exc:
            self._release(attempt)
            if isinstance(exc, BudgetExceeded):
                self.tally.attempts.append(attempt.record("budget", error=exc))
            raise
        attempt.hold = held
        attempt.max_tokens = held.max_tokens

    async def _close_shared(self, attempt: _Attempt) -> None:
        """Settle (or give back) the attempt's hold in the ledger, even when cancelled."""
        hold, attempt.hold = attempt.hold, None
        assert self.env is not None and hold is not None
        with anyio.CancelScope(shield=True):
            if attempt.charged is None:
                await self.env.release_shared(hold)
            else:
                self.tally.events.extend(await self.env.settle_shared(hold, *attempt.charged))

    def _release(self, attempt: _Attempt) -> None:
        if self.env is not None and attempt.reservation is not None:
            self.env.release(attempt.reservation)
        attempt.reservation = None

    async def run(self) -> Any:
        """Attempt until an output passes, then return it; raise after the last attempt."""
        messages, prompt_hash = self.prompt.messages, self.prompt.hash
        verdict = _Verdict()
        last_text = ""
        for number in range(self.spec.retries + 1):
            while True:  # one request per tool round; without tools, exactly one
                attempt = self.reserve(number, messages, prompt_hash)
                if self.shared and attempt.reservation is not None:
                    await self._reserve_shared(attempt)
                try:
                    completion = await self.send(attempt)
                    self.settle(attempt, completion)
                except BaseException as exc:
                    if attempt.live is not None:  # cancelled mid-request: close its span too
                        attempt.record("cancelled" if status_of(exc) == "cancelled" else "provider_error", error=exc)
                    raise
                finally:
                    self._release(attempt)  # cancelled mid-request: give the reservation back
                    if attempt.hold is not None:
                        await self._close_shared(attempt)
                if self.tools is None or not completion.tool_calls or self.tools.exhausted():
                    break
                messages = await self._tool_round(self.tools, attempt, completion)
            verdict = self.judge(attempt, completion)
            if not verdict.violations:
                return verdict.value
            last_text = completion.text
            if number < self.spec.retries:
                messages, prompt_hash = retry_messages(self.prompt, completion.text, verdict.violations)
                if self.tools is not None:
                    messages = self.tools.retry_context(messages, len(self.prompt.messages))
        raise self.give_up(verdict, last_text)

    async def _tool_round(self, tools: ToolRun, attempt: _Attempt, completion: Completion) -> tuple[Message, ...]:
        """Record the round, run its calls, and return the next request's messages."""
        self.tally.attempts.append(attempt.record("tool_use", tool_calls=tuple(c.name for c in completion.tool_calls)))
        return await tools.answer(attempt.messages, completion, attempt=attempt.number, envelope=self.env)


async def run_attempts(
    spec: InferSpec,
    bound: Mapping[str, Any],
    model: Any = None,
    *,
    extra_sections: tuple[str, ...] = (),
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Run the attempt loop of one call and return the validated result.

    Raises:
        PostconditionFailed, ParseFailure, BudgetExceeded, ProviderError, ...: with a trace
            record written for the call in every case, cancellation included.
    """
    with Recording(spec.qualname, bound=bound, opaque=spec.opaque_params, contract_hash=spec.output.hash, meta=meta) as rec:
        rec.tally = CallTally()
        chain = model_chain(spec, model)
        if chain is not None:
            prompt = spec.compile(bound, extra_sections)
            rec.prompt_hash = prompt.hash
            rec.output = await run_chain(
                chain, rec, lambda resolved, env, shared: _AttemptLoop(
                    spec, bound, resolved, prompt, rec, (env,) if shared else None
                )
            )
            return rec.output
        plan = spec.plans.get(spec.qualname, spec.model, model)
        resolved = plan.resolved
        rec.model, rec.provider = resolved.label, resolved.provider_name
        prompt = spec.compile(bound, extra_sections)
        rec.prompt_hash = prompt.hash
        rec.output = await _AttemptLoop(spec, bound, resolved, prompt, rec, plan=plan).run()
        return rec.output


# The steps, for the streaming loop (`_runtime/streaming.py`): same reserve, settle, judge and
# give_up, with the send done piece by piece.
AttemptLoop = _AttemptLoop
Attempt = _Attempt
Verdict = _Verdict
