"""Contracts, prices and helpers shared by the composition tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from stratum import contract
from stratum.pricing import Price
from stratum.trace import TraceRecord

PRICE = Price(input_per_mtok=Decimal(100), output_per_mtok=Decimal(400))
"""Expensive enough that every reservation and settlement is visible in the envelope."""


@contract
class Verdict:
    label: Literal["approve", "reject", "unsure"]
    confidence: float
    reasoning: str


@contract
class Argument:
    stance: Literal["for", "against"]
    point: str


@contract
class Ruling:
    decision: str
    converged: bool


def verdict(label: str, confidence: float = 0.9, reasoning: str = "because") -> dict[str, object]:
    return {"label": label, "confidence": confidence, "reasoning": reasoning}


def spent(records: list[TraceRecord]) -> Decimal:
    """Sum of the cost of every record (group records carry none of their own)."""
    return sum((r.cost_usd or Decimal(0) for r in records), Decimal(0))
