"""Two agents debate; a judge synthesizes; disagreement goes to a human reviewer.

Offline: `python examples/compose_debate.py` (the reviewer is simulated by a sink).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import stratum
from stratum import (
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    contract,
    debate,
    flow,
    infer,
    opaque,
)
from stratum.testing import ScriptedModel, use_model


@contract
class Proposal:
    title: str


@contract
class Argument:
    stance: Literal["for", "against"]
    point: str


@contract
class Ruling:
    resolution_type: Literal["consensus", "disagreement", "partial"]
    summary: str


@infer("Argue for the proposal", agree_on="stance")
def advocate(proposal: Proposal) -> Argument: ...


@infer("Argue against the proposal", agree_on="stance")
def critic(idea: Proposal) -> Argument: ...


@infer("Weigh the arguments and rule")
def judge(topic: Proposal, arguments: opaque[list[list[Argument]]], converged: bool) -> Ruling: ...


class AutoReviewer:
    """Stands in for a person: approves whatever is asked."""

    async def emit(self, review: PendingReview) -> None:
        print(f"[review] {review.context.question} (trigger: {review.context.trigger})")
        await review.resolve(HumanDecision(True, "lead", "pilot it", dt.datetime.now(dt.UTC), review.review_id))


@flow
async def decide(proposal: Proposal) -> bool:
    ruling = await debate([advocate, critic], proposal, rounds=2, synthesize=judge)
    print(f"judge: {ruling.resolution_type}: {ruling.summary}")
    if ruling.resolution_type != "consensus":
        decision = await stratum.await_human(
            HumanReviewContext(question=f"Adopt {proposal.title!r}?", trigger="debate_disagreement",
                               artifacts={"ruling": ruling}),
            bool,
            timeout=dt.timedelta(minutes=5),
            on_timeout=False,
        )
        return decision.value
    return True


def main() -> None:
    models = {
        advocate: ScriptedModel([{"stance": "for", "point": "morale"}, {"stance": "for", "point": "retention"}]),
        critic: ScriptedModel([{"stance": "against", "point": "coverage"}, {"stance": "against", "point": "cost"}]),
        judge: ScriptedModel([{"resolution_type": "disagreement", "summary": "benefits vs coverage"}]),
    }
    with stratum.trace.capture() as store, stratum.configure(review_sink=AutoReviewer()), use_model(models):
        adopted = stratum.run(decide(Proposal(title="four-day week")))
    print("adopted:", adopted)
    print("rebuttal data seen by the critic in round 2:", models[critic].requests[1].attachments)
    print("records:", [(r.function, r.meta.get("round"), r.review_id is not None) for r in store.records()])


if __name__ == "__main__":
    main()
