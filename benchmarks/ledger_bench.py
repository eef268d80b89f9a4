"""One budget for many processes: a Redis ledger against the local envelope, in the same run.

    python benchmarks/ledger_bench.py [--workers 8] [--calls 200] [--latency-ms 20] [--repeats 2]

Starts a private `redis-server` and the loopback fake OpenAI server (`fake_openai_server.py`,
its own process), then:

1. Cost: `--workers` processes each run one `@flow` with `--calls` concurrent `@infer` calls
   (`parallel(..., require=0)`), first under a local `Budget(usd=...)`, then under the same
   budget shared through the Redis ledger (a limit nobody reaches), interleaved `--repeats`
   times. Each worker measures its client CPU (`time.process_time`) and wall time around the
   flow only (imports, connection warm-up and the Redis script cache excluded) and the median
   call duration from its trace records. Reported: throughput, CPU per call, the ratio
   ledger/local (target <= 1.3), and the latency the Redis round-trips add per call.
2. Cap: the same workers share one ledger envelope with a limit worth about half the calls;
   one worker is SIGKILLed mid-run. Reported: spent vs limit (overspend must be exactly 0),
   calls admitted and refused, and the reservations left open right after the run and once
   the lease (2 s) has run out (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

PRICE_IN, PRICE_OUT = Decimal(1), Decimal(4)  # USD per Mtok; a call costs 60 in + 14 out tokens
LEASE = 2.0


# -- worker ----------------------------------------------------------------------------------


async def worker(args: argparse.Namespace) -> None:
    import stratum
    from stratum import Budget, Success, contract, flow, infer, parallel
    from stratum.exceptions import BudgetExceeded
    from stratum.ledger import RedisLedger
    from stratum.pricing import Price
    from stratum.providers import OpenAICompatible

    @contract
    class City:
        city: str
        country: str
        population: int

    provider = OpenAICompatible(
        f"http://127.0.0.1:{args.port}/v1", price=Price(PRICE_IN, PRICE_OUT), max_concurrency=args.calls
    )
    stratum.configure(providers={"fake": provider})

    @infer("Name the city", model="fake:bench-model", max_tokens=50, retries=0)
    def city(q: str) -> City: ...

    ledger = RedisLedger(args.redis, lease=LEASE) if args.mode != "local" else None

    def budget(key: str, usd: str) -> Budget:
        if ledger is None:
            return Budget(usd=usd)
        return Budget(usd=usd, ledger=ledger, key=key)

    async def job(b: Budget, n: int) -> list[object]:
        @flow(budget=b)
        async def run() -> list[object]:
            return list(await parallel(*(city(q=f"q{i}") for i in range(n)), require=0))

        return await run()

    # Warm-up on a throwaway envelope: connections, the Redis script cache, pricing lookups.
    await job(budget(f"warm-{uuid.uuid4().hex}", "100"), min(args.calls, 50))
    if args.sequential:
        # One call at a time: the median duration carries the ledger's round-trips, no queueing.
        @flow(budget=budget(f"seq-{uuid.uuid4().hex}", "100"))
        async def one_by_one() -> None:
            for i in range(args.calls):
                await city(q=f"s{i}")

        stratum.trace.clear()
        await one_by_one()
        durations = [r.duration_ms for r in stratum.trace.records() if r.function.endswith("city")]
        print(json.dumps({"p50_ms": statistics.median(durations)}), flush=True)
        return
    stratum.trace.clear()
    print("ready", flush=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = await job(budget(args.key, args.usd), args.calls)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    records = [r for r in stratum.trace.records() if r.function.endswith("city")]
    ok = [r for r in records if r.status == "ok"]
    refused = sum(1 for r in results if not isinstance(r, Success) and isinstance(r.error, BudgetExceeded))  # type: ignore[attr-defined]
    spent = sum((r.cost_usd or Decimal(0)) for r in records)
    print(json.dumps({
        "calls": len(results), "ok": len(ok), "refused": refused, "cpu_s": cpu, "wall_s": wall,
        "p50_ms": statistics.median(r.duration_ms for r in ok) if ok else None, "spent": str(spent),
    }), flush=True)
    if ledger is not None:
        await ledger.aclose()
    await provider.aclose()


# -- driver ----------------------------------------------------------------------------------


def spawn(mode: str, args: argparse.Namespace, port: int, redis: str, key: str, usd: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--worker", "--mode", mode, "--port", str(port), "--redis", redis,
           "--key", key, "--usd", usd, "--calls", str(args.calls)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def wait_ready(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"worker did not start: {line!r}")


def collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for p in procs:
        stdout, _ = p.communicate(timeout=600)
        if p.returncode == 0:
            out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def cost_round(mode: str, args: argparse.Namespace, port: int, redis: str) -> dict[str, float]:
    key = f"cost-{uuid.uuid4().hex}"
    procs = [spawn(mode, args, port, redis, key, "1000") for _ in range(args.workers)]
    wait_ready(procs)  # every worker warmed up: start timing them together
    rows = collect(procs)
    calls = sum(int(r["calls"]) for r in rows)  # type: ignore[arg-type]
    return {
        "calls": calls,
        "ok": sum(int(r["ok"]) for r in rows),  # type: ignore[arg-type]
        "cpu_us_per_call": sum(float(r["cpu_s"]) for r in rows) / calls * 1e6,  # type: ignore[arg-type]
        "throughput": calls / max(float(r["wall_s"]) for r in rows),  # type: ignore[arg-type]
        "p50_ms": statistics.median(float(r["p50_ms"]) for r in rows),  # type: ignore[arg-type]
    }


async def ledger_state(redis: str, key: str) -> tuple[object, object]:
    from stratum.ledger import RedisLedger

    ledger = RedisLedger(redis)
    state = await ledger.state(key)
    await ledger.aclose()
    return state, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--mode", default="ledger")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis", default="")
    parser.add_argument("--key", default="bench")
    parser.add_argument("--usd", default="1000")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sequential", action="store_true", help="(worker) one call at a time")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args))
        return

    from tests.ledger._redis_server import redis_server

    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "fake_openai_server.py"), "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert fake.stdout is not None
        port = int(fake.stdout.readline())
        with redis_server() as redis:
            print(f"{args.workers} processes x {args.calls} concurrent calls, fake latency {args.latency_ms:g} ms, "
                  f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
            rounds: dict[str, list[dict[str, float]]] = {"local": [], "ledger": []}
            for _ in range(args.repeats):
                for mode in ("local", "ledger"):
                    rounds[mode].append(cost_round(mode, args, port, redis))
            best = {m: min(rs, key=lambda r: r["cpu_us_per_call"]) for m, rs in rounds.items()}
            sequential: dict[str, float] = {}
            for mode in ("local", "ledger", "local", "ledger"):
                cmd = [sys.executable, __file__, "--worker", "--sequential", "--mode", mode, "--port", str(port),
                       "--redis", redis, "--calls", "200"]
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout
                p50 = float(json.loads(out.strip().splitlines()[-1])["p50_ms"])
                sequential[mode] = min(sequential.get(mode, p50), p50)
            print(f"\n{'envelope':10} {'calls':>6} {'ok':>6} {'calls/s':>9} {'CPU us/call':>12} {'p50 ms':>8}")
            for mode, r in best.items():
                print(f"{mode:10} {r['calls']:6.0f} {r['ok']:6.0f} {r['throughput']:9.0f} "
                      f"{r['cpu_us_per_call']:12.0f} {r['p50_ms']:8.1f}")
            print(f"ledger/local client CPU per call: {best['ledger']['cpu_us_per_call'] / best['local']['cpu_us_per_call']:.2f}x"
                  " (target <= 1.3)")
            print(f"under load, p50 call duration {best['local']['p50_ms']:.0f} ms local vs {best['ledger']['p50_ms']:.0f} ms "
                  f"ledger; throughput ratio {best['ledger']['throughput'] / best['local']['throughput']:.2f}")
            print(f"one call at a time (no queueing), p50: {sequential['local']:.2f} ms local, "
                  f"{sequential['ledger']:.2f} ms ledger: the Redis round-trips add "
                  f"{sequential['ledger'] - sequential['local']:+.2f} ms per call")

            # -- the cap, with a worker killed mid-run ------------------------------------------
            key = f"cap-{uuid.uuid4().hex}"
            per_call = (60 * PRICE_IN + 14 * PRICE_OUT) / 10**6
            limit = (per_call * args.workers * args.calls / 2).quantize(Decimal("0.000001"))
            procs = [spawn("ledger", args, port, redis, key, str(limit)) for _ in range(args.workers)]
            wait_ready(procs)
            time.sleep(0.05 + args.latency_ms / 1000)
            procs[0].send_signal(signal.SIGKILL)
            rows = collect(procs)
            state, _ = asyncio.run(ledger_state(redis, key))
            time.sleep(LEASE + 0.5)
            after, _ = asyncio.run(ledger_state(redis, key))
            spent = after.spent_usd  # type: ignore[attr-defined]
            print(f"\ncap run: limit ${limit}, {len(rows)} workers finished, 1 SIGKILLed mid-run")
            print(f"  calls admitted (survivors) {sum(int(r['ok']) for r in rows)}, refused "  # type: ignore[arg-type]
                  f"{sum(int(r['refused']) for r in rows)}")  # type: ignore[arg-type]
            print(f"  spent ${spent} of ${limit}: overspend ${max(spent - limit, Decimal(0))}")
            print(f"  open reservations right after the run: {state.open_reservations} "  # type: ignore[attr-defined]
                  f"(${state.reserved_usd}); after the {LEASE:g} s lease: {after.open_reservations} "  # type: ignore[attr-defined]
                  f"(${after.reserved_usd}, {after.reserved_tokens} tokens)")  # type: ignore[attr-defined]
    finally:
        fake.kill()
        fake.wait()


if __name__ == "__main__":
    main()
