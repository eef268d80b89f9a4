"""`@flow`: one run's id, budget envelope, records and session cache, shared by every call inside."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, overload

from stratum._runtime import context as _context
from stratum._compose.progress import ProgressOption, Tracker, tracker
from stratum._runtime.budget import Budget, Envelope
from stratum._runtime.recording import FlowRecording
from stratum._util.ids import new_id
from stratum.exceptions import StratumCompileError

__all__ = ("FlowRun", "flow")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True, kw_only=True)
class FlowRun:
    """The live state of one flow run (shared by every task inside it)."""

    name: str
    parent: FlowRun | None
    envelope: Envelope
    budget: Budget | None
    flow_id: str = field(default_factory=new_id)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started: float = field(default_factory=time.monotonic)
    record_ids: list[str] = field(default_factory=list[str])
    session_cache: dict[Any, Any] = field(default_factory=dict[Any, Any])
    review_ids: list[str] = field(default_factory=list[str])
    progress: Tracker | None = None
    """Counts the calls that finish inside this run, when progress is reported."""


def _make_flow(
    fn: Callable[P, Awaitable[R]], budget: Budget | None, progress: ProgressOption = None
) -> Callable[P, Coroutine[Any, Any, R]]:
    if not inspect.iscoroutinefunction(fn):
        raise StratumCompileError(f"@flow {getattr(fn, '__qualname__', fn)!r}: flows must be `async def` functions")
    if budget is not None and not isinstance(budget, Budget):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"@flow {fn.__qualname__!r}: budget must be a stratum.Budget")
    name = fn.__qualname__

    @functools.wraps(fn)
    async def run_flow(*args: P.args, **kwargs: P.kwargs) -> R:
        env = Envelope(budget, _context.current_envelope())
        run = FlowRun(name=name, parent=_context.current_flow(), envelope=env, budget=budget)
        env.flow_id = run.flow_id
        with FlowRecording(run, env, budget), _context.in_flow(run), _context.in_envelope(env):
            if progress is False or (progress is None and run.parent is not None):
                return await fn(*args, **kwargs)
            run.progress = tracker(name, None, progress)
            if run.progress is None:
                return await fn(*args, **kwargs)
            with run.progress:
                return await fn(*args, **kwargs)

    run_flow.__stratum_flow__ = True  # type: ignore[attr-defined]
    return run_flow


@overload
def flow(fn: Callable[P, Awaitable[R]], /) -> Callable[P, Coroutine[Any, Any, R]]: ...


@overload
def flow(
    *, budget: Budget | None = None, progress: ProgressOption = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...


def flow(
    fn: Callable[P, Awaitable[R]] | None = None, /, *, budget: Budget | None = None, progress: ProgressOption = None
) -> Any:
    """Mark an `async def` as a flow: one budget envelope and one `flow_id` for every call inside.

    Use it bare (`@flow`) or with a budget (`@flow(budget=Budget(usd="0.05"))`). Nested flows
    nest envelopes: spending inside is charged to every enclosing flow.

    `progress` reports each call that ends inside the run (done, failed, spent, budget left):
    a callable receiving a `stratum.Progress`, `True` for a bar on stderr, `False` for nothing.
    By default an outermost flow draws a bar only when stderr is a terminal and no test runs.
    """
    if fn is not None:
        return _make_flow(fn, budget, progress)

    def decorate(inner: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        return _make_flow(inner, budget, progress)

    return decorate
