"""The hard promises under load: per fault, deadline overshoot and spend/cap with 500 calls.

Each row starts a `FaultServer` (tests/_servers) misbehaving one way, in its own process, and
fires 500 concurrent `@infer` calls at it through `OpenAICompatible` (default 100 connections,
so 400 calls wait for a slot). Every call has `Budget(ms=1000)` and all of them run inside one
`@flow(budget=Budget(usd=...))`. For the reply faults that cap is $0.10 and binds after ~90
reservations (the spend/cap test). For the deadline faults (slow, drip, stall) it is sized to
admit every call, so all of them reach the provider and 400 really queue for a slot behind
stalled ones (a binding cap refuses ~370 of them upfront, leaving ~130 to time out).

Columns: `ok`/`failed` calls; `over ms` = the worst call's wall time past its own 1 s deadline
(the end as the caller sees it minus its start + 1 s; target ≤ 100 ms; negative = every call
ended before it), with `--repeat N` the median of the N runs' worst and the worst run;
`raw ms` and `floor ms` = the same for raw httpx2 against the same server, run alternately
with Stratum, for the deadline faults only (`asyncio.timeout(1)` around each POST, nothing
else): `raw` is one `AsyncClient` with 100 connections, as a user would write it; `floor` is
Stratum's own pool layout without Stratum (a 100-slot semaphore in front of ten clients of 10
connections), what the event loop and the machine cost before any Stratum work;
`spend/cap` = the flow's spend over its cap (target ≤ 1.00: never overrun); `errors` = the
kinds of error raised (`BudgetExceeded(ms)`: the deadline, `(usd)`: the cap).

Usage:
    PYTHONPATH=src python benchmarks/fault_matrix.py [--calls 500] [--only drip,stall] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests._servers

import anyio  # noqa: E402
import httpx2  # noqa: E402

import stratum  # noqa: E402
from stratum import Budget, flow, infer, trace  # noqa: E402
from stratum.pricing import Price  # noqa: E402
from stratum.providers import OpenAICompatible  # noqa: E402
from tests._servers import Fault, FaultServer, chat_reply  # noqa: E402

DEADLINE_MS = 1000
CAP = Decimal("0.10")
PRICE = Price("10", "10")  # USD per MTok: a call reserves ~$0.0011, so ~90 fit under the cap
GOOD = chat_reply("fine", usage={"prompt_tokens": 60, "completion_tokens": 10})


DEADLINE_FAULTS = ("slow reply (2 s)", "drip body (1 B / 200 ms)", "stall (never answers)")
"""Rows that measure the deadline: the flow's cap admits every call, and the raw floor is run."""


def faults() -> dict[str, list[Fault]]:
    """Fault name -> the answers the server cycles through."""
    return {
        "ok (baseline)": [Fault(json=GOOD)],
        "slow reply (2 s)": [Fault(json=GOOD, delay=2.0)],
        "drip body (1 B / 200 ms)": [Fault(json=GOOD, drip=0.2)],
        "stall (never answers)": [Fault(stall=True)],
        "500 with usage, then 200": [
            Fault(status=500, json={"error": {"message": "busy"}, "usage": {"prompt_tokens": 5000, "completion_tokens": 5000}}),
            Fault(json=GOOD),
        ],
        "negative usage": [Fault(json=chat_reply("x", usage={"prompt_tokens": -100_000, "completion_tokens": 10}))],
        "absurd usage (1e12)": [Fault(json=chat_reply("x", usage={"prompt_tokens": 10, "completion_tokens": 10**12}))],
        "no usage": [Fault(json=chat_reply("fine", no_usage=True))],
        "200 carrying an error": [Fault(json={"error": {"message": "upstream overloaded", "code": 503}})],
        "empty choices": [Fault(json={"id": "x", "choices": []})],
    }


def serve(name: str) -> None:
    """Child process: serve one fault until stdin closes."""
    with FaultServer() as server:
        server.cycle(*faults()[name])
        print(server.url, flush=True)
        sys.stdin.read()


