"""`fn.stream(...)`: partial results, ensure and retries, budget and deadline cuts, leaving
early, stubs and test doubles, all through the same attempt machinery as a plain call."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import anyio
import pytest
from pydantic import Field

import stratum
from stratum import Budget, BudgetExceeded, Usage, contract, current_budget, flow, infer
from stratum.exceptions import (
    ConfigurationError,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    RefusalError,
    StreamInterruptedError,
)
from stratum.pricing import Price
from stratum.testing import Reply, SchemaModel, ScriptedModel, faults, stub, use_model

pytestmark = pytest.mark.anyio


@contract
class Sentiment:
    label: Literal["positive", "negative", "mixed"]
    confidence: Annotated[float, Field(ge=0, le=1)]
    reasoning: str


@infer("Classify the sentiment of the review", ensure=lambda s: s.confidence > 0.7, retries=1)
def classify(text: str) -> Sentiment: ...


@infer("Say hello")
def hello(name: str) -> str: ...


@infer("List the primes below n")
def primes(n: int) -> list[int]: ...


GOOD = {"label": "mixed", "confidence": 0.9, "reasoning": "likes it, hates the battery"}
UNSURE = {"label": "mixed", "confidence": 0.4, "reasoning": "unsure"}
LONG = "word " * 400


async def test_partials_of_a_contract_fill_in_field_by_field() -> None:
    model = ScriptedModel([Reply(GOOD, chunks=8, usage=(40, 20))], price=Price(1, 2))
    seen: list[Sentiment] = []
    usages: list[int] = []
    with use_model(model):
        async with classify.stream(text="Love it, but the battery dies by noon") as s:
            async for partial in s:
                assert isinstance(partial, Sentiment)
                seen.append(partial)
                usages.append(s.usage.output_tokens)
            result = await s.result()
    assert result == Sentiment(**GOOD)
    assert seen[-1] == result  # the last partial is the final value
    assert len(seen) >= 4
    first_fields = seen[0].model_fields_set
    assert first_fields < {"label", "confidence", "reasoning"}
    # a string grows as it is written; fields not arrived yet are None
    assert any(p.reasoning and p.reasoning != GOOD["reasoning"] for p in seen)
    assert seen[0].reasoning is None
    assert usages == sorted(usages) and usages[0] < 20  # live, growing usage
    assert s.usage == Usage(40, 20)
    assert s.cost_usd == Price(1, 2).cost(Usage(40, 20))
    (record,) = stratum.trace.records()
    assert (record.status, record.stopped, record.output_tokens, record.cost_usd) == ("ok", None, 20, s.cost_usd)


async def test_text_streams_as_pieces() -> None:
    with use_model(ScriptedModel([Reply("Hello there, Ann!", chunks=3)])):
        async with hello.stream(name="Ann") as s:
            pieces = [piece async for piece in s]
            result = await s.result()
    assert pieces == ["Hello ", "there,", " Ann!"]
    assert "".join(pieces) == result == "Hello there, Ann!"


async def test_a_list_streams_its_complete_items() -> None:
    with use_model(ScriptedModel([Reply({"value": [2, 3, 5, 7, 11, 13]}, chunks=12)])):
        async with primes.stream(n=14) as s:
            seen = [p async for p in s]
    assert seen[-1] == [2, 3, 5, 7, 11, 13]
    assert all(seen[-1][: len(p)] == p for p in seen)  # every partial is a prefix of the answer
    assert 11 not in seen[0]


async def test_result_alone_reads_the_whole_stream() -> None:
    with use_model(ScriptedModel([Reply(GOOD, chunks=5)])):
        async with classify.stream(text="x") as s:
            assert (await s.result()).confidence == 0.9


async def test_a_failed_ensure_retries_with_a_new_stream_and_partials_start_over() -> None:
    model = ScriptedModel([Reply(UNSURE, chunks=4), Reply(GOOD, chunks=6)])
    by_attempt: dict[int, list[Sentiment]] = {}
    with use_model(model):
        async with classify.stream(text="Love it, but the battery dies by noon") as s:
            async for partial in s:
                by_attempt.setdefault(s.attempt, []).append(partial)
            result = await s.result()
    assert result.confidence == 0.9
    assert set(by_attempt) == {0, 1}
    assert by_attempt[0][-1].confidence == 0.4
    assert by_attempt[1][0].confidence is None  # the new attempt's partials start from nothing
    assert s.retry_reasons == ["ensure: s.confidence > 0.7 (actual: s.confidence=0.4)"]
    retry_request = model.requests[1]
    assert "s.confidence > 0.7" in retry_request.instructions and retry_request.attempt == 1
    (record,) = stratum.trace.records()
    assert record.attempts == 2 and record.status == "ok"


async def test_every_attempt_failing_raises_like_a_plain_call() -> None:
    with use_model(ScriptedModel([Reply(UNSURE, chunks=2), Reply(UNSURE, chunks=2)])):
        async with classify.stream(text="x") as s:
            with pytest.raises(PostconditionFailed) as caught:
                async for _ in s:
                    pass
            with pytest.raises(PostconditionFailed) as again:
                await s.result()
    assert again.value is caught.value
    with use_model(ScriptedModel(['{"label": "mixed", "conf', "not json"])):
        async with classify.stream(text="x") as s:
            with pytest.raises(ParseFailure):
                await s.result()


async def test_a_refusal_raises_refusal_error() -> None:
    with use_model(ScriptedModel([Reply("", finish_reason="refusal", refusal="no")])):
        async with classify.stream(text="x") as s:
            with pytest.raises(RefusalError):
                await s.result()


async def test_provider_faults_before_the_stream_are_retried() -> None:
    with use_model(ScriptedModel([faults.rate_limit(retry_after=0), Reply(GOOD, chunks=3)])):
        async with classify.stream(text="x") as s:
            assert (await s.result()).label == "mixed"
    (record,) = stratum.trace.records()
    assert record.attempt_records[0].fault_retries == 1


# -- budget and deadline ------------------------------------------------------------------------


@infer("Write a story", budget=Budget(usd="0.001"))
def story(topic: str) -> str: ...


@infer("Describe", budget=Budget(tokens=600))
def describe(topic: str) -> Sentiment: ...


async def test_the_budget_cuts_a_stream_that_would_overspend() -> None:
    # the provider reports 3000 input tokens where ~10 were estimated: the output left to pay
    # for shrinks below what already arrived, so the stream is cut
    model = ScriptedModel([Reply(LONG, chunks=40, usage=Usage(3000, 500))], price=Price(0.2, 1))
    with use_model(model):
        with pytest.raises(BudgetExceeded) as caught:
            async with story.stream(topic="sea") as s:
                async for _ in s:
                    pass
    error = caught.value
    assert error.axis == "usd" and error.limit == Decimal("0.001")
    assert isinstance(error.partial, str) and error.partial and LONG.startswith(error.partial)
    assert s.stopped == "budget"
    (record,) = stratum.trace.records()
    assert (record.status, record.stopped) == ("failed", "budget")
    assert record.input_tokens == 3000 and 0 < record.output_tokens < 500  # what arrived is charged
    assert record.cost_usd == Price(0.2, 1).cost(Usage(3000, record.output_tokens))
    assert record.attempt_records[-1].outcome == "budget"


async def test_a_token_budget_cut_keeps_the_partial_result() -> None:
    reply = {"label": "mixed", "confidence": 0.9, "reasoning": "long " * 300}
    with use_model(ScriptedModel([Reply(reply, chunks=30, usage=Usage(500, 400))])):

        @flow(budget=Budget(tokens=1000))
        async def run() -> None:
            async with describe.stream(topic="x") as s:
                await s.result()

        with pytest.raises(BudgetExceeded) as caught:
            await run()
    assert caught.value.axis == "tokens"
    partial = caught.value.partial
    assert isinstance(partial, Sentiment) and partial.label == "mixed" and partial.reasoning
    (record,) = stratum.trace.records()
    # cut at the piece that passed the 600-token call budget: that piece arrived and is charged
    assert record.stopped == "budget" and 600 < record.input_tokens + record.output_tokens < 600 + 20
    (flow_record,) = stratum.trace.flows()
    assert flow_record.spent_tokens == record.input_tokens + record.output_tokens


@infer("Write slowly", budget=Budget(ms=300))
def slow(topic: str) -> str: ...


async def test_the_deadline_covers_the_whole_stream() -> None:
    # each piece comes 50 ms after the last: no single wait is long, the whole is 2 s
    with use_model(ScriptedModel([Reply(LONG, chunks=40, latency_ms=2000)])):
        with anyio.fail_after(5), pytest.raises(BudgetExceeded) as caught:
            async with slow.stream(topic="x") as s:
                async for _ in s:
                    pass
    assert caught.value.axis == "ms" and caught.value.partial
    assert s.stopped == "deadline"
    (record,) = stratum.trace.records()
    assert (record.status, record.stopped) == ("failed", "deadline")
    assert record.output_tokens > 0 and record.duration_ms < 1500


async def test_leaving_early_charges_what_arrived_and_records_the_caller_stop() -> None:
    model = ScriptedModel([Reply(LONG, chunks=40)], price=Price(1, 1))

    @flow(budget=Budget(usd=1))
    async def run() -> Usage:
        async with story.stream(topic="x") as s:
            async for _ in s:
                break
        envelope = current_budget()
        assert envelope is not None and envelope.spent_tokens == s.usage.total_tokens > 0
        assert envelope.reserved_usd == 0  # the reservation was settled, not leaked
        return s.usage

    with use_model(model):
        used = await run()
    record = stratum.trace.records()[0]
    assert (record.status, record.stopped, record.error) == ("cancelled", "caller", None)
    assert record.output_tokens == used.output_tokens and 0 < used.output_tokens < 100
    assert record.attempt_records[0].outcome == "cancelled"


async def test_a_stream_never_read_sends_nothing() -> None:
    model = ScriptedModel([Reply(GOOD)])
    with use_model(model):
        async with classify.stream(text="x"):
            pass
    assert model.requests == [] and stratum.trace.records() == []


# -- stubs, doubles, declarations -----------------------------------------------------------------


async def test_a_stubbed_function_streams_its_value() -> None:
    with stub(classify, returns=Sentiment(**GOOD)):
        async with classify.stream(text="x") as s:
            seen = [p async for p in s]
    assert seen == [Sentiment(**GOOD)]
    assert stratum.trace.records()[0].model == "stub"
    with stub(hello, impl=lambda name: f"hi {name}"):
        async with hello.stream(name="Bo") as s:
            assert [p async for p in s] == ["hi Bo"]


async def test_a_model_without_stream_answers_in_one_piece() -> None:
    with use_model(SchemaModel(seed=1)):
        async with classify.stream(text="x") as s:
            partials = [p async for p in s]
            value = await s.result()
    assert partials[-1] == value


@infer("Check", given=lambda text: len(text) > 0)
def checked(text: str) -> str: ...


async def test_given_is_checked_before_anything_is_sent() -> None:
    model = ScriptedModel(["x"])
    with use_model(model), pytest.raises(PreconditionFailed):
        async with checked.stream(text=""):
            pass
    assert model.requests == []


@infer("Vote", quorum=3, agree_on="label", threshold=2)
def voted(text: str) -> Sentiment: ...


async def test_composed_declarations_do_not_stream() -> None:
    with pytest.raises(ConfigurationError, match="without .stream"):
        async with voted.stream(text="x"):
            pass


async def test_a_stream_interrupted_mid_way_is_charged_and_raised() -> None:
    class Breaking:
        name = "breaking"
        model_name = "breaking"

        async def complete(self, call: Any) -> Any:
            raise AssertionError("not used")

        async def stream(self, call: Any) -> Any:
            from stratum.providers import TextDelta

            yield TextDelta('{"label": "mi')
            raise StreamInterruptedError("lost", received='{"label": "mi"', provider="breaking")

    with use_model(Breaking()):
        async with classify.stream(text="x") as s:
            with pytest.raises(StreamInterruptedError):
                await s.result()
    (record,) = stratum.trace.records()
    assert record.output_tokens > 0 and record.attempt_records[0].outcome == "provider_error"
