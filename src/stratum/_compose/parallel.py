"""`parallel`: run awaitables concurrently in one anyio task group.

Branches inherit the caller's context, so every `@infer` inside draws from the same flow
envelope. A branch that is cancelled (because the group already has its answer, or failed)
releases its budget reservation and leaves a `cancelled` trace record (the executor does both).
Failures are re-raised as themselves, never wrapped in an `ExceptionGroup`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar, overload

import anyio

from stratum._compose.progress import ProgressOption, tracker

from stratum._compose.outcomes import Failure, Success
from stratum._runtime.recording import parent_recording
from stratum.exceptions import ConfigurationError, ParallelValidationFailed

__all__ = ("parallel", "run_branches")

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")

Require = Literal["all", "any"] | int


def _close_unstarted(aws: Sequence[Awaitable[Any]]) -> None:
    # A coroutine whose task was cancelled before its first step was never awaited; close it so
    # Python does not warn "coroutine ... was never awaited" at garbage collection.
    for aw in aws:
        if inspect.iscoroutine(aw) and inspect.getcoroutinestate(aw) == inspect.CORO_CREATED:
            aw.close()


def _needed(require: Require, n: int) -> int:
    if require == "all":
        return n
    if require == "any":
        return 1
    if isinstance(require, bool) or not isinstance(require, int):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"parallel(require={require!r}): use 'all', 'any', an int N >= 0, or 0 to collect every outcome")
    if require < 0 or require > n:
        raise ValueError(
            f"parallel(require={require}) with {n} awaitable(s): N must be between 0 and the number of awaitables"
        )
    return require


async def _check(validate: Callable[[Any], Any] | None, results: Any) -> None:
    if validate is None:
        return
    verdict = validate(results)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if not verdict:
        raise ParallelValidationFailed(
            f"parallel(validate=...) rejected the results: {results!r}; inspect .results, fix the branches, "
            "or relax the validator",
            results=results,
        )


async def run_branches(
    aws: Sequence[Awaitable[Any]],
    require: Require,
    validate: Callable[[Any], Any] | None,
    kind: str,
    progress: ProgressOption = False,
) -> Any:
    n = len(aws)
    try:
        need = _needed(require, n)
        if n == 0 and kind == "race":
            raise ValueError("race() needs at least one awaitable")
        if n == 0 and require == "any":
            raise ValueError("parallel(require='any') needs at least one awaitable")
    except ValueError:
        _close_unstarted(aws)
        raise
    collect_all = require == 0
    outcomes: list[Success[Any] | Failure | None] = [None] * n
    successes: list[Any] = []
    errors: list[Exception] = []
    try:
        report = tracker(f"stratum.{kind}", n, progress)
    except ConfigurationError:
        _close_unstarted(aws)
        raise
    with parent_recording(f"stratum.{kind}", meta={"kind": kind, "require": require, "branches": n}) as parent:
        try:
            async with anyio.create_task_group() as tg:

                async def branch(index: int, aw: Awaitable[Any]) -> None:
                    try:
                        value = await aw
                    except Exception as exc:  # noqa: BLE001 - cancellation (BaseException) must pass
                        outcomes[index] = Failure(exc)
                        errors.append(exc)
                        if report is not None:
                            report.step(False)
                        pending = n - len(successes) - len(errors)
                        if not collect_all and len(successes) + pending < need:
                            tg.cancel_scope.cancel()
                        return
                    outcomes[index] = Success(value)
                    successes.append(value)
                    if report is not None:
                        report.step(True)
                    if not collect_all and len(successes) >= need:
                        tg.cancel_scope.cancel()

                if report is not None:
                    report.__enter__()
                for index, aw in enumerate(aws):
                    tg.start_soon(branch, index, aw)
        finally:
            if report is not None:
                report.__exit__(None, None, None)
            _close_unstarted(aws)
        parent.meta["succeeded"] = len(successes)
        parent.meta["failed"] = len(errors)
        if collect_all:
            result: Any = [o for o in outcomes if o is not None]
        elif len(successes) < need:
            # "all": the first failure itself; "any"/N: the last one (the one that made N impossible).
            raise errors[0] if require == "all" else errors[-1]
        elif require == "all":
            result = tuple(o.value for o in outcomes if isinstance(o, Success))
        elif require == "any":
            result = successes[0]
        else:
            result = successes[:need]
        await _check(validate, result)
        parent.output = result
        return result


@overload
async def parallel(
    a1: Awaitable[T1],
    /,
    *,
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T1]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T1]: ...
@overload
async def parallel(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    /,
    *,
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T1, T2]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T1, T2]: ...
@overload
async def parallel(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    /,
    *,
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T1, T2, T3]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T1, T2, T3]: ...
@overload
async def parallel(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    /,
    *,
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T1, T2, T3, T4]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def parallel(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    a5: Awaitable[T5],
    /,
    *,
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T1, T2, T3, T4, T5]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def parallel(
    *aws: Awaitable[T],
    require: Literal["all"] = "all",
    validate: Callable[[tuple[T, ...]], Any] | None = None,
    progress: ProgressOption = None,
) -> tuple[T, ...]: ...
@overload
async def parallel(
    *aws: Awaitable[T],
    require: Literal["any"],
    validate: Callable[[T], Any] | None = None,
    progress: ProgressOption = None,
) -> T: ...
@overload
async def parallel(
    *aws: Awaitable[T],
    require: Literal[0],
    validate: Callable[[list[Success[T] | Failure]], Any] | None = None,
    progress: ProgressOption = None,
) -> list[Success[T] | Failure]: ...
@overload
async def parallel(
    *aws: Awaitable[T], require: int, validate: Callable[[list[T]], Any] | None = None, progress: ProgressOption = None
) -> list[T]: ...
async def parallel(
    *aws: Awaitable[Any],
    require: Require = "all",
    validate: Callable[[Any], Any] | None = None,
    progress: ProgressOption = None,
) -> Any:
    """Await several calls concurrently, all drawing from the current budget envelope.

    Example:
        ```python
        sentiment, topics = await stratum.parallel(classify(text=t), extract_topics(text=t))
        fastest = await stratum.parallel(*(summarize(text=t) for t in drafts), require="any")
        ```

    Args:
        *aws: the awaitables (usually `@infer` calls), started together in one task group.
        require: `"all"` (default): every branch must succeed; returns a tuple in input order,
            and the first failure cancels the rest and is re-raised as itself.
            `"any"`: the first success wins and the rest are cancelled; if every branch
            fails, the last error is re-raised. `N` (int): returns a list of the first N
            successes in completion order as soon as they exist, cancelling the rest; raises
            the last error once N can no longer be reached. `0`: waits for every branch and
            returns `Success(value)` / `Failure(error)` per branch, in input order.
        validate: called with what would be returned (sync or async); a false result raises
            `ParallelValidationFailed`.
        progress: a callable receiving a `stratum.Progress` (done, failed, spent, remaining
            budget) after each branch ends; `True` for a progress bar on stderr (needs
            `stratum[progress]`); `False` for nothing. Default: a bar only when stderr is a
            terminal and no test is running.

    Raises:
        ParallelValidationFailed: `validate` rejected the results.
        ValueError: `require` is not "all", "any" or an int between 0 and the number of awaitables.
    """
    return await run_branches(aws, require, validate, "parallel", progress)
