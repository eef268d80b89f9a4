"""Live OpenTelemetry spans and GenAI metrics through the application's own SDK providers.

The real OpenTelemetry SDK (in-memory span exporter, in-memory metric reader) stands in for the
application's observability stack; spans the test opens itself play the application's spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

import stratum
from stratum import compute, flow
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import _otel
from stratum.trace._otlp import span_id, trace_id

from trace_flows import PRICE, fan_out, run_triage, summarize, triage

pytestmark = pytest.mark.anyio


@dataclass
class Otel:
    provider: TracerProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """Spans called `name`, or `<locals>.name` for functions defined inside a test."""
        return [s for s in self.finished() if s.name == name or s.name.endswith(f".<locals>.{name}")]

    def one(self, name: str) -> ReadableSpan:
        [span] = self.named(name)
        return span

    def histogram(self, name: str) -> list[HistogramDataPoint]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            if metric.name == name
            for point in metric.data.data_points
            if isinstance(point, HistogramDataPoint)
        ]


def _reset_globals() -> None:
    # What opentelemetry-test-utils' reset_*_globals do: the API sets its providers only once.
    otel_trace._TRACER_PROVIDER_SET_ONCE = Once()  # pyright: ignore[reportPrivateUsage]
    otel_trace._TRACER_PROVIDER = None  # pyright: ignore[reportPrivateUsage]
    from opentelemetry.metrics import _internal as metrics_internal

    metrics_internal._METER_PROVIDER_SET_ONCE = Once()  # pyright: ignore[reportPrivateUsage]
    metrics_internal._METER_PROVIDER = None  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    _reset_globals()
    otel_trace.set_tracer_provider(provider)
    otel_metrics.set_meter_provider(meters)
    try:
        yield Otel(provider, exporter, reader)
    finally:
        _reset_globals()
        provider.shutdown()
        meters.shutdown()


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _ctx(span: ReadableSpan) -> Any:
    assert span.context is not None
    return span.context


def test_off_without_a_provider() -> None:
    """No TracerProvider or MeterProvider set: the hooks return None and open nothing."""
    _reset_globals()
    assert _otel.start_flow("f", "id") is None
    assert _otel.start_call("f", "openai:gpt-4o", "rid") is None


async def test_flow_is_a_child_of_the_apps_span_and_everything_nests(otel: Otel) -> None:
    app = otel.provider.get_tracer("app")
    with app.start_as_current_span("GET /tickets") as request:
        run = await run_triage()
    request_ctx = request.get_span_context()
    flow_span = otel.one("triage")
    assert _parent(flow_span) == request_ctx.span_id
    assert _ctx(flow_span).trace_id == request_ctx.trace_id  # ids come from OTel, not from record ids
    assert _ctx(flow_span).trace_id != int(trace_id(run.flows[0].flow_id), 16)
    assert _ctx(flow_span).span_id != int(span_id(run.flows[0].flow_id), 16)
    first, second = otel.one("classify"), otel.one("summarize")
    assert _parent(first) == _parent(second) == _ctx(flow_span).span_id
    attempts = otel.named("chat scripted")
    assert len(attempts) == 3
    under_classify = [a for a in attempts if _parent(a) == _ctx(first).span_id]
    under_summarize = [a for a in attempts if _parent(a) == _ctx(second).span_id]
    assert len(under_classify) == 2 and len(under_summarize) == 1
    assert all(_ctx(s).trace_id == request_ctx.trace_id for s in otel.finished() if s.name != "GET /tickets")
    # Live spans: a parent starts before and ends after its children.
    assert flow_span.start_time is not None and first.start_time is not None
    assert flow_span.start_time <= first.start_time and first.end_time <= flow_span.end_time  # type: ignore[operator]

    f = dict(flow_span.attributes or {})
    assert f["stratum.flow_id"] == run.flows[0].flow_id and f["stratum.status"] == "ok"
    assert f["gen_ai.operation.name"] == "invoke_workflow"
    assert f["stratum.cost_usd"] == pytest.approx(0.00096) and f["stratum.budget.usd"] == pytest.approx(0.001)
    assert [e.name for e in flow_span.events] == ["stratum.budget_threshold"] * 3

    c = dict(first.attributes or {})
    assert first.kind == SpanKind.INTERNAL
    assert c["stratum.function"] == "classify" and c["stratum.record_id"] == run.records[0].record_id
    assert c["stratum.attempts"] == 2 and c["stratum.status"] == "ok"
    assert list(c["stratum.retry_reasons"]) == ["ensure: r.confidence > 0.7 (actual: r.confidence=0.4)"]  # type: ignore[arg-type]
    assert (c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) == (230, 40)


async def test_attempt_spans_follow_the_genai_conventions(otel: Otel) -> None:
    await run_triage()
    failed, passed = sorted(
        (a for a in otel.named("chat scripted") if (a.attributes or {}).get("stratum.function") == "classify"),
        key=lambda s: s.start_time or 0,
    )
    a, b = dict(failed.attributes or {}), dict(passed.attributes or {})
    assert failed.kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "scripted"
    assert a["gen_ai.request.model"] == "scripted" and a["gen_ai.response.model"] == "scripted"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (100, 20)
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]  # type: ignore[arg-type]
    assert (a["stratum.attempt"], b["stratum.attempt"]) == (1, 2)  # counted from 1
    assert a["stratum.outcome"] == "violation" and b["stratum.outcome"] == "ok"
    assert a["stratum.failure_reason"] == "ensure: r.confidence > 0.7 (actual: r.confidence=0.4)"
    assert a["stratum.prompt_hash"] != b["stratum.prompt_hash"]
    # The model answered: a violation is the content being wrong, not the request failing.
    assert failed.status.status_code != StatusCode.ERROR
    # Content capture is opt-in.
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


async def test_message_content_only_when_opted_in(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_otel.CAPTURE_CONTENT_ENV, "true")
    with use_model(ScriptedModel([Reply("Happy customer.", usage=(50, 10))])):
        await summarize(text="the sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234567890abcdef key leaked", label="positive")
    attempt = otel.one("chat scripted")
    attrs = dict(attempt.attributes or {})
    inputs = json.loads(str(attrs["gen_ai.input.messages"]))
    outputs = json.loads(str(attrs["gen_ai.output.messages"]))
    assert {m["role"] for m in inputs} >= {"user"}
    assert all(p["type"] == "text" for m in inputs for p in m["parts"])
    assert "key leaked" in json.dumps(inputs) and "sk-ant-api03" not in json.dumps(inputs)  # keys scrubbed
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "Happy customer."}], "finish_reason": "stop"}]


async def test_genai_metrics(otel: Otel) -> None:
    await run_triage()
    tokens = otel.histogram("gen_ai.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens}  # type: ignore[index]
    assert by_type["input"].sum == 100 + 130 + 50 and by_type["input"].count == 3
    assert by_type["output"].sum == 20 + 20 + 10 and by_type["output"].count == 3
    assert dict(by_type["input"].attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "scripted",
        "gen_ai.response.model": "scripted",
        "gen_ai.token.type": "input",
    }
    assert list(by_type["input"].explicit_bounds)[:3] == [1, 4, 16]
    [duration] = otel.histogram("gen_ai.client.operation.duration")
    assert duration.count == 3 and 0 <= duration.sum < 10


async def test_user_spans_inside_a_flow_and_a_provider_nest(otel: Otel) -> None:
    """Spans opened by the app inside a flow, or by an HTTP instrumentation inside a model
    request, are children of Stratum's live spans."""
    app = otel.provider.get_tracer("app")
    scripted = ScriptedModel([Reply("ok", usage=(5, 1))], price=PRICE)

    class Instrumented:
        name = "scripted"
        price = PRICE

        async def complete(self, call: Any) -> Any:
            with app.start_as_current_span("POST /v1/chat/completions"):
                return await scripted.complete(call)

    @compute
    def lookup(text: str) -> str:
        with app.start_as_current_span("db.lookup"):
            return text

    @flow
    async def handle(text: str) -> str:
        with app.start_as_current_span("prepare"):
            pass
        return await summarize(text=lookup(text), label="positive")

    with use_model(Instrumented()):
        assert await handle("hi") == "ok"
    flow_span, compute_span = otel.one("handle"), otel.one("lookup")
    assert _parent(otel.one("prepare")) == _ctx(flow_span).span_id
    assert _parent(compute_span) == _ctx(flow_span).span_id
    assert _parent(otel.one("db.lookup")) == _ctx(compute_span).span_id
    assert dict(compute_span.attributes or {})["stratum.kind"] == "compute"
    assert _parent(otel.one("POST /v1/chat/completions")) == _ctx(otel.one("chat scripted")).span_id


