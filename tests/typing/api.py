"""Type-checked by pyright in CI, never run: the public API keeps signatures and result types."""

from __future__ import annotations

from collections.abc import Coroutine
from decimal import Decimal
from typing import Annotated, Any, Literal, assert_type

from pydantic import Field

import stratum
import stratum.mcp
from stratum import (
    Audio,
    Budget,
    Document,
    Envelope,
    Failure,
    Image,
    LedgerError,
    Probabilistic,
    Progress,
    Success,
    compute,
    contract,
    current_budget,
    flow,
    infer,
    opaque,
)
from stratum.ledger import LedgerState, RedisLedger
from stratum.pricing import Estimate, Price, estimate
from stratum.providers import CallSpec
from stratum.testing import Reply, ScriptedModel, ToolCall, stub, use_model
from stratum.trace import FlowRecord, TraceRecord


@contract
class Sentiment:
    label: Literal["positive", "negative", "neutral"]
    confidence: Annotated[float, Field(ge=0, le=1)]
    reasoning: str
    notes: opaque[str] = ""


@infer("Classify", ensure=lambda r: r.confidence > 0.7, budget=Budget(ms=2000, usd=0.01), retries=2)
def classify(text: str, strict: bool = False) -> Sentiment: ...


@infer("Classify, sampled", stable=False, agree_on="label")
def classify_sampled(text: str) -> Sentiment: ...


@infer("Say hello")
def hello(name: str) -> str: ...


