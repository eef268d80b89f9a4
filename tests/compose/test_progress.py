"""Progress of parallel(), .batch() and flows: a callback, a rich bar on request, nothing by default in tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stratum import Budget, Progress, contract, flow, infer, parallel
from stratum.exceptions import ConfigurationError
from stratum.pricing import Price
from stratum.testing import ScriptedModel, use_model

pytestmark = pytest.mark.anyio


@contract
class Word:
    word: str


@infer("Say a word", ensure=lambda w: w.word != "bad", retries=0, max_tokens=50)
def say(n: int) -> Word: ...


def model() -> ScriptedModel:
    replies = [{"word": "ok"}, {"word": "ok"}, {"word": "bad"}, {"word": "ok"}]
    return ScriptedModel(replies, usage=(100, 10), price=Price(1, 10))  # $0.0002 per call


async def test_parallel_reports_each_branch_with_spend_and_budget_left() -> None:
    seen: list[Progress] = []

    @flow(budget=Budget(usd="0.01"), progress=False)
    async def job() -> None:
        await parallel(*(say(n=i) for i in range(4)), require=0, progress=seen.append)

    with use_model(model()):
        await job()
    assert [(p.done, p.failed) for p in seen][-1] == (3, 1)
    assert [p.done + p.failed for p in seen] == [1, 2, 3, 4]
    last = seen[-1]
    assert last.total == 4 and last.label == "stratum.parallel"
    assert last.spent_usd == Decimal("0.0008") and last.remaining_usd == Decimal("0.0092")
    assert last.spent_tokens == 440 and last.remaining_tokens is None


async def test_flows_and_batches_report_too() -> None:
    flow_seen: list[Progress] = []
    batch_seen: list[Progress] = []

    @flow(progress=flow_seen.append)
    async def job() -> None:
        await say(n=0)
        await say.batch([{"n": 1}, {"n": 2}, {"n": 3}], progress=batch_seen.append)

    with use_model(model()):
        await job()
    assert (flow_seen[-1].done, flow_seen[-1].failed, flow_seen[-1].total) == (3, 1, None)
    assert flow_seen[-1].spent_usd is None  # no budget in force
    assert (batch_seen[-1].done, batch_seen[-1].failed, batch_seen[-1].total) == (2, 1, 3)
    assert batch_seen[-1].label.endswith("say.batch")


async def test_a_bar_only_when_asked_for_in_tests(capsys: pytest.CaptureFixture[str]) -> None:
    with use_model(model()):
        await parallel(say(n=0), say(n=1))
    assert capsys.readouterr().err == ""
    with use_model(model()):
        await parallel(say(n=0), say(n=1), progress=True)
    err = capsys.readouterr().err
    assert "stratum.parallel" in err and "2/2" in err


async def test_bad_progress_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="progress="):
        await parallel(say(n=0), progress="yes")  # type: ignore[call-overload]
