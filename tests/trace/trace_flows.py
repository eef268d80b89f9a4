"""Shared flows for the trace tests: real `@infer` calls on `ScriptedModel`, never hand-made records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import anyio

import stratum
from stratum import Budget, contract, flow, infer
from stratum.pricing import Price
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import FlowRecord, TraceRecord

PRICE = Price(input_per_mtok=2, output_per_mtok=8)
FAKE_KEY = "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234567890abcdef"


@contract
class Sentiment:
    label: Literal["positive", "negative"]
    confidence: float


@infer("Classify the tone of the feedback", ensure=lambda r: r.confidence > 0.7, retries=2)
def classify(text: str) -> Sentiment: ...


@infer("Write a one-line summary")
def summarize(text: str, label: str) -> str: ...


@flow(budget=Budget(usd="0.001"))
async def triage(text: str) -> str:
    sentiment = await classify(text=text)
    return await summarize(text=text, label=sentiment.label)


@flow
async def fan_out(texts: list[str]) -> list[str]:
    out: list[str] = ["" for _ in texts]

    async def one(i: int, text: str) -> None:
        out[i] = (await classify(text=text)).label

    async with anyio.create_task_group() as tg:
        for i, text in enumerate(texts):
            tg.start_soon(one, i, text)
    return out


@flow
async def outer(text: str) -> str:
    await classify(text=text)
    return await triage(text)


def triage_model() -> ScriptedModel:
    """Three answers: one ensure failure, then a pass, then the summary."""
    return ScriptedModel(
        [
            Reply({"label": "positive", "confidence": 0.4}, usage=(100, 20)),
            Reply({"label": "positive", "confidence": 0.9}, usage=(130, 20)),
            Reply("Happy customer.", usage=(50, 10)),
        ],
        price=PRICE,
    )


@dataclass
class Run:
    flows: list[FlowRecord]
    records: list[TraceRecord]


async def run_triage(text: str = "love it") -> Run:
    """Run the triage flow once; return what the in-memory store holds."""
    with use_model(triage_model()):
        await triage(text)
    return Run(stratum.trace.flows(), stratum.trace.records())
