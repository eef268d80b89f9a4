"""Type-checked (pyright strict), never run: the composition API keeps precise types."""

from __future__ import annotations

import datetime as dt
from typing import assert_type

import stratum
from stratum import (
    ConsoleReviewSink,
    Failure,
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    Probabilistic,
    ReviewSink,
    Success,
    await_human,
    contract,
    debate,
    infer,
    parallel,
    race,
    refine,
)


@contract
class Verdict:
    label: str
    confidence: float


@infer("Judge")
def judge(claim: str) -> Verdict: ...


@infer("Count words")
def count(text: str) -> int: ...


@infer("Judge", quorum=3, agree_on="label", threshold=2)
def quorum_judge(claim: str) -> Verdict: ...


@infer("Judge", stable=False, agree_on="label")
def unstable(claim: str) -> Verdict: ...


def good(v: Verdict) -> bool:
    return v.confidence > 0.5


@refine(until=good, feedback=lambda v: "raise confidence", max_iterations=3)
@infer("Judge")
def refined(claim: str, strict: bool = False) -> Verdict: ...


async def synth(topic: str, arguments: list[list[Verdict]], converged: bool) -> str:
    return topic


class Sink:
    async def emit(self, review: PendingReview) -> None:
        await review.resolve(HumanDecision(True, None, None, dt.datetime.now(dt.UTC), review.review_id))


async def main() -> None:
    assert_type(await parallel(judge(claim="a"), count(text="b")), tuple[Verdict, int])
    assert_type(await parallel(judge(claim="a"), judge(claim="b"), require="any"), Verdict)
    assert_type(await parallel(judge(claim="a"), judge(claim="b"), require=1), list[Verdict])
    outcomes = await parallel(judge(claim="a"), judge(claim="b"), require=0)
    assert_type(outcomes, list[Success[Verdict] | Failure])
    for outcome in outcomes:
        if isinstance(outcome, Success):
            assert_type(outcome.value, Verdict)
        else:
            assert_type(outcome.error, BaseException)
    assert_type(await race(judge(claim="a"), judge(claim="b")), Verdict)
    assert_type(await quorum_judge(claim="a"), Verdict)
    assert_type(await unstable(claim="a"), Probabilistic[Verdict])
    assert_type((await unstable(claim="a")).assert_stable(0.8), Verdict)
    assert_type(await refined(claim="a", strict=True), Verdict)
    assert_type(await debate([judge, judge], "topic", rounds=2, synthesize=synth), str)
    assert_type(await debate([judge], "topic", 2, synth), str)
    decision = await await_human(HumanReviewContext(question="ok?"), bool, timeout=dt.timedelta(seconds=5), on_timeout=False)
    assert_type(decision, HumanDecision[bool])
    assert_type(decision.value, bool)
    sink: ReviewSink = Sink()
    console: ReviewSink = ConsoleReviewSink()
    stratum.configure(review_sink=sink)
    del console
    with stratum.cache_store(".stratum/test.sqlite3"):
        pass