def run_row(url: str, calls: int, cap: Decimal) -> tuple[int, int, float, float, collections.Counter[str]]:
    provider = OpenAICompatible(url + "/v1", name="local", jitter=lambda: 0.0)

    @infer("Say something.", model="local:m", max_tokens=50, retries=0, budget=Budget(ms=DEADLINE_MS))
    def call(n: int) -> str: ...

    durations: list[float] = []
    errors: collections.Counter[str] = collections.Counter()

    @flow(budget=Budget(usd=cap))
    async def burst() -> None:
        async def one(n: int) -> None:
            started = time.monotonic()
            try:
                await call(n=n)
            except stratum.BudgetExceeded as exc:
                errors[f"BudgetExceeded({exc.axis})"] += 1
            except stratum.StratumError as exc:
                errors[type(exc).__name__] += 1
            finally:
                durations.append(time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            for n in range(calls):
                tg.start_soon(one, n)

    trace.clear()
    with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE}):
        stratum.run(burst())
    (record,) = trace.flows()
    spent = record.spent_usd or Decimal(0)
    failed = sum(errors.values())
    over_ms = max(durations) * 1000 - DEADLINE_MS
    return calls - failed, failed, over_ms, float(spent / cap), errors


def run_floor(url: str, calls: int, *, lean: bool) -> float:
    """The same burst through raw httpx2 clients: the worst call's overshoot, in ms.

    `asyncio.timeout(1)` around each POST and JSON decode, the same request body, the same
    anyio task group: no budget, record, retry or trace of Stratum's. Plain (`lean=False`): one
    `httpx2.AsyncClient` with 100 connections, as a user would write it. Lean: Stratum's own
    layout without Stratum (a 100-slot semaphore in front of ten 10-connection clients), the
    cheapest way to run the same requests and cancellations.
    """
    body = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "Say something."}], "max_tokens": 50}
    ).encode()
    target = url + "/v1/chat/completions"
    durations: list[float] = []

    async def burst() -> None:
        shards = 10 if lean else 1
        size = 100 // shards
        limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
        clients = [httpx2.AsyncClient(limits=limits, timeout=600.0) for _ in range(shards)]
        slots = asyncio.Semaphore(100)

        async def post(n: int) -> None:
            response = await clients[n % shards].post(target, content=body)
            json.loads(response.content)

        async def one(n: int) -> None:
            started = time.monotonic()
            try:
                async with asyncio.timeout(DEADLINE_MS / 1000):
                    if lean:
                        async with slots:
                            await post(n)
                    else:
                        await post(n)
            except (TimeoutError, httpx2.HTTPError, ValueError):
                pass
            finally:
                durations.append(time.monotonic() - started)

        try:
            async with anyio.create_task_group() as tg:
                for n in range(calls):
                    tg.start_soon(one, n)
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(burst())
    return max(durations) * 1000 - DEADLINE_MS


def spread(figures: list[float]) -> str:
    """One run's figure, or the median of several runs and the worst."""
    if len(figures) == 1:
        return f"{figures[0]:.0f}"
    return f"{statistics.median(figures):.0f}/{max(figures):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--only", default="")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (median/worst of the overshoots)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    wanted = [n for n in faults() if not args.only or any(part in n for part in args.only.split(","))]
    print(
        f"{args.calls} concurrent calls per fault, Budget(ms={DEADLINE_MS}) each, flow Budget(usd={CAP}) "
        "(deadline faults: a cap that admits every call)\n"
    )
    width = 8 if args.repeat == 1 else 9
    print(
        f"{'fault':<28} {'ok':>5} {'failed':>6} {'over ms':>{width}} {'raw ms':>{width}} {'floor ms':>{width}} "
        f"{'spend/cap':>9}  errors"
    )
    for name in wanted:
        deadline_row = name in DEADLINE_FAULTS
        cap = CAP * max(1, args.calls) if deadline_row else CAP
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        overs: list[float] = []
        raws: list[float] = []
        floors: list[float] = []
        try:
            for _ in range(args.repeat):
                ok, failed, over, ratio, errors = run_row(url, args.calls, cap)
                overs.append(over)
                if deadline_row:
                    raws.append(run_floor(url, args.calls, lean=False))
                    floors.append(run_floor(url, args.calls, lean=True))
        finally:
            child.stdin.close()
            child.wait(20)
        kinds = json.dumps(dict(errors.most_common(3)))[1:-1].replace('"', "")
        raw = spread(raws) if raws else "-"
        floor = spread(floors) if floors else "-"
        print(
            f"{name:<28} {ok:>5} {failed:>6} {spread(overs):>{width}} {raw:>{width}} {floor:>{width}} "
            f"{ratio:>9.2f}  {kinds}"
        )


if __name__ == "__main__":
    main()
