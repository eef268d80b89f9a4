"""Client CPU per tool round: `@infer(tools=[...])` through `OpenAI(base_url=...)` vs the same
exchange written by hand with httpx2.

One call = two requests: the model calls `lookup_order` (round 1), the tool runs, its result
goes back, and the model answers with the contract (round 2). The fake server
(`fake_tool_server.py`) runs in its own process on 127.0.0.1, so `time.process_time()` of
this process is the client's CPU only.

The hand-written side is what a careful user would write without Stratum: one
`httpx2.AsyncClient`, the tool schema written once, arguments validated with a pydantic model
before the function runs, the tool's result appended as a `role: tool` message, the final
answer validated with pydantic. The Stratum side also validates the contract, meters every
round against `Budget(ms=..., usd=...)` (reserve/settle per request), and writes a
`TraceRecord` for the call and one for the tool call. Both sides make the same number of
calls at the same concurrency in the same run, alternating, best of `--rounds`.

Usage:
    PYTHONPATH=src python benchmarks/tools_overhead.py [--rounds 3] [--scale 1.0]
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
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict

import stratum
from stratum import Budget, compute, contract, infer
from stratum.pricing import Price
from stratum.providers import OpenAI

ORDERS = {"A-17": {"status": "shipped", "days_ago": 3}}


@compute
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order.

    Args:
        order_id: The order's id.
    """
    return ORDERS[order_id]


@contract
class Refund:
    order_id: str
    refundable: bool
    reason: str


class RawRefund(BaseModel):
    order_id: str
    refundable: bool
    reason: str


class RawArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str


def start_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("fake_tool_server.py")
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
    """The floor: the same two-request exchange by hand on a plain httpx2.AsyncClient."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Look up an order.",
                "parameters": RawArgs.model_json_schema(),
            },
        }
    ]
    response_format = {"type": "json_schema", "json_schema": {"name": "Refund", "schema": RawRefund.model_json_schema()}}

    async def main() -> float:
        async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-bench"}) as client:

            async def one() -> RawRefund:
                messages: list[dict[str, Any]] = [
                    {"role": "system", "content": "Decide whether the order can be refunded."},
                    {"role": "user", "content": "order_id: A-17"},
                ]
                for _ in range(5):
                    body = {"model": "bench-model", "messages": messages, "tools": tools, "response_format": response_format}
                    response = await client.post(f"{base_url}/chat/completions", json=body, timeout=30)
                    response.raise_for_status()
                    message = response.json()["choices"][0]["message"]
                    calls_made = message.get("tool_calls") or []
                    if not calls_made:
                        return RawRefund.model_validate_json(message["content"])
                    messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls_made})
                    for call in calls_made:
                        args = RawArgs.model_validate_json(call["function"]["arguments"])
                        result = ORDERS[args.order_id]
                        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
                raise RuntimeError("too many rounds")

            await run_workers(max(concurrency, 50), concurrency, one)  # warm-up
            start = time.process_time()
            await run_workers(calls, concurrency, one)
            return (time.process_time() - start) / calls

    return asyncio.run(main())


def stratum_round(base_url: str, calls: int, concurrency: int) -> float:
    provider = OpenAI(base_url=base_url, api_key="sk-bench")

    @infer(
        "Decide whether the order can be refunded.",
        model="bench:bench-model",
        budget=Budget(ms=60_000, usd=100),
        tools=[lookup_order],
    )
    def refund(order_id: str) -> Refund: ...

    async def main() -> float:
        with stratum.configure(providers={"bench": provider}, prices={"bench:bench-model": Price(1, 2)}):
            await run_workers(max(concurrency, 50), concurrency, lambda: refund("A-17"))  # warm-up
            stratum.trace.clear()
            start = time.process_time()
            await run_workers(calls, concurrency, lambda: refund("A-17"))
            elapsed = (time.process_time() - start) / calls
            records = stratum.trace.records()
            calls_ok = [r for r in records if r.function.endswith("refund") and r.status == "ok"]
            tools_ok = [r for r in records if r.function == "lookup_order" and r.status == "ok"]
            assert len(calls_ok) >= min(calls, 500) and len(tools_ok) >= min(calls, 500), (len(calls_ok), len(tools_ok))
            stratum.trace.clear()
            return elapsed

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of calls")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cases = [(1, 0.0, 1000), (100, 50.0, 3000)]
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
        rows.append(
            {
                "c": concurrency,
                "latency_ms": latency,
                "calls": calls,
                # one call is one tool round plus the final answer: two requests
                "raw_ms_per_round": r * 1000 / 2,
                "stratum_ms_per_round": s * 1000 / 2,
                "ratio": s / r,
                "raw_median_ms_per_round": statistics.median(raw) * 1000 / 2,
                "stratum_median_ms_per_round": statistics.median(ours) * 1000 / 2,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
    print(f"{'c':>5} {'latency':>8} {'calls':>6} {'raw ms/round':>13} {'stratum ms/round':>17} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['c']:>5.0f} {row['latency_ms']:>6.0f}ms {row['calls']:>6.0f} {row['raw_ms_per_round']:>13.3f} "
            f"{row['stratum_ms_per_round']:>17.3f} {row['ratio']:>6.2f}"
        )


if __name__ == "__main__":
    main()
