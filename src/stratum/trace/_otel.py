"""Live OpenTelemetry spans and GenAI metrics through the application's own providers.

When `opentelemetry-api` is installed and the application has set a TracerProvider (the OTel
SDK, logfire, an APM agent), each flow run, call and attempt opens a real span *when it
starts* and makes it current, so:

- a flow's span is a child of whatever span is current (a FastAPI request span, say);
- calls nest under their flow (or their composed parent), attempts under their call, and spans
  the application or an HTTP instrumentation opens inside a call nest under it;
- trace and span ids come from OpenTelemetry.

Attribute names follow the OpenTelemetry GenAI semantic conventions: an attempt is one model
request (`chat {model}`, kind CLIENT, with `gen_ai.*` usage and response attributes); the call
around it carries `stratum.*` attributes and the call's totals. Message content
(`gen_ai.input.messages`, `gen_ai.output.messages`) is captured only when
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, as the conventions require. With a
MeterProvider set, each attempt also records `gen_ai.client.token.usage` and
`gen_ai.client.operation.duration`.

Without `opentelemetry-api`, or with no provider set, every `start_*` returns None after a
`sys.modules` lookup and one attribute read, and Stratum never imports `opentelemetry` itself
(an app that set a provider has imported it already): the core pays nothing else.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from stratum.trace._redact import scrub

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from stratum._runtime.model import CallSpec, Completion
    from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord

__all__ = (
    "CAPTURE_CONTENT_ENV",
    "LiveSpan",
    "end_attempt",
    "end_call",
    "end_flow",
    "start_attempt",
    "start_call",
    "start_flow",
)

log = logging.getLogger("stratum.trace")

SCOPE = "stratum"
"""Instrumentation scope name of Stratum's spans and metrics."""

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Set to `true` to put prompts and outputs on attempt spans (`gen_ai.input/output.messages`)."""

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
"""Bucket boundaries the GenAI conventions advise for `gen_ai.client.token.usage`."""

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""Bucket boundaries (seconds) the GenAI conventions advise for `gen_ai.client.operation.duration`."""

PROVIDER_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "google": "gcp.gemini",
        "gemini": "gcp.gemini",
        "vertex": "gcp.vertex_ai",
        "mistral": "mistral_ai",
        "xai": "x_ai",
        "azure": "azure.ai.openai",
        "bedrock": "aws.bedrock",
    }
)
"""Stratum provider names whose `gen_ai.provider.name` well-known value differs."""

NO_MODEL = frozenset({"compute", "compose", "stub", "human"})
"""`model` values of records that reached no model: their spans are INTERNAL, with no gen_ai.*."""


UNSET = object()
"""Marks an opentelemetry-api without the private attribute read below (use the public getter)."""


def _tracer_provider() -> TracerProvider | None:
    """The TracerProvider the app set, or None.

    Read from `sys.modules`, never imported: an app that set a provider has imported
    `opentelemetry.trace`, and one that did not pays no import. The API keeps the provider in
    `_TRACER_PROVIDER` (None until set); it is read directly because `get_tracer_provider()`
    reads the environment on every call while none is set (about 5 µs).
    """
    api: Any = sys.modules.get("opentelemetry.trace")
    if api is None:
        return None
    provider: Any = getattr(api, "_TRACER_PROVIDER", UNSET)
    if provider is None:
        return None
    if provider is UNSET:
        provider = api.get_tracer_provider()
    if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
        return None
    return provider


def _meter_provider() -> MeterProvider | None:
    """The MeterProvider the app set, or None (same shortcuts as `_tracer_provider`)."""
    internal: Any = sys.modules.get("opentelemetry.metrics._internal")
    if internal is None:
        return None
    provider: Any = getattr(internal, "_METER_PROVIDER", UNSET)
    if provider is None:
        return None
    from opentelemetry import metrics

    if provider is UNSET:
        provider = metrics.get_meter_provider()
    proxy = getattr(internal, "_ProxyMeterProvider", None)
    if isinstance(provider, metrics.NoOpMeterProvider) or (proxy is not None and isinstance(provider, proxy)):
        return None
    return provider


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: TracerProvider) -> Tracer:
    from stratum import __version__

    return provider.get_tracer(SCOPE, __version__)


