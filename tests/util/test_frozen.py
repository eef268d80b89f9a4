"""`fast_frozen_init`: the same objects as the dataclass's own `__init__`, built faster."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from stratum._runtime.model import CallSpec, Completion, Message, Usage
from stratum._util.frozen import fast_frozen_init
from stratum.trace import AttemptRecord, TraceRecord


@dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list[int])
    d: int = field(default=4, kw_only=True)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class _Fast:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list[int])
    d: int = field(default=4, kw_only=True)


def test_it_builds_what_the_generated_init_builds() -> None:
    for args, kwargs in [((1,), {}), ((1, "y"), {"d": 7}), ((), {"a": 2, "c": [1]})]:
        plain, fast = _Plain(*args, **kwargs), _Fast(*args, **kwargs)
        assert [getattr(fast, f.name) for f in dataclasses.fields(_Fast)] == [
            getattr(plain, f.name) for f in dataclasses.fields(_Plain)
        ]
    assert _Fast(1).c is not _Fast(1).c  # a fresh default from the factory each time


def test_it_refuses_what_the_generated_init_would_refuse() -> None:
    with pytest.raises(TypeError):
        _Fast()  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError):
        _Fast(1, "y", [], 5)  # pyright: ignore[reportCallIssue]  # d is keyword-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Fast(1).a = 2  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize("cls", [Usage, Message, CallSpec, Completion, AttemptRecord, TraceRecord])
def test_the_hot_types_keep_their_signature_equality_and_hash(cls: type) -> None:
    params = inspect.signature(cls).parameters
    fields = dataclasses.fields(cls)
    assert list(params) == [f.name for f in fields]
    assert all((params[f.name].kind is inspect.Parameter.KEYWORD_ONLY) == f.kw_only for f in fields)


def test_records_stay_frozen_and_hashable_where_they_were() -> None:
    usage = Usage(1, 2)
    assert usage == Usage(input_tokens=1, output_tokens=2) and hash(usage) == hash(Usage(1, 2))
    record = AttemptRecord(attempt=0, prompt_hash="p", outcome="ok")
    assert record.violations == () and hash(record) == hash(AttemptRecord(attempt=0, prompt_hash="p", outcome="ok"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.attempt = 1  # pyright: ignore[reportAttributeAccessIssue]


def test_it_rejects_classes_it_cannot_reproduce() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    for cls in (NoSlots, NotFrozen):
        with pytest.raises(TypeError):
            fast_frozen_init(cls)
