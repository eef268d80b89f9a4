"""Trace records: one per `@infer`/`@compute` call and one per flow run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from stratum._util.frozen import fast_frozen_init
from stratum._media import Media
from stratum._runtime.budget import BudgetEvent
from stratum._util.jsonable import to_jsonable as _to_jsonable

__all__ = ("AttemptOutcome", "AttemptRecord", "FlowRecord", "Status", "Stopped", "TraceRecord", "to_jsonable")

Status = Literal["ok", "failed", "cancelled"]
Stopped = Literal["budget", "deadline", "caller"]
"""Why a streamed call was cut before its end."""
AttemptOutcome = Literal[
    "ok",
    "violation",
    "parse_error",
    "truncated",
    "refusal",
    "content_filter",
    "provider_error",
    "budget",
    "cancelled",
    "tool_use",
]
"""How an attempt's request ended; `"tool_use"` is a round in which the model called tools
(not a failure: the same attempt goes on with their results)."""


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """One attempt of one call: what was asked, what came back, what it cost, what was wrong."""

    attempt: int
    prompt_hash: str
    outcome: AttemptOutcome
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated_input_tokens: int | None = None
    max_tokens: int | None = None
    cost_usd: Decimal | None = None
    latency_ms: float = 0.0
    finish_reason: str | None = None
    raw_output: str | None = None
    violations: tuple[str, ...] = ()
    error: str | None = None
    response_model: str | None = None
    request_id: str | None = None
    fault_retries: int = 0
    tool_round: int = 0
    """Which request of the attempt this is: 0 before any tool ran, then one more per round."""
    tool_calls: tuple[str, ...] = ()
    """The tools the model called in this request (outcome `"tool_use"`), by name, in order."""
    usage_estimated: bool = False
    """True when the reply reported no usage and its tokens and cost are Stratum's estimate."""
    model: str | None = None
    """The model string this attempt was sent to (set when a fallback chain tried several)."""


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRecord:
    """Everything about one call, successful, failed or cancelled (DESIGN §4)."""

    record_id: str
    function: str
    model: str
    provider: str
    flow_id: str | None
    parent_id: str | None
    inputs: Mapping[str, Any]
    opaque_inputs: tuple[str, ...]
    output: Any
    status: Status
    error: str | None
    attempts: int
    retry_reasons: tuple[str, ...]
    compiled_prompt_hash: str
    contract_hash: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    duration_ms: float
    cache_hit: bool
    started_at: dt.datetime
    budget_events: tuple[BudgetEvent, ...]
    attempt_records: tuple[AttemptRecord, ...]
    review_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict[str, Any])
    cache_savings_usd: Decimal | None = None
    """What prompt caching saved: cached reads × (input − cached input price), less cache
    writes × (cache write − input price). None when nothing was cached or no price is known."""
    stopped: Stopped | None = None
    """For a streamed call cut before its end: `"budget"`, `"deadline"` or `"caller"`."""
    usage_estimated: bool = False
    """True when some attempt's reply reported no usage, so its tokens and cost are Stratum's
    estimate (the worst case it reserved, or a count of what was sent and received)."""
    models_tried: tuple[str, ...] = ()
    """Every model string a model call tried, in order: one for a plain call, more when a
    fallback chain (`@infer(model=[...])`) moved on after provider faults. Empty for calls that
    reach no model (compute, stubs, cache hits)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (Decimal as string, datetimes ISO 8601, models dumped)."""
        return to_jsonable(self)

    def _repr_html_(self) -> str:
        from stratum.trace._audit_html import record_table

        return record_table(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRecord:
    """One run of a `@flow`."""

    flow_id: str
    name: str
    parent_flow_id: str | None
    status: Status
    started_at: dt.datetime
    duration_ms: float
    limits: Mapping[str, Any]
    spent_usd: Decimal | None
    spent_tokens: int
    record_ids: tuple[str, ...]
    budget_events: tuple[BudgetEvent, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return to_jsonable(self)

    def _repr_html_(self) -> str:
        from stratum.trace._audit_html import record_table

        return record_table(self)


def to_jsonable(value: Any) -> Any:
    """Convert records and their contents to JSON-ready values (unknown objects as their repr)."""
    return _to_jsonable(value, _fallback)


def _fallback(value: Any) -> Any:
    if isinstance(value, Media):
        return value.reference()  # its hash and size, never its bytes
    return repr(value)