def _tracer() -> Tracer | None:
    """The app's tracer, or None when no TracerProvider is set (the whole cost when off)."""
    provider = _tracer_provider()
    return None if provider is None else _tracer_of(provider)


@dataclass(frozen=True, slots=True)
class _Instruments:
    tokens: Histogram
    duration: Histogram


@functools.lru_cache(maxsize=4)
def _instruments(provider: MeterProvider) -> _Instruments:
    from stratum import __version__

    meter = provider.get_meter(SCOPE, __version__)
    return _Instruments(
        tokens=meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        ),
        duration=meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
    )


@dataclass(slots=True)
class LiveSpan:
    """An open span made current for the code it wraps; end it exactly once."""

    span: Span | None
    token: object | None
    started: float
    metrics: _Instruments | None = None
    operation: Mapping[str, Any] | None = None  # attempts: the GenAI operation attributes of its metrics

    def _close(self, status_error: str | None, error_type: str | None) -> None:
        span = self.span
        if span is not None:
            from opentelemetry.trace import Status, StatusCode

            with _guarded():
                if status_error is not None:
                    span.set_status(Status(StatusCode.ERROR, scrub(status_error)[:1000]))
                    if error_type:
                        span.set_attribute("error.type", error_type)
                span.end()
        if self.token is not None:
            from opentelemetry import context

            context.detach(self.token)  # pyright: ignore[reportArgumentType]  # logs, never raises
            self.token = None


@contextmanager
def _guarded() -> Generator[None]:
    """Tracing never breaks a call: a failure while describing a span is logged and dropped."""
    try:
        yield
    except Exception:  # noqa: BLE001 - an OpenTelemetry SDK or exporter fault
        log.debug("stratum: could not describe an OpenTelemetry span", exc_info=True)


