"""Streaming: client CPU per streamed typed call, and time to the first partial.

Against the fake streaming server (`fake_sse_server.py`, its own process on 127.0.0.1, so
`time.process_time()` here is the client's CPU only), in the same run, alternating:

- **raw**: a plain `httpx2.AsyncClient` streaming `POST /chat/completions`, reading the SSE
  with `httpx2.EventSource`, `json.loads` of every event, the content joined, and the final
  JSON validated with `Model.model_validate_json`: the floor;
- **stratum result**: `async with locate.stream(...) as s: await s.result()`;
- **stratum partials**: the same, iterating every partial result first (`async for p in s`).

The Stratum side runs with the trace on (in-memory sink) and a budget on (`Budget(ms=...,
usd=...)` with a configured price): reserve, live metering, settle on every call.

Time to first partial: the server writes the first content event (`{"city":"Paris",`, one
complete field) at once and the rest 20 ms later. Per call, raw measures request start →
first content event parsed; Stratum measures `stream(...)` entered → first partial yielded.
Both read their stream to the end, so both send every request on a warm pooled connection
(leaving a stream early closes its connection: the next call would pay a TCP connect).

Usage:
    PYTHONPATH=src python benchmarks/streaming_overhead.py [--rounds 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
from pydantic import BaseModel

import stratum
from stratum import Budget, contract, infer
from stratum.pricing import Price
from stratum.providers import OpenAI


@contract
class City:
    city: str
    country: str
    population: int


class RawCity(BaseModel):
    city: str
    country: str
    population: int


def start_server(latency_ms: float, gap_ms: float = 0.0, deltas: int = 12) -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("fake_sse_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--latency-ms", str(latency_ms), "--gap-ms", str(gap_ms), "--deltas", str(deltas)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


async def run_workers(calls: int, concurrency: int, one: Callable[[], Awaitable[object]]) -> None:
    per_worker, extra = divmod(calls, concurrency)

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    await asyncio.gather(*(worker(per_worker + (1 if i < extra else 0)) for i in range(concurrency)))


BODY = {
    "model": "bench-model",
    "messages": [{"role": "system", "content": "Name the city."}, {"role": "user", "content": "hint: romantic"}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "City", "schema": City.model_json_schema()}},
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def raw_call(client: httpx2.AsyncClient, base_url: str, first: list[float] | None = None) -> RawCity:
    started = time.perf_counter()
    parts: list[str] = []
    async with client.stream("POST", f"{base_url}/chat/completions", json=BODY, timeout=30) as response:
        response.raise_for_status()
        async for sse in httpx2.EventSource(response):  # read to the end: the connection is reused
            if sse.data.startswith("[DONE]"):
                continue
            chunk = json.loads(sse.data)
            choices = chunk.get("choices") or []
            if choices:
                content = choices[0].get("delta", {}).get("content")
                if content:
                    if first is not None and not parts:
                        first.append(time.perf_counter() - started)
                    parts.append(content)
    return RawCity.model_validate_json("".join(parts))


def raw_round(base_url: str, calls: int, concurrency: int) -> float:
    async def main() -> float:
        async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-bench"}) as client:
            await run_workers(max(concurrency, 50), concurrency, lambda: raw_call(client, base_url))  # warm-up
            start = time.process_time()
            await run_workers(calls, concurrency, lambda: raw_call(client, base_url))
            return (time.process_time() - start) / calls

    return asyncio.run(main())


def _locate(provider: OpenAI) -> tuple[Callable[..., object], dict[str, object]]:
    @infer("Name the city.", model="bench:bench-model", budget=Budget(ms=60_000, usd=100))
    def locate(hint: str) -> City: ...

    return locate, {"providers": {"bench": provider}, "prices": {"bench:bench-model": Price(1, 2)}}


def stratum_round(base_url: str, calls: int, concurrency: int, *, partials: bool) -> float:
    provider = OpenAI(base_url=base_url, api_key="sk-bench")
    locate, settings = _locate(provider)

    async def one() -> City:
        async with locate.stream("romantic") as s:  # type: ignore[attr-defined]
            if partials:
                async for _ in s:
                    pass
            return await s.result()

    async def main() -> float:
        with stratum.configure(**settings):  # type: ignore[arg-type]
            await run_workers(max(concurrency, 50), concurrency, one)  # warm-up
            stratum.trace.clear()
            start = time.process_time()
            await run_workers(calls, concurrency, one)
            elapsed = (time.process_time() - start) / calls
            records = stratum.trace.records()
            assert records and all(r.status == "ok" for r in records[-10:])
            stratum.trace.clear()
            return elapsed

    return asyncio.run(main())


def first_partial(base_url: str, calls: int) -> tuple[list[float], list[float]]:
    """Seconds to the first content event (raw) and to the first partial (Stratum), per call."""
    provider = OpenAI(base_url=base_url, api_key="sk-bench")
    locate, settings = _locate(provider)

    async def main() -> tuple[list[float], list[float]]:
        raw: list[float] = []
        ours: list[float] = []
        async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-bench"}) as client:
            with stratum.configure(**settings):  # type: ignore[arg-type]
                for index in range(calls + 10):
                    sink: list[float] = []
                    await raw_call(client, base_url, sink)
                    started = time.perf_counter()
                    took = 0.0
                    async with locate.stream("romantic") as s:  # type: ignore[attr-defined]
                        async for partial in s:  # read to the end, as raw does: the connection is reused
                            if not took:
                                took = time.perf_counter() - started
                                assert partial.city == "Paris"
                    if index >= 10:  # after a warm-up
                        raw.append(sink[0])
                        ours.append(took)
                stratum.trace.clear()
        return raw, ours

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of calls")
    args = parser.parse_args()
    cases = [(1, 0.0, 2000), (100, 50.0, 5000)]
    print(f"{'c':>4} {'latency':>8} {'calls':>6} {'raw ms':>8} {'result ms':>10} {'ratio':>6} {'partials ms':>12} {'ratio':>6}")
    for concurrency, latency, calls in cases:
        calls = max(int(calls * args.scale), concurrency)
        proc, base_url = start_server(latency)
        try:
            raw: list[float] = []
            result: list[float] = []
            partials: list[float] = []
            for _ in range(args.rounds):
                raw.append(raw_round(base_url, calls, concurrency))
                result.append(stratum_round(base_url, calls, concurrency, partials=False))
                partials.append(stratum_round(base_url, calls, concurrency, partials=True))
        finally:
            proc.terminate()
            proc.wait()
        r, s, p = min(raw), min(result), min(partials)
        print(
            f"{concurrency:>4} {latency:>6.0f}ms {calls:>6} {r * 1000:>8.3f} {s * 1000:>10.3f} {s / r:>6.2f} "
            f"{p * 1000:>12.3f} {p / r:>6.2f}"
        )
    proc, base_url = start_server(0.0, gap_ms=20.0)
    try:
        raw_first, our_first = first_partial(base_url, max(int(200 * args.scale), 20))
    finally:
        proc.terminate()
        proc.wait()
    gaps = [o - r for o, r in zip(our_first, raw_first, strict=True)]
    print(
        f"time to first: raw first content event median {statistics.median(raw_first) * 1000:.3f} ms, "
        f"Stratum first partial median {statistics.median(our_first) * 1000:.3f} ms, "
        f"difference median {statistics.median(gaps) * 1000:.3f} ms (p90 "
        f"{sorted(gaps)[int(len(gaps) * 0.9)] * 1000:.3f} ms)"
    )


if __name__ == "__main__":
    main()
