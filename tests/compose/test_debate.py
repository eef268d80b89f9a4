"""debate(): rounds, opaque rebuttals, convergence, synthesizer mapping, trace links."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratum import contract, debate, infer, opaque
from stratum.testing import Reply, ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import Argument, Ruling

pytestmark = pytest.mark.anyio


@contract
class Proposal:
    title: str


@infer("Argue for the proposal", agree_on="stance", max_tokens=200)
def optimist(proposal: Proposal) -> Argument: ...


@infer("Argue against the proposal", agree_on="stance", max_tokens=200)
def skeptic(tone: str = "dry", idea: Proposal | None = None) -> Argument: ...


@infer("Weigh the debate and rule", max_tokens=200)
def judge(topic: Proposal, arguments: opaque[list[list[Argument]]], converged: bool) -> Ruling: ...


def arg(stance: str, point: str) -> dict[str, str]:
    return {"stance": stance, "point": point}


def scripted(*replies: Any) -> ScriptedModel:
    return ScriptedModel([Reply(r, latency_ms=2) for r in replies])


TOPIC = Proposal(title="four-day week")


async def test_rebuttals_carry_the_other_arguments_as_opaque_data(store: MemorySink) -> None:
    a = scripted(arg("for", "morale up"), arg("for", "still morale"), arg("for", "done"))
    b = scripted(arg("against", "SECRET-POINT costs"), arg("for", "fine, agreed"), arg("for", "agreed"))
    j = scripted({"decision": "adopt", "converged": True})
    with use_model({optimist: a, skeptic: b, judge: j}):
        ruling = await debate([optimist, skeptic], TOPIC, rounds=3, synthesize=judge)
    assert ruling.decision == "adopt"
    # Round 1: the topic only, routed by annotation (skeptic's first parameter is `tone`).
    assert a.requests[0].attachments == {}
    assert "four-day week" in b.requests[0].instructions and "idea: {\"title\": \"four-day week\"}" in b.requests[0].instructions
    # Round 2: the other agent's argument travels as attached data, never in the instruction text.
    seen_by_a = a.requests[1].attachments["other_arguments"]
    assert [o["argument"]["point"] for o in seen_by_a] == ["SECRET-POINT costs"]
    assert "SECRET-POINT" not in a.requests[1].instructions
    assert "round 2 of 3" in a.requests[1].instructions
    assert [o["argument"]["point"] for o in b.requests[1].attachments["other_arguments"]] == ["morale up"]
    # The judge got the topic, the history (rounds x agents) and converged, by name.
    history = j.requests[0].attachments["arguments"]
    assert [[x["stance"] for x in rnd] for rnd in history] == [["for", "against"], ["for", "for"], ["for", "for"]]
    assert "converged: true" in j.requests[0].instructions
    parent = next(r for r in store.records() if r.function == "stratum.debate")
    assert parent.meta["converged"] is True
    members = [r for r in store.records() if r.parent_id == parent.record_id]
    assert sorted((r.meta.get("round"), r.meta.get("agent")) for r in members if "round" in r.meta) == [
        (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)
    ]
    assert [r.meta.get("role") for r in members if "role" in r.meta] == ["synthesize"]
    assert json.dumps(parent.meta)  # plain data


async def test_not_converged_when_agents_still_disagree() -> None:
    got: dict[str, Any] = {}

    async def synth(t: Proposal, hist: list[list[Any]], agreed: bool) -> str:
        got.update(t=t, hist=hist, agreed=agreed)
        return "undecided"

    a = scripted(arg("for", "x"), arg("for", "y"))
    b = scripted(arg("against", "x"), arg("against", "z"))
    with use_model({optimist: a, skeptic: b}):
        assert await debate([optimist, skeptic], TOPIC, 2, synth) == "undecided"
    assert got["t"] == TOPIC and got["agreed"] is False and len(got["hist"]) == 2


async def test_agreeing_but_still_moving_is_not_converged() -> None:
    got: dict[str, Any] = {}

    async def synth(topic: Proposal, history: list[list[Any]], converged: bool) -> bool:
        got["converged"] = converged
        return converged

    a = scripted(arg("against", "x"), arg("for", "y"))
    b = scripted(arg("for", "x"), arg("for", "z"))
    with use_model({optimist: a, skeptic: b}):
        await debate([optimist, skeptic], TOPIC, rounds=2, synthesize=synth)
    assert got["converged"] is False


async def test_plain_async_agents_get_the_others_as_their_second_parameter() -> None:
    calls: list[tuple[str, Any]] = []

    def make(name: str):  # noqa: ANN202 - local helper
        async def agent(question: str, others: list[str] | None = None) -> str:
            calls.append((name, others))
            return f"{name}:{question}"

        return agent

    async def synth(topic: str, arguments: list[list[str]]) -> list[list[str]]:
        return arguments

    history = await debate([make("a"), make("b")], "q", rounds=2, synthesize=synth)
    assert history == [["a:q", "b:q"], ["a:q", "b:q"]]
    assert ("a", ["b:q"]) in calls and ("b", ["a:q"]) in calls


async def test_synthesize_is_required() -> None:
    with pytest.raises(TypeError, match="synthesize"):
        await debate([optimist], TOPIC)
