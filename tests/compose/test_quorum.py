"""@infer(quorum=N, agree_on=..., threshold=k): agreement, winner, failure, shared envelope, trace links."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from stratum import Budget, current_budget, flow, infer
from stratum.exceptions import (
    BudgetExceeded,
    ConsensusFailure,
    PostconditionFailed,
    StratumCompileError,
)
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import PRICE, Verdict, spent, verdict

pytestmark = pytest.mark.anyio


@infer("Judge the claim", quorum=3, agree_on="label", threshold=2, max_tokens=200, retries=0)
def judge(claim: str) -> Verdict: ...


@infer(
    "Judge the claim", quorum=3, agree_on="label", threshold=2, max_tokens=200, retries=0,
    ensure=lambda r: r.confidence > 0.5,
)
def strict_judge(claim: str) -> Verdict: ...


def scripted(*replies: Any) -> ScriptedModel:
    return ScriptedModel([Reply(r, latency_ms=5) for r in replies], price=PRICE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quorum": 3}, "agree_on"),
        ({"quorum": 3, "agree_on": "label"}, "threshold"),
        ({"quorum": 3, "agree_on": "label", "threshold": 4}, "threshold"),
        ({"quorum": 1, "agree_on": "label", "threshold": 1}, "at least 2"),
        ({"threshold": 2, "agree_on": "label"}, "quorum"),
        ({"quorum": 3, "agree_on": "nope", "threshold": 2}, "not a field"),
    ],
)
def test_misconfigured_quorum_is_a_compile_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StratumCompileError, match=message):

        @infer("x", **kwargs)
        def bad(claim: str) -> Verdict: ...


def test_agree_on_alone_is_valid() -> None:
    @infer("x", agree_on="label")
    def fine(claim: str) -> Verdict: ...

    assert fine.spec.agree_on == "label"


async def test_highest_confidence_agreeing_member_wins(store: MemorySink) -> None:
    model = scripted(verdict("approve", 0.7), verdict("approve", 0.95), verdict("reject", 0.99))
    with use_model(model):
        result = await judge(claim="the sky is blue")
    assert (result.label, result.confidence) == ("approve", 0.95)
    assert len(model.requests) == 3
    parent = next(r for r in store.records() if r.meta.get("kind") == "quorum" and "member" not in r.meta)
    members = [r for r in store.records() if r.parent_id == parent.record_id]
    assert sorted(r.meta["member"] for r in members) == [0, 1, 2]
    assert parent.status == "ok" and parent.output == result
    assert parent.meta["agreed"] == 2
    assert parent.cost_usd == 0 and spent(members) == spent(store.records()) > 0


async def test_first_agreeing_member_wins_without_confidence_difference() -> None:
    with use_model(scripted(verdict("reject", 0.5, "a"), verdict("reject", 0.5, "a"), verdict("approve", 0.5, "b"))):
        result = await judge(claim="x")
    assert result.label == "reject"


async def test_no_agreement_raises_consensus_failure_with_every_output(store: MemorySink) -> None:
    with use_model(scripted(verdict("approve"), verdict("reject"), verdict("unsure"))):
        with pytest.raises(ConsensusFailure) as info:
            await judge(claim="x")
    assert sorted(o.label for o in info.value.outputs) == ["approve", "reject", "unsure"]
    parent = next(r for r in store.records() if r.meta.get("kind") == "quorum" and "member" not in r.meta)
    assert parent.status == "failed" and parent.error is not None and parent.error.startswith("ConsensusFailure")


async def test_a_member_failing_its_ensure_counts_as_disagreeing() -> None:
    with use_model(scripted(verdict("approve", 0.9), verdict("approve", 0.1), verdict("approve", 0.8))):
        result = await strict_judge(claim="x")
    assert result.confidence == 0.9
    with use_model(scripted(verdict("approve", 0.9), verdict("approve", 0.1), verdict("reject", 0.8))):
        with pytest.raises(ConsensusFailure) as info:
            await strict_judge(claim="x")
    assert sum(isinstance(o, PostconditionFailed) for o in info.value.outputs) == 1


async def test_members_draw_from_one_reservation_pool(store: MemorySink) -> None:
    # Each member reserves its worst case (~$0.09) from the call's own $0.2 budget: two fit, the
    # third cannot, so the call raises before sending it, and nothing stays reserved.
    @infer("Judge", quorum=3, agree_on="label", threshold=2, max_tokens=200, budget=Budget(usd="0.2"))
    def pooled_judge(claim: str) -> Verdict: ...

    seen: dict[str, Decimal] = {}

    @flow(budget=Budget(usd="10"))
    async def run() -> None:
        try:
            await pooled_judge(claim="x")
        finally:
            env = current_budget()
            assert env is not None
            seen.update(reserved=env.reserved_usd, spent=env.spent_usd)

    model = ScriptedModel([Reply(verdict("approve"), latency_ms=60_000)] * 3, price=PRICE)
    with use_model(model), pytest.raises(BudgetExceeded) as info:
        await run()
    assert info.value.axis == "usd"
    assert len(model.requests) == 2
    assert seen["reserved"] == 0
    assert seen["spent"] == spent(store.records())
    statuses = sorted(r.status for r in store.records() if r.meta.get("member") is not None)
    assert statuses == ["cancelled", "cancelled", "failed"]


async def test_quorum_within_a_flow_is_charged_to_the_flow(store: MemorySink) -> None:
    seen: dict[str, Decimal] = {}

    @flow(budget=Budget(usd="5"))
    async def run() -> Verdict:
        result = await judge(claim="x")
        env = current_budget()
        assert env is not None
        seen.update(reserved=env.reserved_usd, spent=env.spent_usd)
        return result

    with use_model(scripted(verdict("approve"), verdict("approve"), verdict("reject"))):
        await run()
    assert seen["reserved"] == 0
    assert seen["spent"] == spent(store.records()) > 0


async def test_a_cancelled_quorum_cancels_its_members_and_releases_everything(store: MemorySink) -> None:
    from stratum import race

    @infer("Quick take", max_tokens=200)
    def quick(claim: str) -> Verdict: ...

    seen: dict[str, Decimal] = {}

    @flow(budget=Budget(usd="5"))
    async def run() -> Verdict:
        try:
            return await race(judge(claim="x"), quick(claim="x"))
        finally:
            env = current_budget()
            assert env is not None
            seen.update(reserved=env.reserved_usd, spent=env.spent_usd)

    slow = ScriptedModel([Reply(verdict("approve"), latency_ms=60_000)] * 3, price=PRICE)
    fast = ScriptedModel([verdict("reject")], price=PRICE)
    with use_model({judge: slow, quick: fast}):
        assert (await run()).label == "reject"
    quorum = [r for r in store.records() if r.meta.get("kind") == "quorum"]
    assert sorted(r.status for r in quorum) == ["cancelled"] * 4  # parent + 3 members
    assert seen["reserved"] == 0 and seen["spent"] == spent(store.records())
