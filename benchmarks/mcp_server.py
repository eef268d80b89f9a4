"""The MCP server over stdio: step_done latency on a 500-step plan, response sizes, start time.

Run: PYTHONPATH=src python benchmarks/mcp_server.py [--steps 500] [--starts 5]

- `stratum_step_done` p50/p99 over the real stdio transport (the official MCP client), on a
  linear plan of `--steps` steps with a named contract and an ensure on every step; the
  `stratum_status` call between reports is timed too.
- Response sizes of `stratum_plan` and `stratum_audit` for 100 and 500 steps, in bytes and in
  estimated tokens (bytes / 4, and the conservative bytes / 3 the tests assert under 25,000).
- Server start: spawn to `initialize` answered, median of `--starts`; against the floor of the
  same interpreter importing only the MCP SDK's server module, and the import of our server
  module alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


def _plan(n: int) -> dict[str, Any]:
    return {
        "name": f"bench-{n}",
        "contracts": {"Tests": {"type": "object", "properties": {"passed": {"type": "integer"}, "total": {"type": "integer"}}, "required": ["passed", "total"]}},
        "steps": [{"id": f"s{i}", "fn": f"step_{i}", "intent": f"implement part {i} and test it", "output": "Tests",
                   "depends_on": [f"s{i - 1}"] if i else [], "ensure": ["result.passed == result.total"]} for i in range(n)],
        "budget": {"tokens": 10_000_000, "tool_calls": 100_000},
    }


def _params(directory: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "stratum.mcp", "--dir", str(directory)], env=ENV, cwd=str(directory))


async def _run_plan(directory: Path, n: int) -> dict[str, Any]:
    done: list[float] = []
    status: list[float] = []
    sizes: dict[str, int] = {}
    with open(os.devnull, "w") as errlog:
        async with stdio_client(_params(directory), errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            planned = await s.call_tool("stratum_plan", {"plan": _plan(n)})
            assert planned.structured_content is not None
            sizes["stratum_plan"] = len(json.dumps(planned.structured_content, separators=(",", ":")))
            pid = planned.structured_content["plan_id"]
            await s.call_tool("stratum_approve", {"plan_id": pid, "approved_by": "bench"})
            out: Any = None
            for i in range(n):
                t0 = time.perf_counter()
                out = await s.call_tool("stratum_step_done", {"plan_id": pid, "step_id": f"s{i}", "result": {"passed": 3, "total": 3},
                                                              "usage": {"input_tokens": 900, "output_tokens": 300}})
                done.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await s.call_tool("stratum_status", {"plan_id": pid})
                status.append((time.perf_counter() - t0) * 1000)
            assert out is not None and out.structured_content["status"] == "complete", out
            audit = await s.call_tool("stratum_audit", {"plan_id": pid})
            assert audit.structured_content is not None
            sizes["stratum_audit"] = len(json.dumps(audit.structured_content, separators=(",", ":")))
    return {"done": done, "status": status, "sizes": sizes}


async def _start_once(directory: Path) -> float:
    t0 = time.perf_counter()
    with open(os.devnull, "w") as errlog:
        async with stdio_client(_params(directory), errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            elapsed = time.perf_counter() - t0
    return elapsed


def _import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    results: dict[int, dict[str, Any]] = {}
    for n in sorted({100, args.steps}):
        with tempfile.TemporaryDirectory() as tmp:
            results[n] = anyio.run(_run_plan, Path(tmp), n)
    with tempfile.TemporaryDirectory() as tmp:
        starts = [anyio.run(_start_once, Path(tmp)) for _ in range(args.starts)]
    sdk = statistics.median(_import_time("mcp.server.mcpserver") for _ in range(args.starts))
    ours = statistics.median(_import_time("stratum.mcp._server") for _ in range(args.starts))

    big = results[args.steps]
    print(f"{'measure':<48} {'p50':>9} {'p99':>9} {'mean':>9}")
    for name, values in ((f"stratum_step_done ({args.steps}-step plan), ms", big["done"]), ("stratum_status, ms", big["status"])):
        print(f"{name:<48} {statistics.median(values):>9.2f} {_pct(values, 0.99):>9.2f} {statistics.fmean(values):>9.2f}")
    print()
    print(f"{'response':<30} {'steps':>6} {'bytes':>9} {'~tokens (/4)':>13} {'bound (/3)':>11}")
    for n, r in sorted(results.items()):
        for tool, size in r["sizes"].items():
            print(f"{tool:<30} {n:>6} {size:>9,} {size // 4:>13,} {size // 3:>11,}")
    print()
    print(f"server start to initialize answered: median {statistics.median(starts):.3f} s (min {min(starts):.3f})")
    print(f"import stratum.mcp._server: {ours:.3f} s; the MCP SDK's server module alone: {sdk:.3f} s (ratio {ours / sdk:.2f})")


if __name__ == "__main__":
    main()
