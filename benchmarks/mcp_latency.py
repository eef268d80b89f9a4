"""MCP tool-call latency over stdio: stratum_step_done on a 100-step plan, and lint speed.

Run: PYTHONPATH=src python benchmarks/mcp_latency.py
"""

from __future__ import annotations

import os
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SRC = str(Path(__file__).resolve().parents[1] / "src")
STEPS = 100


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


async def _step_done_latency(directory: Path) -> tuple[list[float], list[float]]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "stratum.mcp", "--dir", str(directory)],
        env={"PYTHONPATH": SRC}, cwd=str(directory),
    )
    plan = {
        "name": "bench",
        "steps": [
            {"id": f"s{i}", "intent": f"step {i}", "depends_on": [f"s{i - 1}"] if i else [],
             "output": {"type": "object", "properties": {"passed": {"type": "integer"}, "total": {"type": "integer"}}, "required": ["passed", "total"]},
             "ensure": ["result.passed == result.total", "result.total > 0"]}
            for i in range(STEPS)
        ],
        "budget": {"tokens": 10_000_000, "tool_calls": 10_000},
    }
    done: list[float] = []
    status: list[float] = []
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                planned = await session.call_tool("stratum_plan", {"plan": plan})
                assert planned.structured_content is not None
                plan_id = planned.structured_content["plan_id"]
                await session.call_tool("stratum_approve", {"plan_id": plan_id, "approved_by": "bench"})
                for i in range(STEPS):
                    t0 = time.perf_counter()
                    out = await session.call_tool("stratum_step_done", {
                        "plan_id": plan_id, "step_id": f"s{i}", "result": {"passed": 10, "total": 10},
                        "usage": {"input_tokens": 900, "output_tokens": 300},
                    })
                    done.append((time.perf_counter() - t0) * 1000)
                    assert out.structured_content is not None and not out.is_error
                    t0 = time.perf_counter()
                    await session.call_tool("stratum_status", {"plan_id": plan_id})
                    status.append((time.perf_counter() - t0) * 1000)
                assert out.structured_content["status"] == "complete"
    return done, status


def _lint_speed() -> tuple[int, float]:
    from stratum.lint import lint_paths

    # Our source plus the venv's installed packages: a large body of real-world Python.
    roots = [Path(SRC), Path(sysconfig.get_paths()["purelib"])]
    t0 = time.perf_counter()
    report = lint_paths(roots)
    return report.files, time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        done, status = anyio.run(_step_done_latency, Path(tmp))
    files, seconds = _lint_speed()
    print(f"{'measure':<40} {'p50':>9} {'p99':>9} {'mean':>9}")
    for name, values in ((f"stratum_step_done ({STEPS}-step plan), ms", done), ("stratum_status, ms", status)):
        print(f"{name:<40} {statistics.median(values):>9.2f} {_pct(values, 0.99):>9.2f} {statistics.fmean(values):>9.2f}")
    print(f"stratum lint: {files} files in {seconds:.2f} s = {files / seconds:,.0f} files/s")


if __name__ == "__main__":
    main()
