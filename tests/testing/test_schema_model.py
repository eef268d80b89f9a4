"""SchemaModel: schema-valid, deterministic data for any contract, with zero setup."""

from __future__ import annotations

import datetime as dt
import json
import random
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

import stratum
from stratum import Budget, contract, flow, infer
from stratum._runtime.contracts import output_spec
from stratum.testing import SchemaModel, use_model
from stratum.testing._regex_gen import generate_from_pattern
from stratum.testing._schema_data import generate


class Color(Enum):
    RED = "red"
    GREEN = "green"


@contract
class Address:
    street: Annotated[str, Field(min_length=3, max_length=40)]
    zip_code: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]
    country: Literal["FR", "DE", "US"] = "US"


@contract
class Person:
    name: Annotated[str, Field(min_length=1, max_length=12)]
    age: Annotated[int, Field(ge=0, lt=130)]
    email: Annotated[str, Field(pattern=r"^[a-z]{3,8}@[a-z]{3,6}\.(com|org)$")]
    born: dt.date
    seen_at: dt.datetime | None
    address: Address
    previous: list[Address] = []


@contract
class Scores:
    values: Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=2, max_length=4)]
    tags: Annotated[list[Literal["a", "b", "c"]], Field(min_length=1)]
    weights: dict[str, Annotated[int, Field(multiple_of=5, ge=0, le=50)]]
    kind: Literal["fixed"]
    color: Color
    ratio: Annotated[float, Field(gt=0.1, lt=0.2)]
    maybe: Annotated[int, Field(gt=-5, lt=5)] | None = None


@contract
class Flags:
    ok: bool
    code: Annotated[str, Field(pattern=r"^[A-Z]{2}-\d{3}$")]
    note: Annotated[str, Field(min_length=30, max_length=40)]


OUTPUTS: list[Any] = [
    Person, Address, Scores, Flags, int, float, bool, list[int], list[Person],
    Literal["yes", "no"], Annotated[int, Field(ge=10, le=12)], list[Literal["x", "y"]], dict[str, int],
    dt.date, Person | None,
]  # fmt: skip


@pytest.mark.parametrize("annotation", OUTPUTS, ids=lambda a: getattr(a, "__name__", None) or str(a))
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_generated_data_validates_against_the_contract(annotation: Any, seed: int) -> None:
    spec = output_spec(annotation, "test")
    assert spec.schema is not None
    for i in range(5):
        text = json.dumps(generate(spec.schema, random.Random(seed * 100 + i)))
        spec.parse(text)  # raises on any violation


@contract
class Verdict:
    label: Literal["spam", "ham"]
    confidence: Annotated[float, Field(ge=0, le=1)]
    reasons: Annotated[list[str], Field(min_length=1, max_length=3)]


@infer("Classify the message")
def classify(text: str) -> Verdict: ...


@infer("Summarize the message")
def summarize(text: str) -> str: ...


@infer("Count the words")
def count_words(text: str) -> Annotated[int, Field(ge=0)]: ...


@flow(budget=Budget(usd=0.01))
async def triage(text: str) -> tuple[Verdict, str, int]:
    verdict = await classify(text=text)
    return verdict, await summarize(text=text), await count_words(text=text)


@pytest.mark.anyio
async def test_a_whole_flow_runs_with_zero_setup(anyio_backend: str) -> None:
    """No script, no key, a usd budget: SchemaModel answers every step with valid data."""
    with stratum.trace.capture() as store, use_model(SchemaModel()):
        verdict, summary, words = await triage("WIN A PRIZE NOW")
    assert verdict.label in ("spam", "ham") and 1 <= len(verdict.reasons) <= 3
    assert isinstance(summary, str) and summary.endswith(".") and words >= 0
    records = store.records()
    assert [r.status for r in records] == ["ok", "ok", "ok"]
    assert {r.model for r in records} == {"schema"} and all(r.cost_usd == 0 for r in records)


@pytest.mark.anyio
async def test_same_seed_same_sequence_other_seed_other_data(anyio_backend: str) -> None:
    async def run(seed: int) -> list[Verdict]:
        with use_model(SchemaModel(seed=seed)):
            return [await classify(text=t) for t in ("a", "b", "a", "c")]

    first, again, other = await run(3), await run(3), await run(4)
    assert first == again
    assert first != other


