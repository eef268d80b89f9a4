"""OtlpExporter against a local OTLP/HTTP receiver that decodes what it gets."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from trace_flows import PRICE, classify, fan_out, outer, run_triage, triage_model

import stratum
from stratum._runtime import context as _context
from stratum._runtime.attempts import run_attempts
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import OtlpExporter
from stratum.trace._otlp import span_id, trace_id

pytestmark = pytest.mark.anyio


class Receiver:
    """A tiny OTLP/HTTP collector on 127.0.0.1: records every request, answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []  # answers to the next requests, then 200
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hold.wait(10)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.paths.append(self.path)
                receiver.headers.append(dict(self.headers))
                if status == 200:
                    receiver.requests.append(json.loads(body))
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def spans(self) -> list[dict[str, Any]]:
        return [s for r in self.requests for rs in r["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def attrs(span_or_event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span_or_event["attributes"]:
        [(kind, value)] = a["value"].items()
        if kind == "intValue":
            value = int(value)
        elif kind == "arrayValue":
            value = [next(iter(v.values())) for v in value["values"]]
        out[a["key"]] = value
    return out


def by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {attrs(s).get("stratum.function") or s["name"]: s for s in spans}


def assert_valid_otlp(payload: dict[str, Any]) -> None:
    """Parse with the official protobuf definitions (ids are hex in OTLP/JSON, base64 in proto JSON)."""
    json_format = pytest.importorskip("google.protobuf.json_format")
    trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    converted = json.loads(json.dumps(payload))
    for rs in converted["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        assert len(span[key]) in (16, 32) and int(span[key], 16) >= 0
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = json_format.Parse(json.dumps(converted), trace_service.ExportTraceServiceRequest())
    assert message.resource_spans[0].scope_spans[0].spans


async def test_flow_is_root_span_calls_are_children_attempts_are_events(receiver: Receiver) -> None:
    with OtlpExporter(receiver.url + "/") as exporter, stratum.configure(trace_sinks=[exporter]):
        run = await run_triage()
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    assert receiver.headers[0]["Content-Type"] == "application/json"
    for payload in receiver.requests:
        assert_valid_otlp(payload)
    spans = by_name(receiver.spans())
    assert set(spans) == {"triage", "classify", "summarize"}
    flow, first, second = spans["triage"], spans["classify"], spans["summarize"]
    flow_record = run.flows[0]
    assert "parentSpanId" not in flow
    assert flow["spanId"] == span_id(flow_record.flow_id)
    assert flow["traceId"] == first["traceId"] == second["traceId"] == trace_id(flow_record.flow_id)
    assert first["parentSpanId"] == second["parentSpanId"] == flow["spanId"]
    assert first["spanId"] == span_id(run.records[0].record_id)
    assert flow["kind"] == 1 and first["kind"] == 3
    assert int(flow["startTimeUnixNano"]) <= int(first["startTimeUnixNano"]) <= int(first["endTimeUnixNano"]) <= int(flow["endTimeUnixNano"])

    a = attrs(first)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "scripted"
    assert a["gen_ai.request.model"] == "scripted" and a["gen_ai.response.model"] == "scripted"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (230, 40)
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["stratum.function"] == "classify"
    assert a["stratum.attempts"] == 2
    assert a["stratum.cost_usd"] == pytest.approx(0.00078)
    assert a["stratum.flow_id"] == flow_record.flow_id
    assert a["stratum.status"] == "ok"
    assert a["stratum.contract_hash"] == run.records[0].contract_hash
    assert a["stratum.compiled_prompt_hash"] == run.records[0].compiled_prompt_hash
    assert "stratum.inputs" not in a and "stratum.output" not in a  # content capture is opt-in

    events = first["events"]
    assert [e["name"] for e in events] == ["stratum.attempt", "stratum.attempt", "stratum.budget_threshold"]
    assert attrs(events[2])["stratum.budget.threshold"] == 0.5
    failed, passed = attrs(events[0]), attrs(events[1])
    assert failed["stratum.outcome"] == "violation"
    assert failed["stratum.failure_reason"] == "ensure: r.confidence > 0.7 (actual: r.confidence=0.4)"
    assert (failed["gen_ai.usage.input_tokens"], failed["gen_ai.usage.output_tokens"]) == (100, 20)
    assert passed["stratum.outcome"] == "ok" and "stratum.failure_reason" not in passed
    assert (failed["stratum.attempt"], passed["stratum.attempt"]) == (1, 2)  # counted from 1
    assert failed["stratum.prompt_hash"] != passed["stratum.prompt_hash"]  # the retry prompt differs

    f = attrs(flow)
    assert f["stratum.flow_id"] == flow_record.flow_id and f["stratum.status"] == "ok"
    assert f["stratum.cost_usd"] == pytest.approx(0.00096)
    assert [e["name"] for e in flow["events"]] == ["stratum.budget_threshold"] * 3


async def test_parallel_branches_are_sibling_spans(receiver: Receiver) -> None:
    model = ScriptedModel([{"label": "positive", "confidence": 0.9}] * 3)
    with OtlpExporter(receiver.url) as exporter, stratum.configure(trace_sinks=[exporter]), use_model(model):
        await fan_out(["a", "b", "c"])
    spans = receiver.spans()
    root = next(s for s in spans if s["name"] == "fan_out")
    children = [s for s in spans if s is not root]
    assert len(children) == 3
    assert {c["parentSpanId"] for c in children} == {root["spanId"]}
    assert len({c["spanId"] for c in children}) == 3
    assert {c["traceId"] for c in children} == {root["traceId"]}


async def test_nested_flow_and_parent_records_share_one_trace(receiver: Receiver) -> None:
    model = ScriptedModel([{"label": "positive", "confidence": 0.9}, *triage_model()._responses], price=PRICE)  # pyright: ignore[reportPrivateUsage]
    with OtlpExporter(receiver.url) as exporter, stratum.configure(trace_sinks=[exporter]), use_model(model):
        await outer("hi")
    spans = receiver.spans()
    outer_span = next(s for s in spans if s["name"] == "outer")
    inner_span = next(s for s in spans if s["name"] == "triage")
    assert inner_span["parentSpanId"] == outer_span["spanId"]
    assert {s["traceId"] for s in spans} == {outer_span["traceId"]}
    inner_calls = [s for s in spans if s.get("parentSpanId") == inner_span["spanId"]]
    assert sorted(attrs(s)["stratum.function"] for s in inner_calls) == ["classify", "summarize"]


async def test_composed_calls_hang_under_their_parent_record(receiver: Receiver) -> None:
    """Composition primitives set `parent_id` and `meta`; the exporter nests and labels them."""
    model = ScriptedModel([{"label": "positive", "confidence": 0.9}] * 3)

    @stratum.flow
    async def composed() -> None:
        await classify(text="lead")
        lead = stratum.trace.records()[-1]
        with _context.under_record(lead.record_id):
            for branch in range(2):
                await run_attempts(classify.spec, {"text": f"b{branch}"}, model, meta={"kind": "parallel", "group": "g1", "branch": branch})

    with OtlpExporter(receiver.url) as exporter, stratum.configure(trace_sinks=[exporter]), use_model(model):
        await composed()
    records = stratum.trace.records()
    spans = {attrs(s).get("stratum.record_id"): s for s in receiver.spans()}
    lead, *branches = records
    assert len(branches) == 2
    for branch_number, record in enumerate(branches):
        span = spans[record.record_id]
        assert span["parentSpanId"] == spans[lead.record_id]["spanId"]
        a = attrs(span)
        assert (a["stratum.kind"], a["stratum.group"], a["stratum.branch"]) == ("parallel", "g1", branch_number)
        assert a["stratum.parent_id"] == lead.record_id


async def test_failed_call_span_has_error_status(receiver: Receiver) -> None:
    model = ScriptedModel([Reply({"label": "negative", "confidence": 0.1}, usage=(10, 5))] * 3)
    with OtlpExporter(receiver.url) as exporter, stratum.configure(trace_sinks=[exporter]), use_model(model):
        with pytest.raises(stratum.PostconditionFailed):
            await classify(text="meh")
    [span] = receiver.spans()
    assert span["status"]["code"] == 2 and "ensure failed" in span["status"]["message"]
    assert attrs(span)["error.type"] == "PostconditionFailed"
    assert "parentSpanId" not in span  # outside any flow: its own trace
    assert span["traceId"] == trace_id(stratum.trace.records()[0].record_id)
    assert [attrs(e)["stratum.outcome"] for e in span["events"]] == ["violation"] * 3


async def test_retries_with_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.statuses = [503, 429]
    with OtlpExporter(receiver.url, backoff=0.01, batch_size=1000) as exporter, stratum.configure(trace_sinks=[exporter]):
        await run_triage()
        exporter.flush()
        assert exporter.dropped == 0
    assert len(receiver.spans()) == 3
    assert len(receiver.paths) >= 3  # two refused attempts, then the accepted ones


async def test_rejected_batches_are_dropped_and_counted(receiver: Receiver) -> None:
    receiver.statuses = [400] * 10
    exporter = OtlpExporter(receiver.url, backoff=0.01, batch_size=1000)
    with stratum.configure(trace_sinks=[exporter]):
        run = await run_triage()
    exporter.close()
    assert run.records[-1].status == "ok"
    assert exporter.dropped == 3 and exporter.last_error is not None and "HTTP 400" in exporter.last_error


async def test_dead_collector_never_breaks_a_call() -> None:
    exporter = OtlpExporter("http://127.0.0.1:9", max_retries=1, backoff=0.01, timeout=0.5)
    with stratum.configure(trace_sinks=[exporter]):
        run = await run_triage()
    exporter.close()
    assert run.records[-1].status == "ok"
    assert exporter.dropped == 3


async def test_a_hanging_collector_does_not_hold_the_call(receiver: Receiver) -> None:
    receiver.hold.clear()  # the collector accepts the connection and then sits on it
    exporter = OtlpExporter(receiver.url)
    with stratum.configure(trace_sinks=[exporter]):
        run = await run_triage()
        await run_triage()
    assert run.records[-1].status == "ok"  # both flows finished while the collector hung
    assert receiver.spans() == []
    receiver.hold.set()
    exporter.close()
    assert len(receiver.spans()) == 6


async def test_content_is_exported_only_when_asked(receiver: Receiver) -> None:
    with OtlpExporter(receiver.url, redact="none") as exporter, stratum.configure(trace_sinks=[exporter]):
        await run_triage("love it")
    a = attrs(by_name(receiver.spans())["classify"])
    assert json.loads(a["stratum.inputs"]) == {"text": "love it"}
    assert json.loads(a["stratum.output"]) == {"label": "positive", "confidence": 0.9}
    receiver.requests.clear()
    with OtlpExporter(receiver.url, redact="hash") as exporter, stratum.configure(trace_sinks=[exporter]):
        await run_triage("love it")
    hashed = attrs(by_name(receiver.spans())["classify"])
    assert hashed["stratum.inputs"].startswith("sha256:") and "love it" not in json.dumps(receiver.requests)


async def test_endpoint_and_headers_from_the_standard_env_vars(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc%20123, x-scope = tenant-1 ,junk")
    with OtlpExporter(headers={"x-scope": "mine"}) as exporter, stratum.configure(trace_sinks=[exporter]):
        await run_triage()
    assert exporter.url == receiver.url + "/v1/traces"
    assert set(receiver.paths) == {"/v1/traces"}
    sent = {k.lower(): v for k, v in receiver.headers[0].items()}
    assert sent["x-honeycomb-team"] == "abc 123"
    assert sent["x-scope"] == "mine"  # the argument wins over the env
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url + "/custom/traces")
    with OtlpExporter() as signal:
        assert signal.url == receiver.url + "/custom/traces"  # the signal-specific URL is used as is
    with OtlpExporter("http://127.0.0.1:4318") as explicit:
        assert explicit.url == "http://127.0.0.1:4318/v1/traces"  # an explicit endpoint wins
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    with OtlpExporter() as default:
        assert default.url == "http://localhost:4318/v1/traces"
