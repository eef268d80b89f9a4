"""Trace records: one context manager opens a record, and its exit writes it, whatever happens.

Every record goes through `Recording`: an `@infer` call, a `@compute` call inside a flow, a stub,
a cache hit, a failed `given`, a human review, a composed call's parent (parallel, race, quorum,
debate, refine, sampling) and a flow run. The block's outcome decides the status: a normal exit
is `ok`, a cancellation `cancelled`, any other exception `failed`; the record is emitted on exit
in every case.

A parent record (`parent=True`) is the `parent_id` of every record made inside its block. It
holds no tokens or cost of its own (its members do), so summing `cost_usd` over the records
never counts a composed call twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from stratum._runtime import context as _context
from stratum._runtime.model import NO_USAGE, Usage
from stratum._util.ids import new_id
from stratum.trace import AttemptRecord, FlowRecord, TraceRecord, emit
from stratum.trace._otel import end_call, end_flow, start_call, start_flow
from stratum.trace._records import Status, Stopped

if TYPE_CHECKING:
    from stratum._runtime.budget import Budget, BudgetEvent, Envelope
    from stratum._runtime.flows import FlowRun
    from stratum.trace._otel import LiveSpan

__all__ = (
    "COMPOSE_MODEL",
    "CallTally",
    "FlowRecording",
    "Recording",
    "error_text",
    "parent_recording",
    "recording",
    "status_of",
)

COMPOSE_MODEL = "compose"
"""The `model` and `provider` of parent records that are not one model's call (parallel, race, debate)."""


def status_of(exc: BaseException | None) -> Status:
    """The record status of a block that ended with `exc`: ok, cancelled or failed."""
    if exc is None:
        return "ok"
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "failed"


def error_text(exc: BaseException | None) -> str | None:
    """`"ErrorClass: message"`, the form records keep."""
    return None if exc is None else f"{type(exc).__name__}: {exc}"


class CallTally:
    """What one call's attempts added up to while it ran: attempts, usage, cost, budget events."""

    __slots__ = ("attempts", "cache_savings", "cost", "estimated", "events", "priced", "usage")

    def __init__(self) -> None:
        self.attempts: list[AttemptRecord] = []
        self.usage = NO_USAGE
        self.cost = Decimal(0)
        self.priced = True
        self.estimated = False
        """True once some attempt's usage was Stratum's estimate (the reply reported none)."""
        self.events: list[BudgetEvent] = []
        self.cache_savings: Decimal | None = None

    def charge(self, usage: Usage, cost: Decimal | None) -> None:
        """Add one response's usage and cost (None: no price known, so the total is unknown)."""
        self.usage = usage if self.usage is NO_USAGE else self.usage + usage
        if cost is None:
            self.priced = False
        else:
            self.cost += cost

    def save(self, amount: Decimal | None) -> None:
        """Add what prompt caching saved on one response (None: nothing cached, or no price)."""
        if amount is not None:
            self.cache_savings = amount if self.cache_savings is None else self.cache_savings + amount


class _Open:
    """The timing and outcome of an open block; subclasses say what record its exit writes."""

    __slots__ = ("_live", "_scope", "error", "started", "started_at", "status")

    def __init__(self) -> None:
        self.started_at = dt.datetime.now(dt.UTC)
        self.started = time.monotonic()
        self.status: Status = "failed"
        self.error: BaseException | None = None
        self._scope: AbstractContextManager[Any] | None = None
        self._live: LiveSpan | None = None  # the OpenTelemetry span, when the app has a provider

    def duration_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def _close(self) -> None:
        raise NotImplementedError

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._scope is not None:
            self._scope.__exit__(exc_type, exc, tb)
        self.status = status_of(exc)
        self.error = exc
        self._close()


