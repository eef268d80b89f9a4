"""`@infer`, `@compute`, `@flow` and `run()`: thin wrappers that keep signatures.

The decorators build specs once; everything that depends on configuration (model, budget
envelope, test doubles) is read when the function is called, never when it is decorated.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload


from stratum import _context
from stratum._budget import Budget, Envelope
from stratum._contracts import caller_namespace
from stratum._executor import check_given, execute, record_call, status_of
from stratum._flows import FlowRun
from stratum._infer_spec import InferSpec, build_spec
from stratum._invoke import dispatch, run_stub
from stratum._routing import route_for
from stratum.exceptions import StratumCompileError
from stratum.trace import FlowRecord, emit
from stratum.trace._records import Status

if TYPE_CHECKING:
    from stratum._probabilistic import Probabilistic

__all__ = ("InferFunction", "compute", "flow", "infer", "run")

Check = (
    Callable[[Any], object]
    | Callable[[Any, Any], object]
    | Callable[[Any, Any, Any], object]
    | Callable[[Any, Any, Any, Any], object]
)
"""An `ensure`/`given` callable: its parameters are typed `Any` so lambdas type-check under strict."""

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class InferFunction(Generic[P, R]):
    """What `@infer` returns: call it like the declared function and await the result.

    `inspect.signature()` shows the original parameters; `.spec` holds the compiled declaration.
    """

    def __init__(self, spec: InferSpec) -> None:
        self.spec = spec
        self._plain = not spec.givens and spec.stable and spec.quorum is None and spec.cache == "none"
        """No preconditions and no composition: a call is the attempt loop itself."""
        functools.update_wrapper(self, spec.fn)
        self.__signature__ = spec.signature

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        # Routing (stubs, use_model) is read when the function is called, like every setting.
        bound = self.spec.bind(args, kwargs)
        stub, override = route_for(self)
        if stub is not None:
            return run_stub(self.spec, stub, bound)
        if self._plain:
            return execute(self.spec, bound, override=override)
        return self._run(bound, override)

    async def _run(self, bound: dict[str, Any], override: Any) -> R:
        check_given(self.spec, bound)
        return await dispatch(self.spec, bound, override)

    def __repr__(self) -> str:
        return f"<infer {self.spec.qualname} -> {self.spec.output.name}>"


@overload
def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: Check | Sequence[Check] = (),
    given: Check | Sequence[Check] = (),
    model: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    budget: Budget | None = None,
    retries: int = 3,
    cache: Literal["none", "session", "global"] = "none",
    stable: Literal[True] = True,
    quorum: int | None = None,
    agree_on: str | None = None,
    threshold: int | None = None,
) -> Callable[[Callable[P, R]], InferFunction[P, R]]: ...


@overload
def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: Check | Sequence[Check] = (),
    given: Check | Sequence[Check] = (),
    model: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    budget: Budget | None = None,
    retries: int = 3,
    cache: Literal["none", "session", "global"] = "none",
    stable: Literal[False],
    quorum: int | None = None,
    agree_on: str | None = None,
    threshold: int | None = None,
) -> Callable[[Callable[P, R]], InferFunction[P, Probabilistic[R]]]: ...


def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: Check | Sequence[Check] = (),
    given: Check | Sequence[Check] = (),
    model: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    budget: Budget | None = None,
    retries: int = 3,
    cache: Literal["none", "session", "global"] = "none",
    stable: bool = True,
    quorum: int | None = None,
    agree_on: str | None = None,
    threshold: int | None = None,
) -> Callable[[Callable[P, Any]], InferFunction[P, Any]]:
    """Declare an LLM call with a typed result, postconditions, retries and a budget.

    The decorated function's body is never run. Calling it returns an awaitable of the
    declared return type, validated against it.

    Example:
        ```python
        @infer("Classify the tone of customer feedback", ensure=lambda r: r.confidence > 0.7,
               budget=Budget(ms=2000, usd="0.01"), retries=2)
        def classify(text: str) -> Sentiment: ...

        result = await classify(text="Love it")
        ```

    Args:
        intent: what the call must do, in plain language (the first part of the prompt).
        context: extra instructions, in order.
        ensure: checks on the result (`lambda r: ...`); a failed one triggers a targeted retry.
        given: checks on the inputs, by parameter name; a failed one raises `PreconditionFailed`.
        model: `"provider:model"`, a registered name, or a model object (see `stratum.testing`).
        temperature: sampling temperature (provider default when None).
        max_tokens: output cap per attempt (lowered to what the budget can pay for).
        budget: this call's own envelope (all attempts), inside the current flow's.
        retries: extra attempts after the first when the output fails to parse or `ensure` fails.
        cache: `"session"` (one flow run) or `"global"` (persistent) result caching.
        stable: False returns `Probabilistic[T]` (sampled `sample_n` times in test mode).
        quorum: run N attempts concurrently and take the agreeing answer (needs `agree_on`, `threshold`).
        agree_on: the result field compared by `quorum`, `debate` and `stable=False`.
        threshold: how many quorum members must agree.

    Raises:
        StratumCompileError: at decoration time, for anything misconfigured.
    """

    def decorate(fn: Callable[P, Any]) -> InferFunction[P, Any]:
        spec = build_spec(
            fn,
            intent=intent,
            context=context,
            ensure=ensure,
            given=given,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            budget=budget,
            retries=retries,
            cache=cache,
            stable=stable,
            quorum=quorum,
            agree_on=agree_on,
            threshold=threshold,
            namespace=caller_namespace(1),
        )
        return InferFunction(spec)

    return decorate


def _trace_compute(
    fn: Callable[..., Any], bound: dict[str, Any], output: Any, error: BaseException | None, started_at: dt.datetime, started: float
) -> None:
    status: Status = "ok" if error is None else status_of(error)
    record_call(
        function=fn.__qualname__,
        model="compute",
        bound=bound,
        output=output,
        status=status,
        error=error,
        started_at=started_at,
        started=started,
    )


def _bind(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return {"args": args, "kwargs": kwargs}
    bound.apply_defaults()
    return dict(bound.arguments)


def compute(fn: Callable[P, R], /) -> Callable[P, R]:
    """Mark a deterministic function: unchanged behaviour, traced at cost 0 inside flows.

    Sync stays sync and async stays async, so an `async def` `@compute` can replace an
    `@infer` of the same signature at every call site.
    """
    sig = inspect.signature(fn)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _context.current_flow() is None:
                return await fn(*args, **kwargs)
            started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
            bound = _bind(sig, args, kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _trace_compute(fn, bound, None, exc, started_at, started)
                raise
            _trace_compute(fn, bound, result, None, started_at, started)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _context.current_flow() is None:
                return fn(*args, **kwargs)
            started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
            bound = _bind(sig, args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _trace_compute(fn, bound, None, exc, started_at, started)
                raise
            _trace_compute(fn, bound, result, None, started_at, started)
            return result

        wrapper = sync_wrapper
    wrapper.__stratum_compute__ = True  # type: ignore[attr-defined]
    return wrapper  # pyright: ignore[reportReturnType]


def _flow_spent_usd(env: Envelope) -> Decimal | None:
    if env.unpriced_calls and not env.spent_usd:
        return None
    return env.spent_usd


def _make_flow(fn: Callable[P, Awaitable[R]], budget: Budget | None) -> Callable[P, Coroutine[Any, Any, R]]:
    if not inspect.iscoroutinefunction(fn):
        raise StratumCompileError(f"@flow {getattr(fn, '__qualname__', fn)!r}: flows must be `async def` functions")
    if budget is not None and not isinstance(budget, Budget):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"@flow {fn.__qualname__!r}: budget must be a stratum.Budget")
    name = fn.__qualname__

    @functools.wraps(fn)
    async def run_flow(*args: P.args, **kwargs: P.kwargs) -> R:
        parent = _context.current_flow()
        env = Envelope(budget, _context.current_envelope())
        run = FlowRun(name=name, parent=parent, envelope=env, budget=budget)
        env.flow_id = run.flow_id
        status: Status = "failed"
        error: BaseException | None = None
        try:
            with _context.in_flow(run), _context.in_envelope(env):
                result = await fn(*args, **kwargs)
            status = "ok"
            return result
        except BaseException as exc:
            error = exc
            status = status_of(exc)
            raise
        finally:
            emit(
                FlowRecord(
                    flow_id=run.flow_id,
                    name=name,
                    parent_flow_id=parent.flow_id if parent is not None else None,
                    status=status,
                    started_at=run.started_at,
                    duration_ms=(time.monotonic() - run.started) * 1000,
                    limits=(budget or Budget()).limits(),
                    spent_usd=_flow_spent_usd(env),
                    spent_tokens=env.spent_tokens,
                    record_ids=tuple(run.record_ids),
                    budget_events=tuple(env.events),
                    error=None if error is None else f"{type(error).__name__}: {error}",
                )
            )

    run_flow.__stratum_flow__ = True  # type: ignore[attr-defined]
    return run_flow


@overload
def flow(fn: Callable[P, Awaitable[R]], /) -> Callable[P, Coroutine[Any, Any, R]]: ...


@overload
def flow(
    *, budget: Budget | None = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...


def flow(
    fn: Callable[P, Awaitable[R]] | None = None, /, *, budget: Budget | None = None
) -> Any:
    """Mark an `async def` as a flow: one budget envelope and one `flow_id` for every call inside.

    Use it bare (`@flow`) or with a budget (`@flow(budget=Budget(usd="0.05"))`). Nested flows
    nest envelopes: spending inside is charged to every enclosing flow.
    """
    if fn is not None:
        return _make_flow(fn, budget)

    def decorate(inner: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        return _make_flow(inner, budget)

    return decorate


def run(awaitable: Awaitable[T]) -> T:
    """Run an awaitable from synchronous code (scripts, notebooks without a loop).

    Raises:
        RuntimeError: when called inside a running event loop; `await` it there instead.
    """
    import anyio.lowlevel

    try:
        anyio.lowlevel.current_token()
    except RuntimeError:  # no event loop here: the only place run() may be used
        pass
    else:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("stratum.run() was called inside a running event loop; use `await` there instead")

    async def main() -> T:
        return await awaitable

    return anyio.run(main)

