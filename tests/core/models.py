"""Contracts and functions shared by the core tests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stratum import Budget, contract, infer


@contract
class Sentiment:
    label: Literal["positive", "negative", "neutral"]
    confidence: Annotated[float, Field(ge=0, le=1)]
    reasoning: str


def sentiment(confidence: float, label: str = "positive") -> dict[str, object]:
    return {"label": label, "confidence": confidence, "reasoning": "because"}


@infer(
    intent="Classify the tone of customer feedback",
    ensure=lambda r: r.confidence > 0.7,
    budget=Budget(ms=2000, usd=0.01),
    retries=2,
)
def classify(text: str) -> Sentiment: ...