class Recording(_Open):
    """The open record of one call; fill `output`, `meta`, the model and the tally before it ends."""

    __slots__ = (
        "bound",
        "cache_hit",
        "contract_hash",
        "function",
        "meta",
        "model",
        "models_tried",
        "opaque",
        "output",
        "prompt_hash",
        "provider",
        "record_id",
        "stopped",
        "tally",
    )

    def __init__(
        self,
        function: str,
        *,
        bound: Mapping[str, Any],
        model: str = "",
        provider: str | None = None,
        opaque: frozenset[str] = frozenset(),
        contract_hash: str = "",
        meta: Mapping[str, Any] | None = None,
        parent: bool = False,
    ) -> None:
        super().__init__()
        self.record_id = new_id()
        self.function = function
        self.bound = bound
        self.model = model
        self.provider = provider
        self.opaque = opaque
        self.contract_hash = contract_hash
        self.prompt_hash = ""
        self.meta: dict[str, Any] = dict(meta) if meta else {}
        self.output: Any = None
        self.cache_hit = False
        self.tally: CallTally | None = None
        self.stopped: Stopped | None = None
        """For a stream cut before its end: why (`budget`, `deadline`, `caller`)."""
        self.models_tried: tuple[str, ...] = ()
        """Set by a fallback chain; a plain model call lists its one model."""
        if parent:
            self._scope = _context.under_record(self.record_id)

    def __enter__(self) -> Recording:
        self._live = start_call(self.function, self.model, self.record_id)
        if self._scope is not None:
            self._scope.__enter__()
        return self

    def _close(self) -> None:
        tally = self.tally or CallTally()
        status = self.status
        if self.stopped == "caller":  # the consumer left a stream early: a cancellation, not an error
            status, self.error = "cancelled", None
            self.status = status
        attempts = tally.attempts
        if status == "cancelled" and self.tally is not None and (not attempts or attempts[-1].outcome != "cancelled"):
            number = max((a.attempt for a in attempts), default=-1) + 1
            attempts.append(AttemptRecord(attempt=number, prompt_hash=self.prompt_hash, outcome="cancelled"))
        if len(attempts) == 1:  # the common case: one attempt, no retry
            count = 1
            only = attempts[0]
            reasons: tuple[str, ...] = () if only.outcome == "ok" else _reasons(attempts)
        else:
            # tool rounds are requests of one attempt: neither attempts nor retry reasons
            count = len({a.attempt for a in attempts})
            reasons = _reasons(attempts)
        flow = _context.current_flow()
        usage = tally.usage
        ok = status == "ok"
        record = TraceRecord(
            record_id=self.record_id,
            function=self.function,
            model=self.model,
            provider=self.model if self.provider is None else self.provider,
            flow_id=flow.flow_id if flow is not None else None,
            parent_id=_context.current_parent_record(),
            inputs=dict(self.bound),
            opaque_inputs=tuple(sorted(self.opaque)) if self.opaque else (),
            output=self.output if ok else None,
            status=status,
            error=None if ok else error_text(self.error),
            attempts=count,
            retry_reasons=reasons,
            compiled_prompt_hash=self.prompt_hash,
            contract_hash=self.contract_hash,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=tally.cost if tally.priced else None,
            duration_ms=(time.monotonic() - self.started) * 1000,
            cache_hit=self.cache_hit,
            started_at=self.started_at,
            budget_events=tuple(tally.events) if tally.events else (),
            attempt_records=tuple(attempts),
            review_id=flow.review_ids[-1] if flow is not None and flow.review_ids else None,
            meta=self.meta,
            cache_savings_usd=tally.cache_savings,
            stopped=self.stopped,
            usage_estimated=tally.estimated,
            models_tried=self.models_tried or ((self.model,) if self.tally is not None and self.model else ()),
        )
        if flow is not None:
            flow.record_ids.append(self.record_id)
            if flow.progress is not None and self._scope is None:  # calls, not composed parents
                flow.progress.step(ok)
        emit(record)
        if self._live is not None:
            end_call(self._live, record)


def _reasons(attempts: list[AttemptRecord]) -> tuple[str, ...]:
    """Why each attempt that was not accepted failed (tool rounds are not failures)."""
    return tuple(
        "; ".join(a.violations) or (a.error or a.outcome) for a in attempts if a.outcome != "ok" and a.outcome != "tool_use"
    )


def recording(
    function: str,
    *,
    bound: Mapping[str, Any],
    model: str = "",
    provider: str | None = None,
    opaque: frozenset[str] = frozenset(),
    contract_hash: str = "",
    meta: Mapping[str, Any] | None = None,
    parent: bool = False,
) -> Recording:
    """Open the record of one call: `with recording(...) as rec:`; its exit writes the record.

    `provider` defaults to `model`. With `parent=True`, records made inside the block link to
    this one by `parent_id` (composed calls).
    """
    return Recording(
        function,
        bound=bound,
        model=model,
        provider=provider,
        opaque=opaque,
        contract_hash=contract_hash,
        meta=meta,
        parent=parent,
    )


def parent_recording(
    function: str,
    *,
    meta: Mapping[str, Any],
    bound: Mapping[str, Any] | None = None,
    opaque: frozenset[str] = frozenset(),
    model: str = COMPOSE_MODEL,
    provider: str | None = None,
    contract_hash: str = "",
) -> Recording:
    """Open the parent record of a composed call: records made inside link to it by `parent_id`."""
    return recording(
        function, bound=bound or {}, model=model, provider=provider, opaque=opaque, contract_hash=contract_hash, meta=meta, parent=True
    )


class FlowRecording(_Open):
    """The open record of one flow run; its exit writes the `FlowRecord`."""

    __slots__ = ("budget", "envelope", "parent_flow_id", "run")

    def __init__(self, run: FlowRun, envelope: Envelope, budget: Budget | None) -> None:
        super().__init__()
        self.run = run
        self.envelope = envelope
        self.budget = budget

    def __enter__(self) -> FlowRecording:
        run = self.run
        self._live = start_flow(run.name, run.flow_id, run.parent.flow_id if run.parent is not None else None)
        return self

    def _close(self) -> None:
        from stratum._runtime.budget import Budget

        run, env = self.run, self.envelope
        spent = None if env.unpriced_calls and not env.spent_usd else env.spent_usd
        record = FlowRecord(
            flow_id=run.flow_id,
            name=run.name,
            parent_flow_id=run.parent.flow_id if run.parent is not None else None,
            status=self.status,
            started_at=run.started_at,
            duration_ms=(time.monotonic() - run.started) * 1000,
            limits=(self.budget or Budget()).limits(),
            spent_usd=spent,
            spent_tokens=env.spent_tokens,
            record_ids=tuple(run.record_ids),
            budget_events=tuple(env.events),
            error=error_text(self.error),
        )
        emit(record)
        if self._live is not None:
            end_flow(self._live, record)
