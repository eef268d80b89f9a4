"""`@infer`, `@compute`, `@flow` and `run()`: thin wrappers that keep signatures.

The decorators build specs once; everything that depends on configuration (model, budget
envelope, test doubles) is read when the function is called, never when it is decorated.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from stratum._runtime import call as _call
from stratum._runtime import context as _context
from stratum._runtime.attempts import run_attempts
from stratum._runtime.budget import Budget
from stratum._runtime.contracts import caller_namespace
from stratum._runtime.recording import recording
from stratum._runtime.spec import InferSpec, build_spec
from stratum._runtime.streaming import StreamContext
from stratum.exceptions import StratumCompileError

if TYPE_CHECKING:
    from stratum._compose.outcomes import Failure, Success
    from stratum._compose.probabilistic import Probabilistic
    from stratum._compose.progress import ProgressOption

__all__ = ("CheckFn", "InferFunction", "compute", "infer", "run")

CheckFn = (
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
        self.is_plain = not spec.givens and not spec.composed
        """No preconditions and no composition: a call is the attempt loop itself."""
        functools.update_wrapper(self, spec.fn)
        self.__signature__ = spec.signature

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return _call.start(self, self.spec.bind(args, kwargs))

    async def run(
        self,
        spec: InferSpec,
        bound: Mapping[str, Any],
        model: Any,
        extra_sections: tuple[str, ...] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> Any:
        """What a routed call with checked inputs runs: the composition options, or the attempts."""
        if spec.composed:
            from stratum._compose.options import run_composed

            return await run_composed(spec, bound, model, extra_sections=extra_sections, meta=meta)
        return await run_attempts(spec, bound, model, extra_sections=extra_sections, meta=meta)

    def stream(self, *args: P.args, **kwargs: P.kwargs) -> StreamContext[R]:
        """Stream the call: `async with f.stream(...) as s:`, then `async for partial in s:`.

        Partials are results of the declared type filled in as the output arrives (text pieces
        for `-> str`); `await s.result()` is the final value after the contract and `ensure`;
        `s.usage` and `s.cost_usd` are live. The budget and the deadline can cut the stream
        (`BudgetExceeded` with `.partial`); leaving the block early closes the request. Routing,
        stubs, `given`, retries and the trace apply as for a plain call.

        Example:
            ```python
            async with classify.stream(text="Love it") as s:
                async for partial in s:
                    print(partial.label, partial.reasoning)
                result = await s.result()
            ```
        """
        bound = self.spec.bind(args, kwargs)
        return StreamContext(lambda: _call.open_stream(self, bound))

    async def batch(
        self,
        inputs: Sequence[Mapping[str, Any]],
        *,
        retry: Literal["batch", "online"] = "batch",
        poll_interval: float = 5.0,
        progress: ProgressOption = None,
    ) -> list[Success[R] | Failure]:
        """Run many calls at once through the provider's batch API, at the batch (half) price.

        Example:
            ```python
            results = await classify.batch([{"text": t} for t in texts])
            labels = [r.value.label for r in results if r.ok]
            ```

        Args:
            inputs: one dict of keyword arguments per call.
            retry: items whose output fails the contract or `ensure` (or that the provider
                failed) are retried with only what failed, up to `retries`: in a follow-up
                batch (`"batch"`) or online at full price (`"online"`).
            poll_interval: seconds before the first status check; doubles up to 60 s.
            progress: a callable receiving `stratum.Progress` after each item, `True` for a
                terminal progress bar, `False` for nothing (default: a bar in a terminal only).

        Returns:
            `Success(value)` / `Failure(error)` per input, in input order; each item leaves its
            own trace record. Models without a batch API (and stubs) run the items online.
        """
        return await _call.batch(self, inputs, retry=retry, poll_interval=poll_interval, progress=progress)

    def __repr__(self) -> str:
        return f"<infer {self.spec.qualname} -> {self.spec.output.name}>"


@overload
def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: CheckFn | Sequence[CheckFn] = (),
    given: CheckFn | Sequence[CheckFn] = (),
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
    prompt_cache: bool | None = None,
    tools: Sequence[Callable[..., Any]] = (),
    max_tool_rounds: int = 5,
) -> Callable[[Callable[P, R]], InferFunction[P, R]]: ...


@overload
def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: CheckFn | Sequence[CheckFn] = (),
    given: CheckFn | Sequence[CheckFn] = (),
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
    prompt_cache: bool | None = None,
    tools: Sequence[Callable[..., Any]] = (),
    max_tool_rounds: int = 5,
) -> Callable[[Callable[P, R]], InferFunction[P, Probabilistic[R]]]: ...


def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: CheckFn | Sequence[CheckFn] = (),
    given: CheckFn | Sequence[CheckFn] = (),
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
    prompt_cache: bool | None = None,
    tools: Sequence[Callable[..., Any]] = (),
    max_tool_rounds: int = 5,
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
        model: `"provider:model"`, a registered name, or a model object (see `stratum.testing`);
            or a list of them, a fallback chain tried in order: after a provider fault (once the
            provider's own retries are spent) the next model runs within the same budget.
        temperature: sampling temperature (provider default when None).
        max_tokens: output cap per attempt (lowered to what the budget can pay for).
        budget: this call's own envelope (all attempts), inside the current flow's.
        retries: extra attempts after the first when the output fails to parse or `ensure` fails.
        cache: `"session"` (one flow run) or `"global"` (persistent) result caching.
        stable: False returns `Probabilistic[T]` (sampled `sample_n` times in test mode).
        quorum: run N attempts concurrently and take the agreeing answer (needs `agree_on`, `threshold`).
        agree_on: the result field compared by `quorum`, `debate` and `stable=False`.
        threshold: how many quorum members must agree.
        prompt_cache: mark the stable prefix (intent, context, output schema) as cacheable where
            the provider needs explicit breakpoints (Anthropic `cache_control`); None follows
            `configure(prompt_cache=...)`. OpenAI and Gemini cache prefixes automatically.
        tools: `@compute` functions the model may call before it answers (their signatures
            and docstrings are the tool schemas).
        max_tool_rounds: how many rounds of tool calls the model may make per attempt.

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
            tools=tools,
            max_tool_rounds=max_tool_rounds,
            namespace=caller_namespace(1),
            prompt_cache=prompt_cache,
        )
        return InferFunction(spec)

    return decorate


def _bind(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return {"args": args, "kwargs": kwargs}
    bound.apply_defaults()
    return dict(bound.arguments)


@overload
def compute(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def compute(*, retry_on: tuple[type[Exception], ...] = ()) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def compute(fn: Callable[P, R] | None = None, /, *, retry_on: tuple[type[Exception], ...] = ()) -> Any:
    """Mark a deterministic function: unchanged behaviour, traced at cost 0 inside flows.

    Sync stays sync and async stays async, so an `async def` `@compute` can replace an
    `@infer` of the same signature at every call site. Use it bare (`@compute`) or called.

    Example:
        ```python
        @compute(retry_on=(KeyError,))
        def lookup_order(order_id: str) -> Order: ...

        @infer("Decide the refund", tools=[lookup_order])
        def decide(order_id: str) -> Refund: ...
        ```

    Args:
        retry_on: exceptions that, when the function runs as a tool of an `@infer` call, are
            sent to the model as a tool error (so it can fix its arguments) instead of being
            raised to the caller. A direct call raises them as usual.

    Raises:
        StratumCompileError: `retry_on` is not a tuple of exception classes.
    """
    if not isinstance(retry_on, tuple) or not all(  # pyright: ignore[reportUnnecessaryIsInstance]
        isinstance(e, type) and issubclass(e, Exception) for e in retry_on  # pyright: ignore[reportUnnecessaryIsInstance]
    ):
        raise StratumCompileError(
            f"@compute(retry_on=...) takes a tuple of exception classes, got {retry_on!r}; "
            "e.g. retry_on=(KeyError, ValueError)"
        )
    if fn is None:

        def decorate(inner: Callable[P, R]) -> Callable[P, R]:
            return _make_compute(inner, retry_on)

        return decorate
    return _make_compute(fn, retry_on)


def _make_compute(fn: Callable[P, R], retry_on: tuple[type[Exception], ...]) -> Callable[P, R]:
    sig = inspect.signature(fn)
    name = fn.__qualname__
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _context.current_flow() is None:
                return await fn(*args, **kwargs)
            with recording(name, bound=_bind(sig, args, kwargs), model="compute") as rec:
                rec.output = await fn(*args, **kwargs)
                return rec.output

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _context.current_flow() is None:
                return fn(*args, **kwargs)
            with recording(name, bound=_bind(sig, args, kwargs), model="compute") as rec:
                rec.output = fn(*args, **kwargs)
                return rec.output

        wrapper = sync_wrapper
    wrapper.__stratum_compute__ = True  # type: ignore[attr-defined]
    wrapper.__stratum_retry_on__ = retry_on  # type: ignore[attr-defined]
    return wrapper  # pyright: ignore[reportReturnType]


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

