"""The `@infer` attempt loop: reserve, call, settle, parse, check, retry with only what failed."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from stratum import _context
from stratum._budget import BudgetEvent, Envelope, Reservation
from stratum._compiler import Prompt, retry_messages
from stratum._config import current_settings
from stratum._contracts import OutputError
from stratum._ensure import run_ensure, run_given
from stratum._flows import new_id
from stratum._model import CallSpec, Completion, Message, Provider, Usage
from stratum.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    ContentFilterError,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    ProviderError,
    RefusalError,
)
from stratum.pricing._estimate import SCHEMA_OVERHEAD_TOKENS, estimate_parts
from stratum.pricing._resolve import resolve_price
from stratum.providers._registry import ResolvedModel, resolve_model
from stratum.trace import AttemptRecord, TraceRecord, emit
from stratum.trace._records import AttemptOutcome, Status

if TYPE_CHECKING:
    from stratum._infer_spec import InferSpec
    from stratum.pricing import Price

__all__ = ("CallOutcome", "check_given", "execute", "record_call", "resolve_for", "status_of")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _error_text(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return f"{type(exc).__name__}: {exc}"


class CallOutcome:
    """Mutable tally of one call while it runs; turned into a `TraceRecord` at the end."""

    __slots__ = (
        "attempts",
        "cost",
        "events",
        "output",
        "priced",
        "response_model",
        "usage",
    )

    def __init__(self) -> None:
        self.attempts: list[AttemptRecord] = []
        self.usage = Usage()
        self.cost = Decimal(0)
        self.priced = True
        self.events: list[BudgetEvent] = []
        self.output: Any = None
        self.response_model: str | None = None

    def charge(self, usage: Usage, cost: Decimal | None) -> None:
        self.usage = self.usage + usage
        if cost is None:
            self.priced = False
        else:
            self.cost += cost


def status_of(exc: BaseException) -> Status:
    """The record status of a call that raised `exc`: cancelled or failed."""
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "failed"


def record_call(
    *,
    function: str,
    model: str,
    bound: Mapping[str, Any],
    status: Status,
    error: BaseException | None = None,
    record_id: str | None = None,
    provider: str | None = None,
    opaque: frozenset[str] = frozenset(),
    outcome: CallOutcome | None = None,
    output: Any = None,
    prompt_hash: str = "",
    contract_hash: str = "",
    started_at: dt.datetime | None = None,
    started: float | None = None,
    cache_hit: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> TraceRecord:
    """Build, emit and return the trace record of one call (and link it to its flow).

    Records of calls that reach no model (compute, stub, cache hit, human review, composed
    parents) pass only what differs: `provider` defaults to `model`, `output` stands for an
    outcome with no attempts, and the times default to now.
    """
    if outcome is None:
        outcome = CallOutcome()
        outcome.output = output
    record_id = record_id or new_id()
    provider = model if provider is None else provider
    started_at = started_at or _now()
    started = time.monotonic() if started is None else started
    flow = _context.current_flow()
    usage = outcome.usage
    record = TraceRecord(
        record_id=record_id,
        function=function,
        model=model,
        provider=provider,
        flow_id=flow.flow_id if flow is not None else None,
        parent_id=_context.current_parent_record(),
        inputs=dict(bound),
        opaque_inputs=tuple(sorted(opaque)),
        output=outcome.output,
        status=status,
        error=_error_text(error),
        attempts=len(outcome.attempts),
        retry_reasons=tuple(
            "; ".join(a.violations) or (a.error or a.outcome) for a in outcome.attempts if a.outcome != "ok"
        ),
        compiled_prompt_hash=prompt_hash,
        contract_hash=contract_hash,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=outcome.cost if outcome.priced else None,
        duration_ms=(time.monotonic() - started) * 1000,
        cache_hit=cache_hit,
        started_at=started_at,
        budget_events=tuple(outcome.events),
        attempt_records=tuple(outcome.attempts),
        review_id=flow.review_ids[-1] if flow is not None and flow.review_ids else None,
        meta=dict(meta or {}),
    )
    if flow is not None:
        flow.record_ids.append(record_id)
    emit(record)
    return record


def resolve_for(spec: InferSpec, override: Any) -> ResolvedModel:
    """Pick the model: a testing override, else the decorator's, else `configure(default_model=)`."""
    chosen = override if override is not None else spec.model
    if chosen is None:
        chosen = current_settings().default_model
    if chosen is None:
        raise ConfigurationError(
            f"{spec.qualname}: no model to call; pass @infer(model='openai:gpt-4.1-mini'), set "
            "stratum.configure(default_model=...), or test offline with stratum.testing.use_model(...)"
        )
    return resolve_model(chosen)


def check_given(spec: InferSpec, bound: Mapping[str, Any]) -> None:
    """Raise `PreconditionFailed` (after recording it) when a `given` check fails."""
    for check in spec.givens:
        message = run_given(check, bound)
        if message is None:
            continue
        error = PreconditionFailed(
            f"{spec.qualname}: precondition failed: {message}; no model was called. "
            "Fix the inputs or relax the given check",
            function=spec.qualname,
            condition=check.source,
        )
        record_call(
            function=spec.qualname,
            model="",
            bound=bound,
            opaque=spec.opaque_params,
            status="failed",
            error=error,
            contract_hash=spec.output.hash,
        )
        raise error


