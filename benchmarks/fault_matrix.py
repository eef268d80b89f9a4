"""The hard promises under load: per fault, deadline overshoot and spend/cap with 500 calls.

Each row starts a `FaultServer` (tests/_servers) misbehaving one way, in its own process, and
fires 500 concurrent `@infer` calls at it through `OpenAICompatible` (default 100 connections,
so 400 calls wait for a slot). Every call has `Budget(ms=1000)`; all of them run inside one
`@flow(budget=Budget(usd=CAP))` whose cap binds after ~90 reservations.

Columns: `ok`/`failed` calls; `over ms` = the worst call's wall time past its 1 s deadline
(target ≤ 100 ms; negative = every call ended before it); `spend/cap` = the flow's spend over
its cap (target ≤ 1.00: never overrun); `errors` = the kinds of error raised.

Usage:
    PYTHONPATH=src python benchmarks/fault_matrix.py [--calls 500] [--only drip,stall]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests._servers

import anyio  # noqa: E402

import stratum  # noqa: E402
from stratum import Budget, flow, infer, trace  # noqa: E402
from stratum.pricing import Price  # noqa: E402
from stratum.providers import OpenAICompatible  # noqa: E402
from tests._servers import Fault, FaultServer, chat_reply  # noqa: E402

DEADLINE_MS = 1000
CAP = Decimal("0.10")
PRICE = Price("10", "10")  # USD per MTok: a call reserves ~$0.0011, so ~90 fit under the cap
GOOD = chat_reply("fine", usage={"prompt_tokens": 60, "completion_tokens": 10})


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


def run_row(url: str, calls: int) -> tuple[int, int, float, float, collections.Counter[str]]:
    provider = OpenAICompatible(url + "/v1", name="local", jitter=lambda: 0.0)

    @infer("Say something.", model="local:m", max_tokens=50, retries=0, budget=Budget(ms=DEADLINE_MS))
    def call(n: int) -> str: ...

    durations: list[float] = []
    errors: collections.Counter[str] = collections.Counter()

    @flow(budget=Budget(usd=CAP))
    async def burst() -> None:
        async def one(n: int) -> None:
            started = time.monotonic()
            try:
                await call(n=n)
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
    return calls - failed, failed, over_ms, float(spent / CAP), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--only", default="")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    wanted = [n for n in faults() if not args.only or any(part in n for part in args.only.split(","))]
    print(f"{args.calls} concurrent calls per fault, Budget(ms={DEADLINE_MS}) each, flow Budget(usd={CAP})\n")
    print(f"{'fault':<28} {'ok':>5} {'failed':>6} {'over ms':>8} {'spend/cap':>9}  errors")
    for name in wanted:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        try:
            ok, failed, over, ratio, errors = run_row(url, args.calls)
        finally:
            child.stdin.close()
            child.wait(20)
        kinds = json.dumps(dict(errors.most_common(3)))[1:-1].replace('"', "")
        print(f"{name:<28} {ok:>5} {failed:>6} {over:>8.0f} {ratio:>9.2f}  {kinds}")


if __name__ == "__main__":
    main()
