"""`use_model` and `stub`: route `@infer` calls to test doubles for a scope."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from stratum._runtime.decorators import InferFunction
from stratum._runtime.routing import StubRoute, override

__all__ = ("stub", "use_model")


@contextmanager
def use_model(model: Any) -> Generator[None, None, None]:
    """Route `@infer` calls in this scope to `model`.

    `model` is a model object or model string for every call, or a mapping from `@infer`
    functions to models (`use_model({classify: m1, draft: m2})`); unmapped functions keep
    their own model.
    """
    if isinstance(model, Mapping):
        mapping: Mapping[Any, Any] = model  # pyright: ignore[reportUnknownVariableType]
        for key in mapping:
            if not isinstance(key, InferFunction):
                raise TypeError(f"use_model mapping keys must be @infer functions, got {key!r}")
        with override(per_function=mapping):
            yield
    else:
        with override(default=model):
            yield


@contextmanager
def stub(fn: Any, returns: Any = None, *, impl: Callable[..., Any] | None = None) -> Generator[StubRoute, None, None]:
    """Answer calls of the `@infer` function `fn` without any model.

    `returns` is a value for every call, or a list consumed in order (a list that is itself a
    valid result is returned whole); `impl(**inputs)` (sync or async) computes the answer.
    Results are still validated against the contract and traced with model `"stub"`.
    The yielded route's `.calls` lists the bound inputs of each call.
    """
    if not isinstance(fn, InferFunction):
        raise TypeError(f"stub() takes an @infer function, got {fn!r}")
    if returns is None and impl is None:
        raise TypeError("stub() needs returns= or impl=")
    sequence: list[Any] | None = None
    if isinstance(returns, list):
        try:
            fn.spec.output.adapter.validate_python(returns)
        except ValidationError:
            sequence = list(returns)  # pyright: ignore[reportUnknownArgumentType]
    route = StubRoute(returns=returns, impl=impl, sequence=sequence)
    with override(stubs={fn: route}):
        yield route