def _attempt(
    attempt: int,
    prompt_hash: str,
    outcome: AttemptOutcome,
    *,
    completion: Completion | None = None,
    usage: Usage | None = None,
    cost: Decimal | None = None,
    latency_ms: float = 0.0,
    estimated: int | None = None,
    max_tokens: int | None = None,
    violations: tuple[str, ...] = (),
    error: BaseException | None = None,
) -> AttemptRecord:
    used = usage or Usage()
    return AttemptRecord(
        attempt=attempt,
        prompt_hash=prompt_hash,
        outcome=outcome,
        input_tokens=used.input_tokens,
        output_tokens=used.output_tokens,
        cached_input_tokens=used.cached_input_tokens,
        cache_write_tokens=used.cache_write_tokens,
        reasoning_tokens=used.reasoning_tokens,
        estimated_input_tokens=estimated,
        max_tokens=max_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        finish_reason=completion.finish_reason if completion is not None else None,
        raw_output=completion.text if completion is not None else None,
        violations=violations,
        error=_error_text(error),
        response_model=completion.model if completion is not None else None,
        request_id=completion.request_id if completion is not None else None,
        fault_retries=completion.fault_retries if completion is not None else 0,
    )


async def _complete(provider: Provider, call: CallSpec, timeout: float | None) -> Completion:
    """`provider.complete(call)`, raising TimeoutError after `timeout` seconds.

    Providers that declare `enforces_deadline = True` (the built-in HTTP providers: every
    request phase and every backoff is bounded by `call.timeout`, and they raise
    `BudgetExceeded(axis="ms")` themselves) skip the extra cancel scope.
    """
    if timeout is None:
        return await provider.complete(call)
    try:
        asyncio.current_task()
    except RuntimeError:  # not under asyncio (trio): anyio's scope
        with anyio.fail_after(timeout):
            return await provider.complete(call)
    async with asyncio.timeout(timeout):  # far cheaper than an anyio scope on asyncio
        return await provider.complete(call)


def _price_after(
    spec_label: str, resolved: ResolvedModel, price: Price | None, completion: Completion
) -> Price | None:
    if completion.model and completion.model != resolved.model:
        return resolve_price(spec_label, resolved.provider, resolved.provider_name, resolved.model, completion.model)
    return price


