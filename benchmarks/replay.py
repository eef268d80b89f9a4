"""Replay speed: a 1,000-interaction cassette vs the same calls on ScriptedModel.

Both run the full `@infer` loop (prompt compilation, parsing, validation, trace records); the
cassette run also goes through the built-in OpenAI provider (request encoding, the
interceptor, matching, response decoding), which is what a CI replay costs.

    PYTHONPATH=src python benchmarks/replay.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Literal

import httpx2

import stratum
from stratum import contract, infer
from stratum.providers import OpenAI
from stratum.testing import ScriptedModel, block_network, cassette, use_model

N = 1_000


@contract
class Label:
    label: Literal["positive", "negative"]
    confidence: float


@infer("Classify the sentiment", model="openai:gpt-4.1-mini", retries=0)
def classify(text: str) -> Label: ...


def fake(request: httpx2.Request) -> httpx2.Response:
    text = json.loads(request.content)["messages"][-1]["content"]
    content = json.dumps({"label": "positive", "confidence": len(text) / 100})
    return httpx2.Response(200, json={
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 8},
    })  # fmt: skip


async def record(path: Path) -> None:
    provider = OpenAI(api_key="sk-bench-000000000000", transport=httpx2.MockTransport(fake))
    with stratum.configure(providers={"openai": provider}), cassette(path, record_mode="all"):
        for i in range(N):
            await classify(text=f"review number {i}")


async def replay(path: Path) -> tuple[float, float]:
    """(seconds including loading the file, seconds of the calls alone)."""
    with stratum.configure(providers={"openai": OpenAI(api_key="placeholder")}), stratum.trace.capture():
        opened = time.perf_counter()
        with block_network(), cassette(path, allow_unplayed=False):
            started = time.perf_counter()
            for i in range(N):
                await classify(text=f"review number {i}")
            done = time.perf_counter()
        return done - opened, done - started


async def scripted() -> float:
    model = ScriptedModel([{"label": "positive", "confidence": 0.5}] * N)
    with use_model(model), stratum.trace.capture():
        started = time.perf_counter()
        for i in range(N):
            await classify(text=f"review number {i}")
        return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        stratum.run(record(path))
        size = path.stat().st_size
        runs = [stratum.run(replay(path)) for _ in range(3)]
        scripted_s = min(stratum.run(scripted()) for _ in range(3))
    with_load, calls_only = min(r[0] for r in runs), min(r[1] for r in runs)
    print(f"{N} calls; cassette file {size / 1e6:.2f} MB; best of 3")
    print(f"{'double':<28}{'seconds':>10}{'calls/s':>12}{'ms/call':>10}")
    rows = (("cassette (load + replay)", with_load), ("cassette (replay only)", calls_only), ("ScriptedModel", scripted_s))
    for name, seconds in rows:
        print(f"{name:<28}{seconds:>10.3f}{N / seconds:>12.0f}{seconds * 1000 / N:>10.3f}")


if __name__ == "__main__":
    main()