async def test_parallel_calls_are_siblings(otel: Otel) -> None:
    model = ScriptedModel([Reply({"label": "positive", "confidence": 0.9}, usage=(10, 2))] * 3, price=PRICE)
    with use_model(model):
        await fan_out(["a", "b", "c"])
    flow_span = otel.one("fan_out")
    calls = otel.named("classify")
    assert len(calls) == 3 and {_parent(c) for c in calls} == {_ctx(flow_span).span_id}


async def test_a_failed_call_marks_its_spans(otel: Otel) -> None:
    model = ScriptedModel([Reply({"label": "positive", "confidence": 0.1}, usage=(10, 2))] * 3, price=PRICE)
    with use_model(model), pytest.raises(stratum.PostconditionFailed):
        await triage("meh")
    call, flow_span = otel.one("classify"), otel.one("triage")
    assert call.status.status_code == StatusCode.ERROR and flow_span.status.status_code == StatusCode.ERROR
    assert dict(call.attributes or {})["error.type"] == "PostconditionFailed"
    assert len(otel.named("chat scripted")) == 3


async def test_no_spans_after_the_provider_is_gone(otel: Otel) -> None:
    _reset_globals()
    await run_triage()
    assert otel.finished() == []


async def test_a_cancelled_request_closes_its_spans_and_restores_the_context(otel: Otel) -> None:
    import anyio

    app = otel.provider.get_tracer("app")
    slow = ScriptedModel([Reply("late", usage=(5, 1), latency_ms=5_000)])
    with app.start_as_current_span("request") as request, use_model(slow):
        with anyio.move_on_after(0.05):
            await summarize(text="x", label="positive")
        assert otel_trace.get_current_span() is request  # nothing left attached
    attempt, call = otel.one("chat scripted"), otel.one("summarize")
    assert dict(attempt.attributes or {})["stratum.outcome"] == "cancelled"
    assert attempt.end_time is not None and call.end_time is not None
    assert dict(call.attributes or {})["stratum.status"] == "cancelled"
    assert _parent(call) == request.get_span_context().span_id


async def test_a_broken_span_processor_never_breaks_a_call(otel: Otel) -> None:
    from opentelemetry.sdk.trace import SpanProcessor

    class Broken(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            raise RuntimeError("processor down")

        def on_end(self, span: Any) -> None:
            raise RuntimeError("processor down")

    otel.provider.add_span_processor(Broken())
    run = await run_triage()
    assert [r.status for r in run.records] == ["ok", "ok"] and run.flows[0].status == "ok"
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # nothing left attached
