from __future__ import annotations

import inspect

import pytest

import stratum
from stratum import Budget, StratumCompileError, compute, flow, infer
from stratum.testing import ScriptedModel, stub, use_model
from stratum.trace import MemorySink, TraceRecord, TraceSink

from .models import Sentiment, classify, sentiment

pytestmark = pytest.mark.anyio


@compute
def shout(text: str) -> str:
    return text.upper()


@compute
async def classify_by_rule(text: str) -> Sentiment:
    return Sentiment(label="negative" if "!" in text else "neutral", confidence=1.0, reasoning="rule")


async def test_compute_is_unchanged_outside_flows(store: MemorySink) -> None:
    assert shout("hi") == "HI"
    assert await classify_by_rule("hey!") == Sentiment(label="negative", confidence=1.0, reasoning="rule")
    assert store.records() == []
    assert str(inspect.signature(shout)) == "(text: 'str') -> 'str'"
    assert not inspect.iscoroutinefunction(shout)
    assert inspect.iscoroutinefunction(classify_by_rule)


async def test_compute_and_infer_are_interchangeable_in_a_flow(store: MemorySink) -> None:
    async def pipeline(step: object, text: str) -> Sentiment:
        result: Sentiment = await step(text=text)  # type: ignore[operator]
        return result

    @flow
    async def run() -> list[Sentiment]:
        return [await pipeline(classify, "great"), await pipeline(classify_by_rule, "bad!"), Sentiment(label="neutral", confidence=1, reasoning=shout("x"))]

    with use_model(ScriptedModel([sentiment(0.9)])):
        results = await run()
    assert [r.label for r in results] == ["positive", "negative", "neutral"]
    records = store.records()
    assert [(r.function, r.model) for r in records] == [
        ("classify", "scripted"),
        ("classify_by_rule", "compute"),
        ("shout", "compute"),
    ]
    assert all(r.cost_usd == 0 for r in records if r.model == "compute")
    flow_id = store.flows()[0].flow_id
    assert {r.flow_id for r in records} == {flow_id}


async def test_failed_compute_in_a_flow_is_recorded(store: MemorySink) -> None:
    @compute
    def explode() -> None:
        raise KeyError("nope")

    @flow
    async def run() -> None:
        explode()

    with pytest.raises(KeyError):
        await run()
    (record,) = store.records()
    assert record.status == "failed" and record.error == "KeyError: 'nope'"
    assert store.flows()[0].status == "failed"


async def test_flow_requires_async_def() -> None:
    with pytest.raises(StratumCompileError, match="async def"):

        @flow
        def not_async() -> None: ...  # type: ignore[arg-type]

    with pytest.raises(StratumCompileError, match="async def"):

        @flow(budget=Budget(usd=1))
        def not_async_either() -> None: ...  # type: ignore[arg-type]


async def test_flow_record_fields(store: MemorySink) -> None:
    @flow(budget=Budget(ms=10_000, usd="0.5", tokens=10_000))
    async def limited() -> Sentiment:
        return await classify(text="x")

    with use_model(ScriptedModel([sentiment(0.9)])):
        await limited()
    (record,) = store.flows()
    assert record.name.endswith("limited")
    assert record.status == "ok" and record.parent_flow_id is None
    assert record.limits == {"ms": 10_000, "usd": stratum.Budget(usd="0.5").usd, "tokens": 10_000}
    assert record.spent_tokens > 0 and record.duration_ms >= 0


async def test_stub_answers_without_a_model(store: MemorySink) -> None:
    with stub(classify, returns=[sentiment(0.9), Sentiment(label="negative", confidence=0.8, reasoning="r")]) as route:
        first = await classify(text="a")
        second = await classify(text="b")
    assert (first.label, second.label) == ("positive", "negative")
    assert [c["text"] for c in route.calls] == ["a", "b"]
    assert [r.model for r in store.records()] == ["stub", "stub"]

    async def impl(text: str) -> dict[str, object]:
        return sentiment(0.99, "neutral" if text == "?" else "positive")

    with stub(classify, impl=impl):
        assert (await classify(text="?")).label == "neutral"

    with stub(classify, returns={"label": "bogus"}), pytest.raises(stratum.ParseFailure, match="stub for"):
        await classify(text="a")


async def test_use_model_routes_per_function() -> None:
    @infer("Draft a reply")
    def draft(text: str) -> str: ...

    m1, m2 = ScriptedModel([sentiment(0.9)]), ScriptedModel(["Thanks!"])
    with use_model({classify: m1, draft: m2}):
        await classify(text="x")
        assert await draft(text="x") == "Thanks!"
    assert len(m1.requests) == len(m2.requests) == 1


async def test_configured_sinks_receive_every_record(store: MemorySink) -> None:
    class ListSink:
        def __init__(self) -> None:
            self.got: list[object] = []

        def emit(self, record: object, /) -> None:
            self.got.append(record)

        def flush(self) -> None: ...

        def close(self) -> None: ...

    class Broken(ListSink):
        def emit(self, record: object, /) -> None:
            raise OSError("disk full")

    sink = ListSink()
    assert isinstance(sink, TraceSink)
    with stratum.configure(trace_sinks=[Broken(), sink]), use_model(ScriptedModel([sentiment(0.9)])):
        await classify(text="x")
    assert len(sink.got) == 1 and isinstance(sink.got[0], TraceRecord)
    assert len(store.records()) == 1  # the in-memory sink is still there
