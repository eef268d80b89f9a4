"""Per-scope routing of `@infer` calls: test doubles and model overrides.

`stratum.testing.use_model` and `stub` enter scopes here; the executor asks `route_for(fn)`.
Inner scopes win over outer ones.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from stratum._runtime import context as _context

__all__ = ("Routing", "StubRoute", "override", "own_model", "route_for")


@dataclass(frozen=True, slots=True)
class StubRoute:
    """Answers for a stubbed function: a list consumed in order, a single value, or an impl."""

    returns: Any
    impl: Callable[..., Any] | None
    sequence: list[Any] | None
    calls: list[Mapping[str, Any]] = field(default_factory=list[Mapping[str, Any]])


@dataclass(frozen=True, slots=True)
class Routing:
    """The overrides of one scope, merged with those around it."""

    default: Any = None
    per_function: Mapping[object, Any] = field(default_factory=lambda: MappingProxyType({}))
    stubs: Mapping[object, StubRoute] = field(default_factory=lambda: MappingProxyType({}))


def route_for(fn: object) -> tuple[StubRoute | None, Any]:
    """The stub for `fn`, or the model override for it (None: no override)."""
    routing = _context.current_routing()
    if routing is None:
        return None, None
    stub = routing.stubs.get(fn)
    if stub is not None:
        return stub, None
    model = routing.per_function.get(fn)
    return None, model if model is not None else routing.default


def own_model(fn: object) -> Any:
    """The model routed to `fn` by name (`use_model(..., per_function=...)`), ignoring the default."""
    routing = _context.current_routing()
    return routing.per_function.get(fn) if routing is not None else None


@contextmanager
def override(
    *,
    default: Any = None,
    per_function: Mapping[object, Any] | None = None,
    stubs: Mapping[object, StubRoute] | None = None,
) -> Generator[Routing, None, None]:
    """Enter a routing scope layered over the current one."""
    outer = _context.current_routing() or Routing()
    routing = Routing(
        default=default if default is not None else outer.default,
        per_function=MappingProxyType({**outer.per_function, **(per_function or {})}),
        stubs=MappingProxyType({**outer.stubs, **(stubs or {})}),
    )
    with _context.routed(routing):
        yield routing
