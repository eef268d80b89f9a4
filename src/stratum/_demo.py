"""The demo flow: SPEC §13's support-ticket triage, offline on scripted models by default."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Literal

from pydantic import Field

import stratum
from stratum import Budget, compute, contract, flow, infer
from stratum.exceptions import ConfigurationError, StratumError
from stratum.pricing import Price, price_of
from stratum.providers import resolve_model
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import JsonlSink, SqliteSink

__all__ = ("DEFAULT_TRACE", "main")

DEMO_PRICE_MODEL = "openai:gpt-4.1-mini"
"""The offline demo meters its scripted calls at this model's price."""

FALLBACK_PRICE = Price(input_per_mtok="0.40", output_per_mtok="1.60", cached_input_per_mtok="0.10")
"""Used only when the price catalog has no row for DEMO_PRICE_MODEL."""


@contract
class SentimentResult:
    """The tone of a piece of customer feedback."""

    label: Literal["positive", "negative", "neutral"]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    reasoning: str


@contract
class Resolution:
    """What support answers, and whether a human takes over."""

    response: str
    escalate: bool


@infer(
    intent="Classify the emotional tone of customer feedback",
    context="Treat sarcasm as negative. When genuinely ambiguous, use neutral.",
    ensure=lambda r: r.confidence > 0.7,
    budget=Budget(ms=20_000, usd="0.001"),
    retries=3,
    max_tokens=300,
)
def classify_sentiment(text: str) -> SentimentResult: ...


@compute
def needs_escalation(sentiment: SentimentResult, category: str) -> bool:
    """Escalate confident negative feedback about billing or outages."""
    return sentiment.label == "negative" and sentiment.confidence > 0.9 and category in ("billing", "outage")


@infer(
    intent="Draft a helpful response to a support ticket",
    ensure=lambda r: len(r.response) > 0,
    budget=Budget(ms=30_000, usd="0.002"),
    max_tokens=400,
)
def draft_response(text: str, category: str, sentiment: SentimentResult) -> Resolution: ...


@flow(budget=Budget(ms=60_000, usd="0.01"))
async def process_ticket(text: str, category: str) -> Resolution:
    """Classify, then escalate or draft a reply."""
    sentiment = await classify_sentiment(text=text)
    if needs_escalation(sentiment, category):
        return Resolution(response="Escalated to senior support.", escalate=True)
    return await draft_response(text=text, category=category, sentiment=sentiment)


TICKETS = (
    ("I was charged twice this month and nobody answers my emails. Fix it now.", "billing"),
    ("The new dashboard is lovely, but where did the CSV export go?", "product"),
)


def _scripted() -> dict[Any, ScriptedModel]:
    price = price_of(DEMO_PRICE_MODEL) or FALLBACK_PRICE
    classifier = ScriptedModel(
        [
            Reply(
                {"label": "negative", "confidence": 0.42, "reasoning": "Angry, but it might be sarcasm."},
                usage=(96, 31),
                latency_ms=5,
            ),
            Reply(
                {"label": "negative", "confidence": 0.96, "reasoning": "A double charge and no reply: clearly upset."},
                usage=(171, 29),
                latency_ms=5,
            ),
            Reply(
                {"label": "positive", "confidence": 0.84, "reasoning": "Praise with a feature question."},
                usage=(94, 22),
                latency_ms=5,
            ),
        ],
        price=price,
    )
    drafter = ScriptedModel(
        [
            Reply(
                {
                    "response": "Thanks! CSV export moved to Reports → Export; we'll make it easier to find.",
                    "escalate": False,
                },
                usage=(188, 41),
                latency_ms=5,
            )
        ],
        price=price,
    )
    return {classify_sentiment: classifier, draft_response: drafter}


async def _run_all(model: str | None) -> list[Resolution]:
    results: list[Resolution] = []
    if model is None:
        with use_model(_scripted()):
            for text, category in TICKETS:
                results.append(await process_ticket(text=text, category=category))
    else:
        with use_model(model):
            for text, category in TICKETS:
                results.append(await process_ticket(text=text, category=category))
    return results


def _check_model(model: str) -> str | None:
    """Why `model` cannot run here (no key, unknown provider), or None when it can."""
    try:
        resolve_model(model)
    except ConfigurationError as exc:
        return str(exc)
    return None


DEFAULT_TRACE = ".stratum/traces.db"
"""Where the demo writes its trace (the store `stratum audit` reads by default)."""


def _trace_sink(path: str) -> JsonlSink | SqliteSink:
    """A JSONL sink for `*.jsonl` paths, else a SQLite store."""
    return JsonlSink(path) if path.endswith((".jsonl", ".ndjson")) else SqliteSink(path)


def main(model: str | None = None, *, trace: str | None = DEFAULT_TRACE) -> int:
    """Run the demo and print each ticket's result and the audit; returns the exit code.

    The trace is also written to `trace` (a SQLite store, or JSONL for `*.jsonl`) so that
    `stratum audit` right after shows the same flows; `None` keeps it in memory only.
    """
    offline = model is None
    if model is not None:
        problem = _check_model(model)
        if problem is not None:
            print(f"Cannot call {model}: {problem}\nFalling back to the offline demo.\n", file=sys.stderr)
            model, offline = None, True
    where = "offline, on scripted models" if offline else f"against {model}"
    print(f"Stratum demo: support-ticket triage ({where})\n")
    stratum.trace.clear()
    try:
        sink = _trace_sink(trace) if trace is not None else None
    except (OSError, StratumError) as exc:
        print(f"Cannot write the trace to {trace}: {exc}", file=sys.stderr)
        return 1
    try:
        with stratum.trace.sinks(*(() if sink is None else (sink,))):
            results = stratum.run(_run_all(model))
    except StratumError as exc:
        print(f"The flow failed: {exc}", file=sys.stderr)
        results = []
    finally:
        if sink is not None:
            sink.close()
    for (text, category), result in zip(TICKETS, results, strict=False):
        verdict = "ESCALATED" if result.escalate else "reply"
        print(f"[{category}] {text}\n  -> {verdict}: {result.response}\n")
    print(stratum.trace.render_audit(stratum.trace.flows(), stratum.trace.records()))
    if trace is not None:
        where = "" if trace == DEFAULT_TRACE else f" {trace}"
        last = f" --last {len(TICKETS)}"  # the file keeps earlier runs too
        print(f"Trace written to {trace}. See this run again with `stratum audit{where}{last}`, "
              f"or as a page with `stratum audit{where}{last} --open`.")
    if os.environ.get("STRATUM_DEMO_DEBUG"):
        for record in stratum.trace.records():
            print(record)
    return 0 if len(results) == len(TICKETS) else 1
