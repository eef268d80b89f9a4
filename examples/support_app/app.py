"""A small support desk: triage a ticket, then draft a reply (the app under test)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stratum import Budget, contract, flow, infer


@contract
class Triage:
    """How to route one ticket."""

    category: Literal["billing", "bug", "question"]
    urgency: Annotated[int, Field(ge=1, le=5)]
    summary: Annotated[str, Field(max_length=120)]


@infer(
    "Triage the customer's support ticket",
    model="openai:gpt-4.1-mini",
    ensure=lambda t: t.urgency >= 3 or t.category != "bug",
    retries=2,
)
def triage(ticket: str) -> Triage: ...


@infer("Draft a short, friendly reply to the customer", model="openai:gpt-4.1-mini")
def draft_reply(ticket: str, category: str) -> str: ...


@flow(budget=Budget(ms=30_000))
async def handle(ticket: str) -> tuple[Triage, str]:
    """Triage the ticket and draft the reply; escalations get a fixed answer."""
    result = await triage(ticket=ticket)
    if result.urgency == 5:
        return result, "We are on it: an engineer will call you within the hour."
    return result, await draft_reply(ticket=ticket, category=result.category)