def test_hypothesis_seed_generates_valid_nested_contracts() -> None:
    spec = output_spec(Person, "p")
    assert spec.schema is not None

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(min_value=0, max_value=2**32))
    def check(seed: int) -> None:
        spec.parse(json.dumps(generate(spec.schema or {}, random.Random(seed))))

    check()


_LEAVES: list[Any] = [
    int, float, bool, str, dt.date, dt.datetime,
    Annotated[int, Field(ge=3, le=9)], Annotated[float, Field(gt=-1, lt=1)],
    Annotated[str, Field(min_length=2, max_length=6)], Annotated[str, Field(pattern=r"^[a-f0-9]{4,8}$")],
    Literal["one", "two", "three"],
]  # fmt: skip


def _types(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(_LEAVES)
    if depth == 0:
        return leaf
    inner = _types(depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda t: list[t]),
        inner.map(lambda t: t | None),
        st.tuples(inner, st.integers(0, 2), st.integers(0, 2)).map(
            lambda x: Annotated[list[x[0]], Field(min_length=x[1], max_length=x[1] + x[2])]
        ),
        st.lists(inner, min_size=1, max_size=4).map(_make_contract),
    )


_made = iter(range(10**9))


def _make_contract(fields: list[Any]) -> Any:
    namespace = {"__annotations__": {f"f{i}": t for i, t in enumerate(fields)}}
    return contract(type(f"Generated{next(_made)}", (), namespace))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_types(3).filter(lambda t: t is not str), st.integers(0, 1000))  # `-> str` is plain text
def test_any_generated_contract_gets_valid_data(annotation: Any, seed: int) -> None:
    """Random contracts (nesting, lists with bounds, optionals, literals, patterns, dates)."""
    spec = output_spec(annotation, "generated")
    assert spec.schema is not None
    spec.parse(json.dumps(generate(spec.schema, random.Random(seed))))


@pytest.mark.parametrize(
    "pattern",
    [r"^[A-Z]{3}$", r"^\d{3}-\d{2}$", r"^(cat|dog)s?$", r"^[^@\s]+@example\.com$", r"\w+", r"^a.b$", r"^x{2,}$"],
)
def test_pattern_generator_matches(pattern: str) -> None:
    import re

    rng = random.Random(0)
    for _ in range(20):
        text = generate_from_pattern(pattern, rng, min_len=0, max_len=30)
        assert re.search(pattern, text), (pattern, text)


def test_recursive_refs_stop_at_a_depth_limit() -> None:
    """A self-referencing schema (written by hand: contracts form trees) still terminates."""
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
                "required": ["label", "child"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    for seed in range(50):
        node = generate(schema, random.Random(seed))
        depth = 0
        while node is not None:
            assert isinstance(node["label"], str)
            node, depth = node["child"], depth + 1
        assert depth <= 8


@pytest.mark.parametrize(
    "schema, check",
    [
        ({"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "minItems": 3},
         lambda v: sorted(v) == ["a", "b", "c"]),
        ({"type": "string", "format": "uuid"}, lambda v: len(v) == 36 and v[14] == "4"),
        ({"type": "string", "format": "email"}, lambda v: v.endswith("@example.com")),
        ({"type": "string", "format": "date-time"}, lambda v: dt.datetime.fromisoformat(v).tzinfo is not None),
        ({"type": "number", "exclusiveMinimum": 0.1, "exclusiveMaximum": 0.11}, lambda v: 0.1 < v < 0.11),
        ({"type": "integer", "multipleOf": 7, "minimum": 8, "maximum": 20}, lambda v: v == 14),
        ({"prefixItems": [{"type": "integer"}, {"const": "x"}], "minItems": 2, "items": False},
         lambda v: isinstance(v[0], int) and v[1:] == ["x"]),
        ({"allOf": [{"type": "object", "properties": {"a": {"const": 1}}, "required": ["a"]}]}, lambda v: v == {"a": 1}),
        ({"type": ["string", "null"], "minLength": 2}, lambda v: v is None or len(v) >= 2),
    ],
)
def test_raw_schema_keywords(schema: dict[str, Any], check: Any) -> None:
    for seed in range(20):
        value = generate(schema, random.Random(seed))
        assert check(value), value


def test_unsupported_pattern_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="ScriptedModel"):
        generate_from_pattern(r"^(a)\1$", random.Random(0))