def _attrs(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None, turn Decimal into float and tuples into lists (OTel attribute types)."""
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        if value is None:
            continue
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, tuple | list):
            items = cast("Sequence[object]", value)
            value = [str(v) for v in items]
        out[key] = value
    return out


def _open(
    tracer: Tracer | None, name: str, attributes: Mapping[str, Any], *, client: bool = False, metrics: _Instruments | None = None
) -> LiveSpan:
    if tracer is None:
        return LiveSpan(None, None, time.monotonic(), metrics)
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace

    kind = otel_trace.SpanKind.CLIENT if client else otel_trace.SpanKind.INTERNAL
    try:
        span = tracer.start_span(name, kind=kind, attributes=_attrs(attributes))
    except Exception:  # noqa: BLE001 - tracing never breaks a call
        log.debug("stratum: could not open an OpenTelemetry span", exc_info=True)
        return LiveSpan(None, None, time.monotonic(), metrics)
    context: Context = otel_trace.set_span_in_context(span)
    return LiveSpan(span, otel_context.attach(context), time.monotonic(), metrics)


def _error_type(error: str | None) -> str | None:
    return error.split(":", 1)[0] if error else None


# --- flows -----------------------------------------------------------------------------------


def start_flow(name: str, flow_id: str, parent_flow_id: str | None = None) -> LiveSpan | None:
    """Open the span of a flow run (a child of the current span), or None when tracing is off."""
    api = sys.modules.get("opentelemetry.trace")
    if api is None or getattr(api, "_TRACER_PROVIDER", UNSET) is None:
        return None  # the fast way out: no provider set
    tracer = _tracer()
    if tracer is None:
        return None
    return _open(
        tracer,
        name,
        {
            "gen_ai.operation.name": "invoke_workflow",
            "stratum.kind": "flow",
            "stratum.flow.name": name,
            "stratum.flow_id": flow_id,
            "stratum.parent_flow_id": parent_flow_id,
        },
    )


def end_flow(live: LiveSpan, record: FlowRecord) -> None:
    """Close a flow's span with its outcome, spend and budget events."""
    span = live.span
    if span is not None:
        with _guarded():
            span.set_attributes(
                _attrs(
                    {
                        "stratum.status": record.status,
                        "stratum.cost_usd": record.spent_usd,
                        "stratum.spent_tokens": record.spent_tokens,
                        "stratum.calls": len(record.record_ids),
                        "stratum.budget.usd": _number(record.limits.get("usd")),
                        "stratum.budget.ms": _number(record.limits.get("ms")),
                        "stratum.budget.tokens": _number(record.limits.get("tokens")),
                        "stratum.error": scrub(record.error) if record.error else None,
                    }
                )
            )
            for event in record.budget_events:
                span.add_event("stratum.budget_threshold", _budget_attrs(event))
    live._close(record.error or record.status if record.status == "failed" else None, _error_type(record.error))  # pyright: ignore[reportPrivateUsage]


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(Decimal(str(value)))
    except ArithmeticError:
        return None


def _budget_attrs(event: Any) -> dict[str, Any]:
    return _attrs(
        {
            "stratum.budget.axis": event.axis,
            "stratum.budget.threshold": float(event.threshold),
            "stratum.budget.fraction": float(event.fraction),
            "stratum.budget.spent": str(event.spent),
            "stratum.budget.limit": str(event.limit),
        }
    )


# --- calls -----------------------------------------------------------------------------------


def _split_model(model: str, provider: str | None) -> tuple[str | None, str]:
    """(gen_ai.provider.name, request model) of a Stratum model string."""
    name, sep, rest = model.partition(":")
    provider = provider or (name if sep else None)
    request = rest if sep and name == (provider or name) else model
    return (PROVIDER_NAMES.get(provider, provider) if provider else None), request


def start_call(function: str, model: str, record_id: str) -> LiveSpan | None:
    """Open the span of one call (an `@infer`, `@compute`, stub, cache hit or composed parent)."""
    api = sys.modules.get("opentelemetry.trace")
    if api is None or getattr(api, "_TRACER_PROVIDER", UNSET) is None:
        return None  # the fast way out: no provider set
    tracer = _tracer()
    if tracer is None:
        return None
    return _open(
        tracer,
        function,
        {"stratum.function": function, "stratum.model": model or None, "stratum.record_id": record_id},
    )


def end_call(live: LiveSpan, record: TraceRecord) -> None:
    """Close a call's span with its totals, status and retry reasons."""
    span = live.span
    if span is not None:
        with _guarded():
            is_model = record.model not in NO_MODEL and bool(record.model)
            system, request = _split_model(record.model, record.provider) if is_model else (None, "")
            span.set_attributes(
                _attrs(
                    {
                        "stratum.model": record.model or None,
                        "stratum.kind": None if is_model else record.model or "compute",
                        "gen_ai.provider.name": system,
                        "gen_ai.request.model": request or None,
                        "stratum.flow_id": record.flow_id,
                        "stratum.parent_id": record.parent_id,
                        "stratum.status": record.status,
                        "stratum.attempts": record.attempts if record.attempts else None,
                        "stratum.retry_reasons": [scrub(r) for r in record.retry_reasons] or None,
                        "stratum.contract_hash": record.contract_hash or None,
                        "stratum.compiled_prompt_hash": record.compiled_prompt_hash or None,
                        "stratum.cost_usd": record.cost_usd,
                        "stratum.cache_hit": record.cache_hit or None,
                        "stratum.error": scrub(record.error) if record.error else None,
                        "gen_ai.usage.input_tokens": record.input_tokens if is_model else None,
                        "gen_ai.usage.output_tokens": record.output_tokens if is_model else None,
                    }
                )
            )
            for event in record.budget_events:
                span.add_event("stratum.budget_threshold", _budget_attrs(event))
    failed = record.status == "failed"
    live._close((record.error or "failed") if failed else None, _error_type(record.error))  # pyright: ignore[reportPrivateUsage]


# --- attempts (one model request each) ---------------------------------------------------------


def capture_content() -> bool:
    """Whether prompts and outputs go on spans (opt-in, per the GenAI conventions)."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in {"true", "1", "yes"}


def _input_messages(call: CallSpec) -> str:
    messages = [
        {"role": m.role, "parts": [{"type": "text", "content": scrub(m.content)}]}
        for m in call.messages
    ]
    return json.dumps(messages, ensure_ascii=False)


def _output_messages(completion: Completion) -> str:
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": scrub(completion.text)}],
        "finish_reason": completion.finish_reason,
    }
    return json.dumps([message], ensure_ascii=False)


def start_attempt(call: CallSpec, provider: str) -> LiveSpan | None:
    """Open the span of one model request (`chat {model}`), or None when neither traces nor
    metrics are being collected."""
    api, meters = sys.modules.get("opentelemetry.trace"), sys.modules.get("opentelemetry.metrics._internal")
    if (api is None or getattr(api, "_TRACER_PROVIDER", UNSET) is None) and (
        meters is None or getattr(meters, "_METER_PROVIDER", UNSET) is None
    ):
        return None  # the fast way out: neither provider set
    tracer = _tracer()
    meter = _meter_provider()
    if tracer is None and meter is None:
        return None
    instruments = _instruments(meter) if meter is not None else None
    system = PROVIDER_NAMES.get(provider, provider)
    operation = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": system, "gen_ai.request.model": call.model}
    live = _open(
        tracer,
        f"chat {call.model}",
        {
            **operation,
            "gen_ai.request.max_tokens": call.max_tokens,
            "gen_ai.request.temperature": call.temperature,
            "gen_ai.output.type": "json" if call.output_schema is not None else "text",
            "stratum.function": call.function or None,
            "stratum.attempt": call.attempt + 1,
            "gen_ai.input.messages": _input_messages(call) if capture_content() else None,
        },
        client=True,
        metrics=instruments,
    )
    live.operation = operation
    return live


def end_attempt(live: LiveSpan, attempt: AttemptRecord, completion: Completion | None = None) -> None:
    """Close an attempt's span with its response, usage and outcome; record the GenAI metrics."""
    span = live.span
    failure = None if attempt.outcome == "ok" else "; ".join(attempt.violations) or attempt.error or attempt.outcome
    if span is not None:
        span.set_attributes(
            _attrs(
                {
                    "gen_ai.response.model": attempt.response_model,
                    "gen_ai.response.id": attempt.request_id,
                    "gen_ai.response.finish_reasons": [attempt.finish_reason] if attempt.finish_reason else None,
                    "gen_ai.usage.input_tokens": attempt.input_tokens,
                    "gen_ai.usage.output_tokens": attempt.output_tokens,
                    "gen_ai.usage.cache_read.input_tokens": attempt.cached_input_tokens or None,
                    "gen_ai.usage.cache_creation.input_tokens": attempt.cache_write_tokens or None,
                    "gen_ai.usage.reasoning.output_tokens": attempt.reasoning_tokens or None,
                    "stratum.outcome": attempt.outcome,
                    "stratum.prompt_hash": attempt.prompt_hash or None,
                    "stratum.failure_reason": scrub(failure) if failure else None,
                    "stratum.violations": [scrub(v) for v in attempt.violations] or None,
                    "stratum.cost_usd": attempt.cost_usd,
                    "stratum.fault_retries": attempt.fault_retries or None,
                    "gen_ai.output.messages": (
                        _output_messages(completion) if completion is not None and capture_content() else None
                    ),
                }
            )
        )
    error_type = _error_type(attempt.error) or (None if attempt.outcome in {"ok", "violation"} else attempt.outcome)
    if live.metrics is not None:
        with _guarded():
            _record_metrics(live, attempt, error_type)
    # A violation is the model answering wrongly, not the request failing: the span stays OK.
    errored = attempt.outcome not in {"ok", "violation", "parse_error", "truncated"}
    live._close(failure if errored else None, error_type)  # pyright: ignore[reportPrivateUsage]


def _record_metrics(live: LiveSpan, attempt: AttemptRecord, error_type: str | None) -> None:
    instruments = live.metrics
    assert instruments is not None
    base = _attrs({**(live.operation or {}), "gen_ai.response.model": attempt.response_model})
    elapsed = time.monotonic() - live.started
    instruments.duration.record(elapsed, _attrs({**base, "error.type": error_type}))
    if attempt.input_tokens or attempt.output_tokens:
        instruments.tokens.record(attempt.input_tokens, {**base, "gen_ai.token.type": "input"})
        instruments.tokens.record(attempt.output_tokens, {**base, "gen_ai.token.type": "output"})

