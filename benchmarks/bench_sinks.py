"""Per-call cost of each trace sink, relative to the core per-call cost.

Baseline: an `@infer` call on `stratum.testing.ScriptedModel` in this process, with only the
in-memory store. Each variant adds one sink. Two figures per variant:
  * calls:  wall time per call as the caller sees it (the sink's `emit` is on this path);
  * +flush: the same plus waiting for the background writer to finish (its total work,
            which competes with the caller for the GIL in one process).

Run:  PYTHONPATH=src python benchmarks/bench_sinks.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import anyio

import stratum
from stratum import contract, infer
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import JsonlSink, OtlpExporter, SqliteSink, TraceSink


@contract
class Sentiment:
    label: Literal["positive", "negative"]
    confidence: float


@infer("Classify the tone of the feedback", ensure=lambda r: r.confidence > 0.7, retries=1)
def classify(text: str) -> Sentiment: ...


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


async def _calls(n: int, sinks: list[TraceSink], keep: list[Any] | None = None) -> tuple[float, float]:
    model = ScriptedModel([Reply({"label": "positive", "confidence": 0.9}, usage=(120, 20))] * n)
    with stratum.trace.capture(maxlen=n + 10) as store, stratum.configure(trace_sinks=sinks), use_model(model):
        start = time.perf_counter()
        for i in range(n):
            await classify(text=f"feedback number {i}: love it")
        calls = time.perf_counter() - start
        for sink in sinks:
            sink.flush()
        flushed = time.perf_counter() - start
        if keep is not None:
            keep.extend(store.records())
    return calls / n * 1e6, flushed / n * 1e6


def _emit_and_write_cost(make: Callable[[], list[TraceSink]], records: list[Any]) -> tuple[float, float]:
    """Caller-side `emit` cost, and the writer's cost per record run synchronously."""
    sinks = make()
    if not sinks:
        return 0.0, 0.0
    [sink] = sinks if len(sinks) == 1 else sinks[:1]
    start = time.perf_counter()
    for r in records:
        sink.emit(r)
    emit_us = (time.perf_counter() - start) / len(records) * 1e6
    sink.close()
    # The writer's work, run on this thread with a fresh (idle) sink's backend.
    [fresh] = make()[:1]
    backend = fresh._worker._backend  # pyright: ignore[reportAttributeAccessIssue]
    items = [fresh._prepare(r) for r in records]  # pyright: ignore[reportAttributeAccessIssue]
    start = time.perf_counter()
    for i in range(0, len(items), 256):
        backend.write(items[i : i + 256])
    write_us = (time.perf_counter() - start) / len(records) * 1e6
    backend.close()
    fresh.close()
    return emit_us, write_us


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = 5
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counter = iter(range(10**6))
        variants: list[tuple[str, Callable[[], list[TraceSink]]]] = [
            ("memory only (baseline)", list),
            ("+ JsonlSink", lambda: [JsonlSink(root / f"{next(counter)}.jsonl")]),
            ("+ JsonlSink redact=hash", lambda: [JsonlSink(root / f"{next(counter)}.jsonl", redact="hash")]),
            ("+ SqliteSink", lambda: [SqliteSink(root / f"{next(counter)}.db")]),
            ("+ OtlpExporter (local)", lambda: [OtlpExporter(url)]),
            ("+ all three", lambda: [JsonlSink(root / f"{next(counter)}.jsonl"), SqliteSink(root / f"{next(counter)}.db"), OtlpExporter(url)]),
        ]
        anyio.run(_calls, 200, [])  # warm up imports and caches
        best: dict[str, tuple[float, float]] = {}
        dropped: dict[str, int] = {}
        # Interleave variants over rounds and keep each one's best: a shared machine is noisy.
        for _ in range(rounds):
            for name, make in variants:
                sinks = make()
                result = anyio.run(_calls, n, sinks)
                for sink in sinks:
                    sink.close()
                    dropped[name] = dropped.get(name, 0) + getattr(sink, "dropped", 0)
                old = best.get(name)
                best[name] = result if old is None else (min(old[0], result[0]), min(old[1], result[1]))
        records: list[Any] = []
        anyio.run(_calls, 1000, [], records)
        costs = {name: _emit_and_write_cost(make, records) for name, make in variants[:5]}
    server.shutdown()
    base = best[variants[0][0]][0]
    print(f"{n} @infer calls on ScriptedModel (one ensure, 1 attempt each), best of {rounds}, Python {sys.version.split()[0]}")
    print(f"{'variant':26} {'calls us':>9} {'x base':>7} {'+flush us':>10} {'x base':>7} {'emit us':>8} {'writer us/rec':>14}")
    for name, _ in variants:
        calls, flushed = best[name]
        emit_us, write_us = costs.get(name, (float("nan"), float("nan")))
        label = name + (f" [dropped {dropped[name]}]" if dropped.get(name) else "")
        print(f"{label:26} {calls:9.1f} {calls / base:7.2f} {flushed:10.1f} {flushed / base:7.2f} {emit_us:8.2f} {write_us:14.1f}")


if __name__ == "__main__":
    main()
