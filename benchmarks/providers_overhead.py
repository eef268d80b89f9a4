"""Client CPU per typed call: `@infer` through `OpenAI(base_url=...)` vs a raw httpx2 POST.

The fake OpenAI-compatible server (`fake_openai_server.py`) runs in its own process on
127.0.0.1, so `time.process_time()` of this process is the client's CPU only. Both sides make
the same number of calls at the same concurrency, in the same run, alternating, best of
`--rounds`. The Stratum side runs with trace (the default in-memory sink) and a budget on
(`Budget(ms=..., usd=...)` with a configured price), i.e. reserve/settle on every call.

Usage:
    PYTHONPATH=src python benchmarks/providers_overhead.py [--rounds 3] [--scale 1.0]
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


def start_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("fake_openai_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True
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


def raw_round(base_url: str, calls: int, concurrency: int) -> float:
    """A plain httpx2.AsyncClient (default settings) POST + model_validate_json: the floor."""

    async def main() -> float:
        async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-bench"}) as client:
            body = {
                "model": "bench-model",
                "messages": [{"role": "system", "content": "Name the city."}, {"role": "user", "content": "hint: romantic"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "City", "schema": City.model_json_schema()}},
            }

            async def one() -> RawCity:
                response = await client.post(f"{base_url}/chat/completions", json=body, timeout=30)
                response.raise_for_status()
                return RawCity.model_validate_json(response.json()["choices"][0]["message"]["content"])

            await run_workers(max(concurrency, 50), concurrency, one)  # warm-up
            start = time.process_time()
            await run_workers(calls, concurrency, one)
            return (time.process_time() - start) / calls

    return asyncio.run(main())


def stratum_round(base_url: str, calls: int, concurrency: int) -> float:
    provider = OpenAI(base_url=base_url, api_key="sk-bench")

    @infer("Name the city.", model="bench:bench-model", budget=Budget(ms=60_000, usd=100))
    def locate(hint: str) -> City: ...

    async def main() -> float:
        with stratum.configure(providers={"bench": provider}, prices={"bench:bench-model": Price(1, 2)}):
            await run_workers(max(concurrency, 50), concurrency, lambda: locate("romantic"))  # warm-up
            stratum.trace.clear()
            start = time.process_time()
            await run_workers(calls, concurrency, lambda: locate("romantic"))
            elapsed = (time.process_time() - start) / calls
            records = stratum.trace.records()
            assert len(records) >= min(calls, 1000) and all(r.status == "ok" for r in records[-10:])
            stratum.trace.clear()
            return elapsed

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of calls")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 100, 1000], help="which cases to run")
    args = parser.parse_args()
    cases = [c for c in [(1, 0.0, 2000), (100, 50.0, 5000), (1000, 50.0, 10000)] if c[0] in args.concurrency]
    rows: list[dict[str, float]] = []
    for concurrency, latency, calls in cases:
        calls = max(int(calls * args.scale), concurrency)
        proc, base_url = start_server(latency)
        try:
            raw: list[float] = []
            ours: list[float] = []
            for _ in range(args.rounds):
                raw.append(raw_round(base_url, calls, concurrency))
                ours.append(stratum_round(base_url, calls, concurrency))
        finally:
            proc.terminate()
            proc.wait()
        r, s = min(raw), min(ours)
        rows.append({"c": concurrency, "latency_ms": latency, "calls": calls, "raw_ms": r * 1000, "stratum_ms": s * 1000,
                     "ratio": s / r, "raw_median_ms": statistics.median(raw) * 1000, "stratum_median_ms": statistics.median(ours) * 1000})
    if args.json:
        print(json.dumps(rows, indent=1))
    print(f"{'c':>5} {'latency':>8} {'calls':>6} {'raw ms/call':>12} {'stratum ms/call':>16} {'ratio':>6}")
    for row in rows:
        print(f"{row['c']:>5.0f} {row['latency_ms']:>6.0f}ms {row['calls']:>6.0f} {row['raw_ms']:>12.3f} {row['stratum_ms']:>16.3f} {row['ratio']:>6.2f}")


if __name__ == "__main__":
    main()
