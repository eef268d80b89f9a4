"""Run calls concurrently inside one budget: parallel, race, quorum and a session cache.

Offline: `python examples/compose_parallel.py` (scripted models stand in for real ones).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import stratum
from stratum import Budget, contract, current_budget, flow, infer, parallel, race
from stratum.pricing import Price
from stratum.testing import Reply, ScriptedModel, use_model


@contract
class Sentiment:
    label: Literal["positive", "negative", "neutral"]
    confidence: float


@contract
class Topics:
    topics: list[str]


@infer("Classify the tone of the feedback", max_tokens=100, cache="session")
def classify(text: str) -> Sentiment: ...


@infer("List the topics the feedback mentions", max_tokens=100)
def extract_topics(text: str) -> Topics: ...


@infer("Classify the tone of the feedback", quorum=3, agree_on="label", threshold=2, max_tokens=100)
def careful_classify(text: str) -> Sentiment: ...


@flow(budget=Budget(usd="0.50"))
async def triage(text: str) -> None:
    sentiment, topics = await parallel(classify(text=text), extract_topics(text=text))
    print(f"parallel: {sentiment.label} about {', '.join(topics.topics)}")
    again = await classify(text=text)  # same inputs in the same flow run: served from the session cache
    print(f"cached:   {again.label}")
    fastest = await race(careful_classify(text=text), classify(text=text + "!"))
    print(f"race:     {fastest.label} ({fastest.confidence})")
    env = current_budget()
    assert env is not None
    print(f"budget:   spent ${env.spent_usd:.6f}, reserved ${env.reserved_usd:.6f} (back to zero)")


def main() -> None:
    price = Price(input_per_mtok=Decimal("0.40"), output_per_mtok=Decimal("1.60"))
    fast = ScriptedModel([{"label": "positive", "confidence": 0.9}, Reply({"label": "positive", "confidence": 0.8}, latency_ms=1)], price=price)
    topics = ScriptedModel([{"topics": ["shipping", "support"]}], price=price)
    # The quorum members are slower than the plain call, so the race cancels them.
    members = ScriptedModel([Reply({"label": "positive", "confidence": 0.95}, latency_ms=500)] * 3, price=price)
    with stratum.trace.capture() as store, use_model({classify: fast, extract_topics: topics, careful_classify: members}):
        stratum.run(triage("Fast shipping, friendly support."))
    print("\ntrace:")
    for r in store.records():
        kind = r.meta.get("kind", "")
        print(f"  {r.function:<26} {r.status:<9} cache_hit={r.cache_hit!s:<5} kind={kind:<9} parent={(r.parent_id or '-')[:8]}")


if __name__ == "__main__":
    main()
