"""Testing the support app four ways: stub, ScriptedModel, SchemaModel, cassette."""

from __future__ import annotations

import pytest
from app import Triage, draft_reply, handle, triage  # pyright: ignore[reportImplicitRelativeImport]

from stratum import RateLimitError
from stratum.testing import SchemaModel, ScriptedModel, faults, stub, use_model
from stratum.trace import TraceRecord

pytestmark = pytest.mark.anyio

TICKET = "I was charged twice for my May invoice."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_escalations_skip_the_draft(anyio_backend: str) -> None:
    """stub: test the orchestration (the urgency-5 branch) with no model at all."""
    urgent = {"category": "bug", "urgency": 5, "summary": "Checkout is down"}
    with stub(triage, urgent), stub(draft_reply, "unused") as drafts:
        result, reply = await handle("Checkout is down for everyone!")
    assert result.urgency == 5 and "engineer" in reply
    assert drafts.calls == []


async def test_a_weak_triage_is_retried_and_rate_limits_are_absorbed(
    anyio_backend: str, stratum_records: list[TraceRecord]
) -> None:
    """ScriptedModel: the ensure retry path and a provider fault, through the real loop."""
    model = ScriptedModel(
        [
            faults.rate_limit(retry_after=0.01),  # retried by the fault layer, not an ensure retry
            {"category": "bug", "urgency": 1, "summary": "Crash on login"},  # violates the ensure
            {"category": "bug", "urgency": 4, "summary": "Crash on login"},
            "Sorry! We're fixing the login crash now.",
        ]
    )
    with use_model(model):
        result, reply = await handle("The app crashes when I log in")
    assert result.urgency == 4 and reply.startswith("Sorry")
    first = stratum_records[0]
    assert first.attempts == 2 and "urgency" in first.retry_reasons[0]
    assert first.attempt_records[0].fault_retries == 1
    assert "urgency" in model.requests[1].instructions and model.requests[1].attempt == 1  # the retry sent back only what failed


async def test_persistent_rate_limit_reaches_the_caller(anyio_backend: str) -> None:
    with use_model(ScriptedModel([faults.rate_limit(retry_after=0)] * 4)), pytest.raises(RateLimitError):
        await handle(TICKET)


async def test_smoke_any_answer_keeps_the_flow_working(anyio_backend: str) -> None:
    """SchemaModel: valid data for every contract; the flow must cope with all of it."""
    for seed in range(5):
        with use_model(SchemaModel(seed=seed)):
            result, reply = await handle(TICKET)
        assert isinstance(result, Triage) and reply


@pytest.mark.stratum_cassette
async def test_replayed_from_a_cassette(anyio_backend: str, stratum_records: list[TraceRecord]) -> None:
    """cassette: the provider's real wire behaviour, replayed offline with no key."""
    result, reply = await handle(TICKET)
    assert result.category == "billing" and "refunded" in reply
    assert [r.model for r in stratum_records] == ["openai:gpt-4.1-mini"] * 2
    assert stratum_records[0].input_tokens == 120
