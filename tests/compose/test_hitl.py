"""await_human: sinks, typed decisions, timeouts, the console sink, review_id on the trace."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any, Literal

import pytest

import stratum
from stratum import (
    ConsoleReviewSink,
    HumanDecision,
    HumanReviewContext,
    PendingReview,
    ReviewSink,
    await_human,
    flow,
    infer,
)
from stratum.exceptions import HITLTimeoutError
from stratum.testing import ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import Verdict, verdict

pytestmark = pytest.mark.anyio

QUESTION = HumanReviewContext(question="Ship it?", artifacts={"draft": "v1"})


class AnsweringSink:
    """Resolves every review at once with a fixed value."""

    def __init__(self, value: Any, reviewer: str = "ana") -> None:
        self.value = value
        self.reviewer = reviewer
        self.reviews: list[PendingReview] = []

    async def emit(self, review: PendingReview) -> None:
        self.reviews.append(review)
        await review.resolve(
            HumanDecision(self.value, self.reviewer, "looks good", dt.datetime.now(dt.UTC), review.review_id)
        )


class SilentSink:
    """Shows the review to nobody: only a timeout ends the wait."""

    async def emit(self, review: PendingReview) -> None:
        return None


@infer("Judge", max_tokens=100)
def judge(claim: str) -> Verdict: ...


async def test_a_sink_decision_is_returned_typed_and_review_id_lands_on_the_trace(store: MemorySink) -> None:
    sink = AnsweringSink(True)
    assert isinstance(sink, ReviewSink)

    @flow
    async def run() -> HumanDecision[bool]:
        await judge(claim="before")
        decision = await await_human(QUESTION, bool)
        await judge(claim="after")
        return decision

    with stratum.configure(review_sink=sink), use_model(ScriptedModel([verdict("approve")] * 2)):
        decision = await run()
    assert decision.value is True and decision.reviewer == "ana" and decision.rationale == "looks good"
    assert decision.review_id == sink.reviews[0].review_id
    before, human, after = store.records()
    assert before.review_id is None
    assert human.function == "stratum.await_human" and human.review_id == decision.review_id
    assert after.review_id == decision.review_id


async def test_resolve_validates_against_the_decision_type() -> None:
    review = PendingReview("r1", QUESTION, None, None, int)
    with pytest.raises(TypeError, match="not a valid"):
        await review.resolve(HumanDecision("many", None, None, dt.datetime.now(dt.UTC), "r1"))
    assert not review.done
    await review.resolve(HumanDecision("3", None, None, dt.datetime.now(dt.UTC), "r1"))  # console text converts
    assert review.decision is not None and review.decision.value == 3
    with pytest.raises(ValueError, match="review_id"):
        await review.resolve(HumanDecision(4, None, None, dt.datetime.now(dt.UTC), "other"))


async def test_a_sink_sending_the_wrong_type_fails_the_call() -> None:
    with stratum.configure(review_sink=AnsweringSink("yes please")), pytest.raises(TypeError):
        await await_human(QUESTION, int)


async def test_timeout_raises_hitl_timeout_error_with_the_review_id(store: MemorySink) -> None:
    with stratum.configure(review_sink=SilentSink()), pytest.raises(HITLTimeoutError) as info:
        await await_human(QUESTION, bool, timeout=dt.timedelta(milliseconds=20))
    assert info.value.review_id
    record = store.records()[-1]
    assert record.status == "failed" and record.meta["review_id"] == info.value.review_id


async def test_timeout_with_a_fallback_returns_an_auto_decision() -> None:
    with stratum.configure(review_sink=SilentSink()):
        decision = await await_human(QUESTION, str, options=["ship", "hold"], timeout=0.02, on_timeout="hold")
    assert (decision.value, decision.reviewer, decision.rationale) == ("hold", "auto", "timeout")
    assert decision.review_id


async def test_console_sink_reads_an_option_index() -> None:
    out = io.StringIO()
    sink = ConsoleReviewSink(stdin=io.StringIO("7\n1\n"), stdout=out, reviewer="cli")
    Choice = Literal["ship", "hold"]
    with stratum.configure(review_sink=sink):
        decision = await await_human(QUESTION, Choice, options=["ship", "hold"])  # type: ignore[arg-type]
    assert decision.value == "hold" and decision.reviewer == "cli"
    text = out.getvalue()
    assert "Ship it?" in text and "[1] hold" in text and "Invalid decision '7'" in text


async def test_console_sink_free_text_is_converted_to_the_decision_type() -> None:
    sink = ConsoleReviewSink(stdin=io.StringIO("42\n"), stdout=io.StringIO())
    with stratum.configure(review_sink=sink):
        decision = await await_human(HumanReviewContext(question="How many?"), int)
    assert decision.value == 42


class BlockingStdin(io.StringIO):
    """A terminal nobody types into: readline blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        self.release.wait()
        return ""


async def test_console_sink_timeout_leaves_only_a_daemon_reader_behind() -> None:
    stdin = BlockingStdin()
    try:
        with stratum.configure(review_sink=ConsoleReviewSink(stdin=stdin, stdout=io.StringIO())):
            with pytest.raises(HITLTimeoutError):
                await await_human(QUESTION, bool, timeout=0.05)
        readers = [t for t in threading.enumerate() if t.name == "stratum-review-input"]
        assert readers and all(t.daemon for t in readers)  # cannot keep the process alive
    finally:
        stdin.release.set()