async def execute(
    spec: InferSpec,
    bound: Mapping[str, Any],
    *,
    override: Any = None,
    extra_sections: tuple[str, ...] = (),
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Run the attempt loop of one call and return the validated result.

    Raises:
        PostconditionFailed, ParseFailure, BudgetExceeded, ProviderError, ...: with a trace
            record written for the call in every case, cancellation included.
    """
    started_at = _now()
    started = time.monotonic()
    record_id = new_id()
    outcome = CallOutcome()
    status: Status = "failed"
    error: BaseException | None = None
    label = provider_name = ""
    prompt: Prompt | None = None
    parent_env = _context.current_envelope()
    env = Envelope(spec.budget, parent_env, flow_id=parent_env.flow_id if parent_env else None) if spec.budget else parent_env
    reservation: Reservation | None = None
    try:
        resolved = resolve_for(spec, override)
        label, provider_name = resolved.label, resolved.provider_name
        prompt = spec.compile(bound, extra_sections)
        price = resolve_price(label, resolved.provider, provider_name, resolved.model)
        schema_overhead: int = getattr(resolved.provider, "schema_overhead_tokens", SCHEMA_OVERHEAD_TOKENS)
        enforces_deadline: bool = getattr(resolved.provider, "enforces_deadline", False)
        messages: tuple[Message, ...] = prompt.messages
        attempt_hash = prompt.hash
        last_parse_failed = False
        last_text = ""
        violations: tuple[str, ...] = ()
        for attempt in range(spec.retries + 1):
            est = estimate_parts(
                resolved.model,
                messages,
                spec.output.schema,
                spec.output.hash,
                spec.max_tokens,
                provider_name,
                schema_overhead=schema_overhead,
            )
            timeout: float | None = None
            max_tokens = spec.max_tokens
            if env is not None:
                try:
                    reservation = env.reserve(
                        input_tokens=est.reserved_input_tokens, max_tokens=max_tokens, price=price, model=label
                    )
                except BudgetExceeded as exc:
                    outcome.attempts.append(_attempt(attempt, attempt_hash, "budget", estimated=est.input_tokens, error=exc))
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
            sent = time.monotonic()
            try:
                if timeout is None or enforces_deadline:
                    completion = await resolved.provider.complete(call)
                else:
                    completion = await _complete(resolved.provider, call, timeout)
            except TimeoutError as exc:
                if env is not None and reservation is not None:
                    env.release(reservation)
                latency = (time.monotonic() - sent) * 1000
                outcome.attempts.append(
                    _attempt(attempt, attempt_hash, "budget", latency_ms=latency, estimated=est.input_tokens, max_tokens=max_tokens, error=exc)
                )
                assert env is not None  # a timeout only exists under a deadline
                env.raise_deadline()
                raise  # pragma: no cover - raise_deadline always raises
            except (ProviderError, BudgetExceeded) as exc:
                # BudgetExceeded here is the provider layer refusing to wait past the deadline
                # (a retry-after too long); usage its failed responses reported is still metered.
                latency = (time.monotonic() - sent) * 1000
                used: Usage | None = getattr(exc, "usage", None)
                cost = price.cost(used) if used is not None and price is not None else None
                if used is not None:
                    outcome.charge(used, cost)
                if env is not None:
                    outcome.events.extend(env.settle(reservation, used or Usage(), cost if used else Decimal(0)))
                reservation = None
                outcome.attempts.append(
                    _attempt(
                        attempt,
                        attempt_hash,
                        "budget" if isinstance(exc, BudgetExceeded) else "provider_error",
                        usage=used,
                        cost=cost,
                        latency_ms=latency,
                        estimated=est.input_tokens,
                        max_tokens=max_tokens,
                        error=exc,
                    )
                )
                raise
            latency = (time.monotonic() - sent) * 1000
            usage = completion.usage if completion.fault_usage is None else completion.usage + completion.fault_usage
            call_price = _price_after(label, resolved, price, completion)
            cost = call_price.cost(usage) if call_price is not None else None
            outcome.charge(usage, cost)
            outcome.response_model = completion.model
            if env is not None:
                outcome.events.extend(env.settle(reservation, usage, cost))
                reservation = None

            def note(kind: AttemptOutcome, found: tuple[str, ...] = (), err: BaseException | None = None) -> None:
                outcome.attempts.append(  # noqa: B023 - used immediately, inside the iteration
                    _attempt(
                        attempt,  # noqa: B023
                        attempt_hash,  # noqa: B023
                        kind,
                        completion=completion,  # noqa: B023
                        usage=usage,  # noqa: B023
                        cost=cost,  # noqa: B023
                        latency_ms=latency,  # noqa: B023
                        estimated=est.input_tokens,  # noqa: B023
                        max_tokens=max_tokens,  # noqa: B023
                        violations=found,
                        error=err,
                    )
                )

            if completion.finish_reason == "refusal":
                refused = RefusalError(
                    f"{spec.qualname}: the model refused: {completion.refusal or completion.text!r}; "
                    "rephrase the intent or inputs, or handle RefusalError",
                    refusal=completion.refusal or completion.text,
                    provider=provider_name,
                    model=resolved.model,
                )
                note("refusal", err=refused)
                raise refused
            if completion.finish_reason == "content_filter":
                filtered = ContentFilterError(
                    f"{spec.qualname}: the provider's content filter withheld the output; "
                    "change the inputs or handle ContentFilterError",
                    provider=provider_name,
                    model=resolved.model,
                )
                note("content_filter", err=filtered)
                raise filtered
            last_text = completion.text
            try:
                value = spec.output.parse(completion.text)
            except OutputError as exc:
                found: tuple[str, ...] = tuple(exc.violations)
                if completion.finish_reason == "length":
                    found = (
                        f"the output was cut off at the output limit (max_tokens={max_tokens}) before it was "
                        "complete; give a shorter answer",
                        *found,
                    )
                note("truncated" if completion.finish_reason == "length" else "parse_error", found)
                violations = found
                last_parse_failed = True
            else:
                found = tuple(v for check in spec.ensures if (v := run_ensure(check, value, bound)) is not None)
                if not found:
                    note("ok")
                    outcome.output = value
                    status = "ok"
                    return value
                note("violation", found)
                violations = found
                last_parse_failed = False
            if attempt < spec.retries:
                messages, attempt_hash = retry_messages(prompt, completion.text, violations)
        attempts = len(outcome.attempts)
        listed = "; ".join(violations)
        if last_parse_failed:
            raise ParseFailure(
                f"{spec.qualname}: the output did not match {spec.output.name} after {attempts} attempt(s): "
                f"{listed}. Inspect .retry_history, raise retries=, or simplify the contract",
                function=spec.qualname,
                raw_output=last_text,
                violations=violations,
                retry_history=outcome.attempts,
            )
        raise PostconditionFailed(
            f"{spec.qualname}: ensure failed after {attempts} attempt(s): {listed}. "
            "Inspect .retry_history, raise retries=, or revisit the ensure",
            function=spec.qualname,
            violations=violations,
            retry_history=outcome.attempts,
        )
    except BaseException as exc:
        error = exc
        status = status_of(exc)
        if status == "cancelled":
            outcome.attempts.append(_attempt(len(outcome.attempts), prompt.hash if prompt else "", "cancelled"))
        raise
    finally:
        if env is not None and reservation is not None:
            env.release(reservation)
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
            prompt_hash=prompt.hash if prompt else "",
            contract_hash=spec.output.hash,
            started_at=started_at,
            started=started,
            meta=meta,
        )
