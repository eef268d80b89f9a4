"""stable=False: Probabilistic[T], one sample in production, sample_n in test mode on agree_on."""

from __future__ import annotations

from typing import Any

import pytest

import stratum
from stratum import Probabilistic, infer
from stratum.exceptions import StabilityAssertionError
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import Verdict, verdict

pytestmark = pytest.mark.anyio


@infer("Judge", stable=False, agree_on="label", max_tokens=200)
def judge(claim: str) -> Verdict: ...


@infer("Judge", stable=False, max_tokens=200)
def whole(claim: str) -> Verdict: ...


def scripted(*replies: Any) -> ScriptedModel:
    return ScriptedModel([Reply(r, latency_ms=2) for r in replies])


async def test_production_takes_one_sample() -> None:
    model = scripted(verdict("approve"))
    with use_model(model):
        result = await judge(claim="x")
    assert isinstance(result, Probabilistic)
    assert len(model.requests) == 1
    assert result.most_likely().label == "approve" and result.sample().label == "approve"
    assert result.assert_stable().label == "approve"


async def test_test_mode_samples_and_compares_the_agree_on_field(store: MemorySink) -> None:
    # Same label, different reasoning: stable on the key field even though str() differs.
    model = scripted(*(verdict("approve", 0.9, f"reason {i}") for i in range(4)))
    with stratum.configure(test_mode=True, sample_n=4), use_model(model):
        result = await judge(claim="x")
    assert len(model.requests) == 4
    assert len(result.samples) == 4
    assert result.agreement() == 1.0
    assert result.assert_stable(0.9).label == "approve"
    parent = next(r for r in store.records() if r.meta.get("kind") == "sample" and "sample" not in r.meta)
    members = [r for r in store.records() if r.parent_id == parent.record_id]
    assert sorted(r.meta["sample"] for r in members) == [0, 1, 2, 3]


async def test_unstable_samples_raise_on_assert_stable() -> None:
    model = scripted(verdict("approve"), verdict("approve"), verdict("approve"), verdict("reject"))
    with stratum.configure(test_mode=True, sample_n=4), use_model(model):
        result = await judge(claim="x")
    assert result.agreement() == 0.75
    assert result.most_likely().label == "approve"
    with pytest.raises(StabilityAssertionError) as info:
        result.assert_stable(0.9)
    assert info.value.agreement == 0.75
    assert result.assert_stable(0.7).label == "approve"


async def test_without_agree_on_the_whole_output_is_compared() -> None:
    model = scripted(*(verdict("approve", 0.9, f"reason {i}") for i in range(3)))
    with stratum.configure(test_mode=True, sample_n=3), use_model(model):
        result = await whole(claim="x")
    assert result.agreement() == pytest.approx(1 / 3)
