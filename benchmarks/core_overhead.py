"""Runtime cost per `@infer` call vs pydantic-ai's FunctionModel doing the same validated call.

Both sides run in this process, on the same event loop, with no network: Stratum on a
`ScriptedModel` (trace and budget on: every call runs inside a `@flow(budget=Budget(usd=...))`
and leaves a TraceRecord), pydantic-ai on `FunctionModel` returning the same JSON as its output
tool. Two paths: success (one attempt) and one retry (the first answer fails a postcondition).

Run:  python benchmarks/core_overhead.py [--calls 2000]
(needs `pip install -r benchmarks/requirements.txt` for the peer)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from stratum import Budget, contract, flow, infer
from stratum.pricing import Price
from stratum.testing import Reply, ScriptedModel, use_model

GOOD = {"label": "positive", "confidence": 0.93, "reasoning": "Clear praise for the product."}
BAD = {"label": "positive", "confidence": 0.42, "reasoning": "Could be sarcasm."}


@contract
class Sentiment:
    label: Literal["positive", "negative", "neutral"]
    confidence: Annotated[float, Field(ge=0, le=1)]
    reasoning: str


@infer("Classify the tone of customer feedback", ensure=lambda r: r.confidence > 0.7, retries=2, max_tokens=200)
def classify(text: str) -> Sentiment: ...


@flow(budget=Budget(usd=1000, tokens=10**12))
async def one_call(text: str) -> Sentiment:
    return await classify(text=text)


async def _measure(run_one: Callable[[int], Awaitable[Any]], calls: int) -> float:
    """CPU seconds per call (process time), after a warm-up."""
    for i in range(min(200, calls)):
        await run_one(i)
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for i in range(calls):
            await run_one(i)
        return (time.process_time() - start) / calls
    finally:
        gc.enable()


def stratum_runner(retry: bool, calls: int) -> Callable[[int], Awaitable[Any]]:
    script: list[Any] = []
    for _ in range(calls + 200):
        if retry:
            script.append(Reply(BAD, usage=(60, 20)))
        script.append(Reply(GOOD, usage=(60, 20)))
    model = ScriptedModel(script, price=Price("0.40", "1.60"))

    async def run_one(i: int) -> Any:
        with use_model(model):
            return await one_call(text=f"I love it #{i}")

    return run_one


def pydantic_ai_runner(retry: bool) -> Callable[[int], Awaitable[Any]] | None:
    try:
        from pydantic_ai import Agent, ModelRetry, RunContext
        from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
        from pydantic_ai.models.function import AgentInfo, FunctionModel
    except ImportError:
        return None

    class PSentiment(BaseModel):
        label: Literal["positive", "negative", "neutral"]
        confidence: Annotated[float, Field(ge=0, le=1)]
        reasoning: str

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        attempt = sum(1 for m in messages if isinstance(m, ModelResponse))
        payload = BAD if retry and attempt == 0 else GOOD
        tool = info.output_tools[0].name
        return ModelResponse(parts=[ToolCallPart(tool, json.dumps(payload))])

    agent = Agent(FunctionModel(answer), output_type=PSentiment, retries=2, instructions="Classify the tone")

    @agent.output_validator
    def confident(ctx: RunContext[None], value: PSentiment) -> PSentiment:
        if value.confidence <= 0.7:
            raise ModelRetry(f"confidence must be > 0.7, got {value.confidence}")
        return value

    async def run_one(i: int) -> Any:
        return (await agent.run(f"I love it #{i}")).output

    return run_one


async def main(calls: int, repeats: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path, retry in (("success", False), ("one retry", True)):
        ours: list[float] = []
        peer: list[float] = []
        for _ in range(repeats):
            ours.append(await _measure(stratum_runner(retry, calls), calls))
            runner = pydantic_ai_runner(retry)
            if runner is not None:
                peer.append(await _measure(runner, calls))
        row: dict[str, Any] = {"path": path, "stratum_us": statistics.median(ours) * 1e6}
        if peer:
            row["peer_us"] = statistics.median(peer) * 1e6
            row["ratio"] = row["stratum_us"] / row["peer_us"]
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(main(args.calls, args.repeats))
    print(f"{'path':<10} {'stratum µs/call':>16} {'pydantic-ai µs/call':>20} {'ratio':>7}")
    for r in results:
        peer = f"{r['peer_us']:.1f}" if "peer_us" in r else "n/a"
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else "n/a"
        print(f"{r['path']:<10} {r['stratum_us']:>16.1f} {peer:>20} {ratio:>7}")
