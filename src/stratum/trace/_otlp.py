"""`OtlpExporter`: records as OpenTelemetry spans, OTLP over HTTP/JSON, no SDK needed.

A flow is a root span, each call a child span (of its flow, or of the record named by its
`parent_id`), each attempt a span event carrying its failure reason; calls running in
`parallel` are sibling spans. Records reach sinks when a call *finishes* and a flow's record
comes last, so span and trace ids are derived from record/flow ids with a hash: a child can be
exported before its parent and still point at it. Attribute names follow the OpenTelemetry
GenAI semantic conventions, plus `stratum.*` ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, cast

import httpx2

from stratum._runtime import context as _context
from stratum._util.backoff import Backoff, retry_after_seconds
from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord, to_jsonable
from stratum.trace._redact import Redaction, RedactMode, as_redaction, scrub
from stratum.trace._worker import DEFAULT_QUEUE, BackgroundSink

__all__ = ("OtlpExporter", "SpanItem", "build_request", "span_id", "trace_id")

log = logging.getLogger("stratum.trace")

TRACES_PATH = "/v1/traces"
"""Appended to the collector base URL (the OTLP/HTTP default path)."""

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_CODE_ERROR = 2

_RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
_MAX_BACKOFF = 30.0
"""Statuses the OTLP/HTTP spec says to retry; anything else is final."""

# Stratum provider names -> `gen_ai.provider.name` well-known values.
_PROVIDERS: Mapping[str, str] = MappingProxyType(
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

# `meta` keys set by composition primitives, exported as `stratum.<key>`.
_META_KEYS = ("kind", "group", "branch", "iteration", "round", "member", "sample")


def _hex(kind: str, key: str, size: int) -> str:
    return hashlib.sha256(f"stratum:{kind}:{key}".encode()).hexdigest()[: size * 2]


def trace_id(root_flow_id: str) -> str:
    """The 32-hex trace id of everything under a root flow (or a call outside any flow)."""
    return _hex("trace", root_flow_id, 16)


def span_id(record_or_flow_id: str) -> str:
    """The 16-hex span id of a flow or a call record."""
    return _hex("span", record_or_flow_id, 8)


@dataclass(frozen=True, slots=True)
class SpanItem:
    """A record and the id of its outermost flow (read from the caller's context at emit time)."""

    record: TraceRecord | FlowRecord
    root: str


def _root_of(record: TraceRecord | FlowRecord) -> str:
    """The outermost flow id above `record`, from the live flow chain when it is the record's."""
    if isinstance(record, FlowRecord):
        if record.parent_flow_id is None:
            return record.flow_id
        anchor = record.parent_flow_id
    elif record.flow_id is None:
        # Outside any flow: a composed call's members share their parent's trace.
        return record.parent_id or record.record_id
    else:
        anchor = record.flow_id
    run = _context.current_flow()
    if run is None or run.flow_id != anchor:
        return anchor
    while run.parent is not None:
        run = run.parent
    return run.flow_id


# --- attributes ------------------------------------------------------------------------------


def _value(value: Any) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 is a string in the protobuf JSON mapping
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, Decimal):
        return {"doubleValue": float(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        items = [v for v in (_value(x) for x in value) if v is not None]  # pyright: ignore[reportUnknownVariableType]
        return {"arrayValue": {"values": items}}
    return None


def _attrs(pairs: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, raw in pairs.items():
        if raw is None:
            continue
        value = _value(raw)
        if value is not None:
            out.append({"key": key, "value": value})
    return out


def _nanos(moment: dt.datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _json_text(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True, default=str)


def _redacted(redaction: Redaction, mode: RedactMode, value: Any) -> str | None:
    if mode == "omit" or value is None:
        return None
    text = _json_text(value)
    return text if mode == "none" else redaction.apply("hash", json.loads(text))


def _failure(attempt: AttemptRecord) -> str | None:
    if attempt.outcome in ("ok", "tool_use"):
        return None
    return "; ".join(attempt.violations) or attempt.error or attempt.outcome


def _attempt_event(attempt: AttemptRecord, at: int, redaction: Redaction) -> dict[str, Any]:
    return {
        "timeUnixNano": str(at),
        "name": "stratum.attempt",
        "attributes": _attrs(
            {
                "stratum.attempt": attempt.attempt + 1,  # counted from 1, as in the audit
                "stratum.outcome": attempt.outcome,
                "stratum.failure_reason": _failure(attempt),
                "stratum.violations": list(attempt.violations) or None,
                "stratum.prompt_hash": attempt.prompt_hash or None,
                "gen_ai.usage.input_tokens": attempt.input_tokens,
                "gen_ai.usage.output_tokens": attempt.output_tokens,
                "gen_ai.request.max_tokens": attempt.max_tokens,
                "gen_ai.response.finish_reasons": [attempt.finish_reason] if attempt.finish_reason else None,
                "gen_ai.response.model": attempt.response_model,
                "gen_ai.response.id": attempt.request_id,
                "stratum.cost_usd": attempt.cost_usd,
                "stratum.latency_ms": float(attempt.latency_ms),
                "stratum.fault_retries": attempt.fault_retries or None,
                "stratum.model": attempt.model,
                "stratum.raw_output": _redacted(redaction, redaction.outputs, attempt.raw_output),
                "error.type": attempt.error.split(":", 1)[0] if attempt.error else None,
            }
        ),
    }


def _budget_event(event: Any, at: int) -> dict[str, Any]:
    return {
        "timeUnixNano": str(at),
        "name": "stratum.budget_threshold",
        "attributes": _attrs(
            {
                "stratum.budget.axis": event.axis,
                "stratum.budget.threshold": float(event.threshold),
                "stratum.budget.fraction": float(event.fraction),
                "stratum.budget.spent": str(event.spent),
                "stratum.budget.limit": str(event.limit),
            }
        ),
    }


def _status(status: str, error: str | None) -> dict[str, Any]:
    if status == "failed":
        return {"code": STATUS_CODE_ERROR, "message": scrub(error or "failed")}
    return {}


def _call_span(record: TraceRecord, root: str, redaction: Redaction) -> dict[str, Any]:
    start = _nanos(record.started_at)
    end = start + int(record.duration_ms * 1_000_000)
    parent = record.parent_id or record.flow_id
    is_model = record.model != "compute"
    provider = _PROVIDERS.get(record.provider, record.provider) if is_model and record.provider else None
    request_model = record.model.split(":", 1)[1] if record.model.startswith(f"{record.provider}:") else record.model
    last = record.attempt_records[-1] if record.attempt_records else None
    finish = [a.finish_reason for a in record.attempt_records if a.finish_reason]
    pairs: dict[str, Any] = {
        "gen_ai.operation.name": "chat" if is_model else None,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": request_model if is_model and request_model else None,
        "gen_ai.response.model": last.response_model if last is not None else None,
        "gen_ai.response.id": last.request_id if last is not None else None,
        "gen_ai.request.max_tokens": record.attempt_records[0].max_tokens if record.attempt_records else None,
        "gen_ai.response.finish_reasons": finish[-1:] or None,
        "gen_ai.usage.input_tokens": record.input_tokens if is_model else None,
        "gen_ai.usage.output_tokens": record.output_tokens if is_model else None,
        "gen_ai.usage.cache_read.input_tokens": record.cached_input_tokens or None,
        "gen_ai.usage.cache_creation.input_tokens": record.cache_write_tokens or None,
        "gen_ai.usage.reasoning.output_tokens": record.reasoning_tokens or None,
        "error.type": record.error.split(":", 1)[0] if record.error else None,
        "stratum.function": record.function,
        "stratum.model": record.model or None,
        "stratum.kind": "compute" if not is_model else None,
        "stratum.record_id": record.record_id,
        "stratum.flow_id": record.flow_id,
        "stratum.parent_id": record.parent_id,
        "stratum.status": record.status,
        "stratum.attempts": record.attempts,
        "stratum.retry_reasons": list(record.retry_reasons) or None,
        "stratum.contract_hash": record.contract_hash or None,
        "stratum.compiled_prompt_hash": record.compiled_prompt_hash or None,
        "stratum.cost_usd": record.cost_usd,
        "stratum.cache_savings_usd": record.cache_savings_usd,
        "stratum.cache_hit": record.cache_hit,
        "stratum.review_id": record.review_id,
        "stratum.stopped": record.stopped,
        "stratum.models_tried": list(record.models_tried) if len(record.models_tried) > 1 else None,
        "stratum.error": record.error,
        "stratum.opaque_inputs": list(record.opaque_inputs) or None,
        "stratum.inputs": _redacted(redaction, redaction.inputs, dict(record.inputs)),
        "stratum.output": _redacted(redaction, redaction.outputs, record.output),
    }
    for key in _META_KEYS:
        if key in record.meta:
            pairs[f"stratum.{key}"] = record.meta[key]
    events: list[dict[str, Any]] = []
    at = start
    for attempt in record.attempt_records:
        at = min(at + int(attempt.latency_ms * 1_000_000), end)
        events.append(_attempt_event(attempt, at, redaction))
    events.extend(_budget_event(e, end) for e in record.budget_events)
    span: dict[str, Any] = {
        "traceId": trace_id(root),
        "spanId": span_id(record.record_id),
        "name": f"chat {request_model}" if is_model and request_model else record.function,
        "kind": SPAN_KIND_CLIENT if is_model else SPAN_KIND_INTERNAL,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": _attrs(pairs),
        "events": events,
        "status": _status(record.status, record.error),
    }
    if parent is not None:
        span["parentSpanId"] = span_id(parent)
    return span


def _flow_span(record: FlowRecord, root: str) -> dict[str, Any]:
    start = _nanos(record.started_at)
    end = start + int(record.duration_ms * 1_000_000)
    limits = record.limits
    span: dict[str, Any] = {
        "traceId": trace_id(root),
        "spanId": span_id(record.flow_id),
        "name": record.name,
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": _attrs(
            {
                "gen_ai.operation.name": "invoke_workflow",
                "stratum.kind": "flow",
                "stratum.flow_id": record.flow_id,
                "stratum.flow.name": record.name,
                "stratum.parent_flow_id": record.parent_flow_id,
                "stratum.status": record.status,
                "stratum.cost_usd": record.spent_usd,
                "stratum.spent_tokens": record.spent_tokens,
                "stratum.calls": len(record.record_ids),
                "stratum.budget.usd": limits.get("usd"),
                "stratum.budget.ms": limits.get("ms"),
                "stratum.budget.tokens": limits.get("tokens"),
                "stratum.error": record.error,
                "error.type": record.error.split(":", 1)[0] if record.error else None,
            }
        ),
        "events": [_budget_event(e, end) for e in record.budget_events],
        "status": _status(record.status, record.error),
    }
    if record.parent_flow_id is not None:
        span["parentSpanId"] = span_id(record.parent_flow_id)
    return span


def build_request(
    items: Sequence[SpanItem],
    *,
    redaction: Redaction | None = None,
    service_name: str = "stratum",
    resource: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OTLP `ExportTraceServiceRequest` (JSON mapping) for a batch of records."""
    from stratum import __version__

    redact = redaction or Redaction(inputs="omit", outputs="omit")
    spans = [
        _flow_span(i.record, i.root) if isinstance(i.record, FlowRecord) else _call_span(i.record, i.root, redact)
        for i in items
    ]
    attributes = {
        "service.name": service_name,
        "telemetry.sdk.name": "stratum",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
        **(resource or {}),
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs(attributes)},
                "scopeSpans": [{"scope": {"name": "stratum", "version": __version__}, "spans": spans}],
            }
        ]
    }


class _OtlpBackend:
    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        max_retries: int,
        backoff: float,
        redaction: Redaction,
        service_name: str,
        resource: Mapping[str, Any] | None,
        transport: httpx2.BaseTransport | None,
    ) -> None:
        self._url = url
        self._headers = {"Content-Type": "application/json", **headers}
        self._timeout = timeout
        self._max_retries = max_retries
        self._delays = Backoff(backoff, _MAX_BACKOFF, spread=0.0)
        self._redaction = redaction
        self._service_name = service_name
        self._resource = resource
        self._transport = transport
        self._client: httpx2.Client | None = None

    def _http(self) -> httpx2.Client:
        # Its own sync client on the worker thread: never touches the caller's event loop.
        if self._client is None:
            self._client = httpx2.Client(timeout=self._timeout, transport=self._transport)
        return self._client

    def write(self, items: list[SpanItem], /) -> None:
        # One scrubbing pass over the whole payload (see `_codec.dumps` for why that is safe).
        body = scrub(
            json.dumps(
                build_request(items, redaction=self._redaction, service_name=self._service_name, resource=self._resource),
                ensure_ascii=False,
                separators=(",", ":"),
            )
        ).encode()
        attempt = 0
        while True:
            delay = self._delays.delay(attempt)
            try:
                response = self._http().post(self._url, content=body, headers=self._headers)
            except httpx2.TransportError as exc:
                problem: str = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    self._partial(response)
                    return
                problem = f"HTTP {response.status_code} from {self._url}"
                if response.status_code not in _RETRY_STATUSES:
                    raise RuntimeError(f"{problem}: {scrub(response.text[:300])}")
                delay = max(delay, retry_after_seconds(response.headers) or 0.0)
            if attempt >= self._max_retries:
                raise RuntimeError(f"{problem} after {attempt + 1} attempt(s)")
            attempt += 1
            time.sleep(min(delay, _MAX_BACKOFF))

    def _partial(self, response: httpx2.Response) -> None:
        try:
            data: Any = response.json()
        except ValueError:
            return
        partial = cast("dict[str, Any]", data).get("partialSuccess") if isinstance(data, dict) else None
        if isinstance(partial, dict):
            fields = cast("dict[str, Any]", partial)
            if fields.get("rejectedSpans"):
                log.warning(
                    "OTLP collector rejected %s span(s): %s",
                    fields.get("rejectedSpans"),
                    scrub(str(fields.get("errorMessage"))),
                )

    def note_dropped(self, count: int, reason: str | None, /) -> None:
        log.warning("stratum OtlpExporter dropped %d record(s)%s", count, f": {scrub(reason)}" if reason else "")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


DEFAULT_ENDPOINT = "http://localhost:4318"
"""The OTLP/HTTP default collector address, used when neither an endpoint nor the env names one."""


def _env_headers(text: str | None) -> dict[str, str]:
    """`OTEL_EXPORTER_OTLP_HEADERS`: comma-separated `key=value` pairs, values URL-encoded."""
    from urllib.parse import unquote

    headers: dict[str, str] = {}
    for item in (text or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip())] = unquote(value.strip())
    return headers


def resolve_target(endpoint: str | None, headers: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
    """The traces URL and headers, from the arguments first, then the standard OTel env vars.

    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as is; `OTEL_EXPORTER_OTLP_ENDPOINT` (like the
    `endpoint` argument) is a base URL that gets `/v1/traces`. Header env vars
    (`OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`) are merged under the
    `headers` argument.
    """
    import os

    if endpoint is None and (signal := os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()):
        url = signal
    else:
        base = (endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")
        url = base if base.endswith(TRACES_PATH) else base + TRACES_PATH
    merged = {
        **_env_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS")),
        **_env_headers(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
        **(headers or {}),
    }
    return url, merged


class OtlpExporter(BackgroundSink[SpanItem]):
    """Export records as OpenTelemetry spans to a collector, OTLP over HTTP/JSON.

    No OpenTelemetry SDK needed (with one, and a TracerProvider set, Stratum already opens live
    spans through it; this exporter is for applications without it). Spans are batched and sent from a background thread with its
    own HTTP client, retried with exponential backoff on 408/429/502/503/504 and connection
    errors (honouring `Retry-After`), so neither the event loop nor a call ever waits for the
    collector. Inputs and outputs are not exported unless `redact` says so (they are prompt
    content; the GenAI conventions make capturing it opt-in).

    Example:
        ```python
        stratum.configure(trace_sinks=[OtlpExporter("http://localhost:4318")])
        ```

    Args:
        endpoint: the collector's base URL; `/v1/traces` is appended. Without it, the standard
            `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
            (a base URL), else `http://localhost:4318`.
        headers: extra HTTP headers (e.g. the backend's auth header), added over those of
            `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`k=v,k2=v2`).
        redact: `"omit"` (default), `"hash"` or `"none"` for inputs and outputs, or a `Redaction`.
        service_name: the `service.name` resource attribute.
        resource: more resource attributes (`{"deployment.environment": "prod"}`).
        timeout: seconds per HTTP request.
        max_retries: retries of one batch before it is dropped (and counted).
        backoff: first retry delay in seconds, doubled each time.
        queue_size: records held in memory before new ones are dropped.
        batch_size: records (spans) per request.
        transport: an `httpx2` transport (tests, proxies).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        redact: RedactMode | Redaction = "omit",
        service_name: str = "stratum",
        resource: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        queue_size: int = DEFAULT_QUEUE,
        batch_size: int = 256,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.url, merged_headers = resolve_target(endpoint, headers)
        self.redaction = as_redaction(redact)
        backend = _OtlpBackend(
            self.url,
            headers=merged_headers,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            redaction=self.redaction,
            service_name=service_name,
            resource=resource,
            transport=transport,
        )
        super().__init__(backend, name="stratum-otlp", queue_size=queue_size, batch_size=batch_size)

    def _prepare(self, record: TraceRecord | FlowRecord) -> SpanItem:
        return SpanItem(record, _root_of(record))

    def __repr__(self) -> str:
        return f"OtlpExporter({self.url!r}, dropped={self.dropped})"