@infer("Classify, falling back", model=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def classify_anywhere(text: str) -> Sentiment: ...


@infer("Count", given=lambda text: len(text) > 0, ensure=[lambda r: r >= 0, lambda r, text: r <= len(text)])
def count(text: str) -> int: ...


@contract
class Claim:
    photos: list[Image]
    receipt: Document | None = None
    key_points: list[Any]


@infer("Assess the claim", prompt_cache=True)
def assess(photo: Image, claim: Claim, voice: Audio | None = None) -> Sentiment: ...


@compute
def rule(text: str) -> bool:
    return "!" in text


@compute
async def classify_by_rule(text: str, strict: bool = False) -> Sentiment:
    return Sentiment(label="neutral", confidence=1.0, reasoning="rule")


@compute(retry_on=(KeyError,))
def lookup(key: str) -> opaque[dict[str, int]]:
    """Look a key up."""
    return {key: 1}


@compute()
async def called_plain(text: str) -> int:
    return len(text)


@infer("Classify with tools", tools=[lookup, rule, called_plain], max_tool_rounds=3)
def classify_with_tools(text: str) -> Sentiment: ...


@flow
async def bare(texts: list[str]) -> list[Sentiment]:
    return [await classify(text=t) for t in texts]


@flow(budget=Budget(usd="0.05", tokens=10_000))
async def budgeted(text: str) -> int:
    return await count(text)


async def usage() -> None:
    assert_type(await classify(text="x"), Sentiment)
    assert_type(await classify("x", strict=True), Sentiment)
    pending = assert_type(classify(text="x"), Coroutine[Any, Any, Sentiment])
    await pending
    assert_type(await classify_sampled(text="x"), Probabilistic[Sentiment])
    assert_type((await classify_sampled(text="x")).most_likely(), Sentiment)
    assert_type(await count(text="x"), int)
    assert_type(rule("x"), bool)
    assert_type(await classify_by_rule("x"), Sentiment)
    assert_type(await bare(["x"]), list[Sentiment])
    assert_type(await classify_with_tools("x"), Sentiment)
    assert_type(lookup("k"), dict[str, int])
    assert_type(await called_plain("x"), int)
    scripted = ScriptedModel([Reply(tool_calls=[ToolCall("lookup", {"key": "k"})]), Reply("done", tool_calls=())])
    with use_model(scripted):
        await classify_with_tools("x")
    assert_type(await budgeted("x"), int)
    s = Sentiment(label="positive", confidence=0.9, reasoning="r")
    assert_type(s.confidence, float)
    assert_type(s.notes, str)
    env = current_budget()
    assert_type(env, Envelope | None)
    if env is not None:
        assert_type(env.remaining_usd, Decimal | None)
        assert_type(env.fraction_used, float)
    with use_model(ScriptedModel([Reply(s, usage=(10, 5))], price=Price(1, 2))):
        assert_type(await classify(text="x"), Sentiment)
    with stub(classify, returns=s) as route:
        assert_type(route.calls, list[Any])  # pyright: ignore[reportAssertTypeFailure]
    with stratum.configure(default_model="openai:gpt-4.1-mini", prompt_cache=True):
        pass
    photo = Image.from_path("claim.jpg")
    assert_type(photo, Image)
    assert_type(Image.from_bytes(b"...", "image/png"), Image)
    assert_type(Document.from_url("https://example.com/r.pdf"), Document)
    assert_type(Audio.from_bytes(b"...", media_type="audio/wav"), Audio)
    assert_type(photo.sha256, str)
    assert_type(photo.media_type, str)
    claim = Claim(photos=[photo], key_points=["a", 1])
    assert_type(claim.key_points, list[Any])
    assert_type(await assess(photo, claim), Sentiment)
    error: type[stratum.StratumError] = stratum.UnsupportedInputError
    del error
    assert_type(await classify_anywhere("x"), Sentiment)
    records: list[TraceRecord] = stratum.trace.records()
    assert_type(records[-1].models_tried, tuple[str, ...])
    assert_type(records[-1].attempt_records[0].model, str | None)
    flows: list[FlowRecord] = stratum.trace.flows()
    assert_type(records[0].cache_savings_usd, Decimal | None)
    audit: stratum.trace.Audit = stratum.trace.audit(flows, records)
    assert_type(audit.render("html"), str)
    assert_type(audit.to_dict(), dict[str, Any])
    assert_type(records[0].usage_estimated, bool)
    assert_type(records[0].attempt_records[0].usage_estimated, bool)
    assert_type(stratum.Usage(100, 10, cache_write_tokens=50, cache_write_1h_tokens=50).cache_write_1h_tokens, int)
    est = estimate(CallSpec(model="gpt-4o", messages=()), "openai")
    assert_type(est.bound, bool)
    assert_type(est.refined(), Estimate)
    del records, flows, audit
    async with classify.stream(text="x") as streamed:
        assert_type(streamed, stratum.InferStream[Sentiment])
        async for partial in streamed:
            assert_type(partial, Sentiment)
        assert_type(await streamed.result(), Sentiment)
        assert_type(streamed.usage, stratum.Usage)
        assert_type(streamed.cost_usd, Decimal | None)
        assert_type(streamed.attempt, int)
        assert_type(streamed.retry_reasons, list[str])
        assert_type(streamed.stopped, Literal["budget", "deadline", "caller"] | None)
    async with hello.stream("Ann") as text_stream:
        async for piece in text_stream:
            assert_type(piece, str)
    try:
        async with count.stream(text="x") as counted:
            assert_type(await counted.result(), int)
    except stratum.BudgetExceeded as exc:
        assert_type(exc.partial, Any)
    with use_model(ScriptedModel([Reply("hi", chunks=3)])):
        pass
    last: TraceRecord = stratum.trace.records()[-1]
    assert_type(last.stopped, Literal["budget", "deadline", "caller"] | None)
    result: str = stratum.run(count(text="x"))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del result


def mcp_engine_calls(engine: stratum.mcp.Engine) -> None:
    """The MCP engine's tools, as called in-process (`stratum.mcp` needs the `mcp` extra)."""
    assert_type(engine.step_done("p-1", "3", {"files": []}, {"tokens": 10}, "why it failed"), dict[str, Any])
    assert_type(engine.gate_resolve("p-1", "review", "approve", "looks right", "ann"), dict[str, Any])
    assert_type(engine.skip_step("p-1", "docs", "not needed"), dict[str, Any])
    assert_type(engine.commit("p-1", "before-tests"), dict[str, Any])
    assert_type(engine.revert("p-1", "before-tests"), dict[str, Any])
    assert_type(engine.request_extension("p-1", {"tool_calls": 5}), dict[str, Any])
    assert_type(engine.audit("p-1", format="md"), dict[str, Any])
    assert_type(stratum.mcp.install(engine.root, clients=("claude", "codex")), list[str])


async def scaling() -> None:
    """Shared ledger, batch, progress."""
    ledger = RedisLedger("redis://127.0.0.1:6379/0", lease=10)
    shared = Budget(usd="5", tokens=1_000_000, ledger="redis://127.0.0.1:6379/0", key="team-a")
    also_shared = Budget(usd=5, ledger=ledger, key="team-b")
    with stratum.configure(ledger=ledger):
        pass
    state: LedgerState = await ledger.state("team-a")
    assert_type(state.spent_usd, Decimal)
    await ledger.reset("team-a")
    results = await classify.batch([{"text": "x"}], retry="online", progress=False)
    assert_type(results, list[Success[Sentiment] | Failure])

    def report(p: Progress) -> None:
        assert_type(p.done, int)
        assert_type(p.remaining_usd, Decimal | None)

    outcomes = await stratum.parallel(classify(text="a"), classify(text="b"), require=0, progress=report)
    assert_type(outcomes, list[Success[Sentiment] | Failure])

    @stratum.flow(budget=shared, progress=report)
    async def job() -> int:
        return 1

    assert_type(await job(), int)
    del also_shared
    try:
        pass
    except LedgerError as exc:
        del exc


def accounts() -> None:
    from stratum.providers import AzureOpenAI, Bedrock, OpenAI, Provider, RateLimit, Vertex

    limit = RateLimit(requests_per_minute=500, tokens_per_minute=200_000, max_queue=100)
    assert_type(limit.waiting, int)

    def token() -> str:
        return "t"

    azure = AzureOpenAI(endpoint="https://r.openai.azure.com", azure_ad_token_provider=token, rate_limit=limit)
    bedrock = Bedrock("us-east-1", structured_output="tool", rate_limit=RateLimit())
    vertex = Vertex("project", "global")
    providers: dict[str, Provider] = {"azure": azure, "bedrock": bedrock, "vertex": vertex, "o": OpenAI(rate_limit=limit)}
    assert_type(bedrock.region, str)
    assert_type(vertex.location, str)
    stratum.configure(providers=providers)
