"""Partial results, piece by piece: what each prefix of a streamed JSON answer yields.

The answers arrive one character per piece (`Reply(..., chunks=len(text))`), so every prefix
of the document is parsed once: fields fill in as they arrive, a nested contract is itself a
partial, a value not valid yet (half a `Literal`) is left out until it is, an invalid field
before the last one does not hide the valid ones, and no partial is repeated."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pytest
from pydantic import Field

from stratum import contract, infer
from stratum.exceptions import ParseFailure
from stratum.testing import Reply, ScriptedModel, use_model

pytestmark = pytest.mark.anyio


@contract
class Owner:
    name: str
    age: Annotated[int, Field(ge=0)]


@contract
class Pet:
    kind: Literal["cat", "dog", "parrot"]
    owner: Owner
    tricks: list[str]
    note: str = "none"
    legs: int = Field(default=4, alias="leg_count")


@infer("Describe the pet")
def describe(text: str) -> Pet: ...


@infer("Describe the pet", retries=0)
def describe_once(text: str) -> Pet: ...


@infer("Count")
def count(n: int) -> list[int]: ...


async def _partials(fn: object, answer: object, **kwargs: object) -> list[object]:
    text = json.dumps(answer)
    with use_model(ScriptedModel([Reply(text, chunks=len(text))])):
        async with fn.stream(**kwargs) as s:  # type: ignore[attr-defined]
            return [p async for p in s]


async def test_fields_fill_in_one_by_one_and_a_nested_contract_is_a_partial_too() -> None:
    answer = {"kind": "parrot", "owner": {"name": "Ada", "age": 36}, "tricks": ["talk", "sing"], "leg_count": 2}
    seen = await _partials(describe, answer, text="x")
    assert all(isinstance(p, Pet) for p in seen)
    pets: list[Pet] = seen  # type: ignore[assignment]
    assert pets[-1] == Pet(kind="parrot", owner=Owner(name="Ada", age=36), tricks=["talk", "sing"], leg_count=2)
    assert all(a != b for a, b in zip(pets, pets[1:]))  # no partial is repeated
    # half a Literal is not a value yet: kind appears once it is whole
    assert [p.kind for p in pets if "kind" in p.model_fields_set][0] == "parrot"
    # the owner being written is a partial Owner: its name grows, its age comes later
    owners = [p.owner for p in pets if "owner" in p.model_fields_set]
    assert all(isinstance(o, Owner) for o in owners) and owners[0].model_fields_set == set()  # just opened
    named = [o for o in owners if o.model_fields_set == {"name"}]
    assert named and all(o.age is None for o in named) and any(o.name == "Ad" for o in named)
    # strings grow as they are written, list items arrive in order
    assert any(p.tricks == ["talk", "si"] for p in pets)
    # an aliased field is read by its JSON key; fields not arrived keep their defaults or None
    assert pets[-1].legs == 2 and pets[0].legs == 4 and pets[0].tricks is None
    # the number is never shown half written
    assert not any(p.owner is not None and p.owner.age == 3 for p in pets)


async def test_an_invalid_field_before_the_last_does_not_hide_the_valid_ones() -> None:
    answer = {"kind": "lizard", "owner": {"name": "Bo", "age": -1}, "tricks": ["hide"], "note": "odd"}
    text = json.dumps(answer)
    seen: list[Pet] = []
    with use_model(ScriptedModel([Reply(text, chunks=len(text))])):
        async with describe_once.stream(text="x") as s:
            with pytest.raises(ParseFailure):  # the final value is invalid: the partials are the point
                async for p in s:
                    seen.append(p)
    last = seen[-1]
    assert "kind" not in last.model_fields_set and last.kind is None  # never valid
    assert last.tricks == ["hide"] and last.note == "odd"  # the valid fields after it are kept
    assert isinstance(last.owner, Owner) and last.owner.name == "Bo" and last.owner.age is None


async def test_a_list_yields_each_item_once_it_is_complete() -> None:
    seen = await _partials(count, {"value": [1, 22, 333, 4444]}, n=4)
    assert seen == [[], [1], [1, 22], [1, 22, 333], [1, 22, 333, 4444]]
