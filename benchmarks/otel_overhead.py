"""What the OpenTelemetry hooks cost a call: off (no provider) and on (SDK provider).

Runs the same `@infer` flow on a `ScriptedModel` (no network, no provider latency, so Stratum's
own CPU is all there is) three ways in one process, alternating, best of `--rounds`:

- `off`: opentelemetry-api installed, no TracerProvider/MeterProvider set (the hooks return
  None after one type check);
- `on`: the OpenTelemetry SDK with a span processor that drops spans and a MeterProvider with
  no reader (span creation and attribute setting are what is measured, not an exporter);

and reports each as microseconds of CPU per call and the ratio on/off. It also times the
off-state hook itself (`start_flow`/`start_call`/`start_attempt` returning None) against an empty
function call, in nanoseconds.

Usage:
    PYTHONPATH=src python benchmarks/otel_overhead.py [--rounds 5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import time
import timeit

import anyio
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util._once import Once

import stratum
from stratum import contract, flow, infer
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import _otel


@contract
class Answer:
    value: int


@infer("Answer")
def answer(question: str) -> Answer: ...


@flow
async def ask(n: int) -> int:
    return (await answer(question=str(n))).value


class Drop(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def set_providers(on: bool) -> None:
    otel_trace._TRACER_PROVIDER_SET_ONCE = Once()  # pyright: ignore[reportPrivateUsage]
    otel_trace._TRACER_PROVIDER = None  # pyright: ignore[reportPrivateUsage]
    from opentelemetry.metrics import _internal as metrics_internal

    metrics_internal._METER_PROVIDER_SET_ONCE = Once()  # pyright: ignore[reportPrivateUsage]
    metrics_internal._METER_PROVIDER = None  # pyright: ignore[reportPrivateUsage]
    if on:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        otel_trace.set_tracer_provider(provider)
        otel_metrics.set_meter_provider(MeterProvider())


def one_round(calls: int) -> float:
    model = ScriptedModel([Reply({"value": 1}, usage=(10, 2))] * (calls + 50))

    async def main() -> float:
        with use_model(model), stratum.trace.capture(maxlen=10):
            for i in range(50):
                await ask(i)
            start = time.process_time()
            for i in range(calls):
                await ask(i)
            return time.process_time() - start

    return anyio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    off: list[float] = []
    on: list[float] = []
    for _ in range(args.rounds):
        set_providers(False)
        off.append(one_round(args.calls))
        set_providers(True)
        on.append(one_round(args.calls))
    set_providers(False)
    best_off, best_on = min(off) / args.calls * 1e6, min(on) / args.calls * 1e6
    print(f"flow + @infer on ScriptedModel, {args.calls} calls, best of {args.rounds}:")
    print(f"  otel off (no provider): {best_off:8.1f} us CPU per call")
    print(f"  otel on  (SDK):         {best_on:8.1f} us CPU per call  (ratio on/off {best_on / best_off:.2f})")

    def empty() -> None:
        return None

    from stratum._runtime.model import CallSpec, Message

    call = CallSpec(model="gpt-4o", messages=(Message(role="user", content="hi"),))

    def hooks() -> None:
        # What one flow with one @infer call runs while OpenTelemetry is off.
        _otel.start_flow("ask", "fid")
        _otel.start_call("answer", "", "rid")
        _otel.start_attempt(call, "openai")

    n = 200_000
    base = min(timeit.repeat(empty, number=n, repeat=5)) / n * 1e9
    three = min(timeit.repeat(hooks, number=n, repeat=5)) / n * 1e9 - base
    print(
        f"off-state hooks of one flow + one call (start_flow, start_call, start_attempt): {three:.0f} ns "
        f"= {three / 1000 / best_off:.2%} of the off-state call (an empty function call: {base:.0f} ns)"
    )


if __name__ == "__main__":
    main()
