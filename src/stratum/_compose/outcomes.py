"""What a branch of a composed call ended with, and running branches to collect them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import anyio

__all__ = ("Failure", "Outcome", "Success", "gather")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Success(Generic[T]):
    """A branch of `parallel(require=0)` that returned `value`."""

    value: T

    @property
    def ok(self) -> Literal[True]:
        """Always True (lets `Success | Failure` be told apart without isinstance)."""
        return True


@dataclass(frozen=True, slots=True)
class Failure:
    """A branch of `parallel(require=0)` that raised `error`."""

    error: BaseException

    @property
    def ok(self) -> Literal[False]:
        """Always False."""
        return False


Outcome = Success[T] | Failure
"""What `parallel(require=0)` returns per branch, in input order."""


async def gather(
    thunks: Sequence[Callable[[], Awaitable[T]]], *, fatal: Callable[[Exception], bool]
) -> list[Success[T] | Failure]:
    """Run every thunk concurrently; a `fatal` failure cancels the rest and is re-raised as itself."""
    outcomes: list[Success[T] | Failure | None] = [None] * len(thunks)
    stop: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def one(index: int, thunk: Callable[[], Awaitable[T]]) -> None:
            try:
                outcomes[index] = Success(await thunk())
            except Exception as exc:  # noqa: BLE001 - cancellation (BaseException) must pass
                outcomes[index] = Failure(exc)
                if fatal(exc) and not stop:
                    stop.append(exc)
                    tg.cancel_scope.cancel()

        for index, thunk in enumerate(thunks):
            tg.start_soon(one, index, thunk)
    if stop:
        raise stop[0]
    return [o for o in outcomes if o is not None]
