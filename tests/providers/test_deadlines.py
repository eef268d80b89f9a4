"""The deadline wheel: `asyncio.timeout` semantics with one loop timer for every request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from stratum.providers._deadlines import DeadlineWheel


T = TypeVar("T")


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_fn())


def test_a_block_that_ends_in_time_returns_and_leaves_no_timer() -> None:
    async def main() -> None:
        wheel = DeadlineWheel(asyncio.get_running_loop())
        with wheel.scope(5) as scope:
            await asyncio.sleep(0)
        assert not scope.expired()
        assert wheel._handle is not None  # the entry waits in the heap until its time or a rebuild

    run(main)


def test_an_overrunning_block_raises_timeout_at_its_deadline() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        wheel = DeadlineWheel(loop)
        started = loop.time()
        scope = wheel.scope(0.05)
        with pytest.raises(TimeoutError):
            with scope:
                await asyncio.sleep(10)
        assert scope.expired()
        return loop.time() - started

    elapsed = run(main)
    assert 0.04 <= elapsed < 1.0


def test_many_deadlines_each_fire_at_their_own_time_whatever_order_they_come_in() -> None:
    async def main() -> list[tuple[float, bool]]:
        loop = asyncio.get_running_loop()
        wheel = DeadlineWheel(loop)
        started = loop.time()

        async def one(seconds: float, work: float) -> tuple[float, bool]:
            try:
                with wheel.scope(seconds):
                    await asyncio.sleep(work)
                return seconds, False
            except TimeoutError:
                return loop.time() - started, True

        # later deadlines first: the one loop timer must move earlier as they arrive
        return await asyncio.gather(one(0.3, 10), one(0.2, 0.01), one(0.1, 10), one(0.05, 10))

    results = run(main)
    assert [timed_out for _, timed_out in results] == [True, False, True, True]
    assert 0.28 <= results[0][0] < 1.0
    assert 0.08 <= results[2][0] < 0.5
    assert 0.04 <= results[3][0] < 0.5


def test_a_cancellation_from_outside_is_not_turned_into_a_timeout() -> None:
    async def main() -> None:
        wheel = DeadlineWheel(asyncio.get_running_loop())

        async def inner() -> None:
            with wheel.scope(10):
                await asyncio.sleep(10)

        task = asyncio.ensure_future(inner())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)


def test_an_error_inside_the_block_propagates_untouched() -> None:
    async def main() -> None:
        wheel = DeadlineWheel(asyncio.get_running_loop())
        with pytest.raises(KeyError):
            with wheel.scope(10):
                raise KeyError("x")

    run(main)


def test_finished_entries_do_not_pile_up() -> None:
    async def main() -> int:
        wheel = DeadlineWheel(asyncio.get_running_loop())
        for _ in range(10_000):
            with wheel.scope(60):
                pass
        return len(wheel._heap)

    assert run(main) <= 200


def test_a_deadline_already_past_expires_at_the_first_wait() -> None:
    async def main() -> None:
        wheel = DeadlineWheel(asyncio.get_running_loop())
        with pytest.raises(TimeoutError):
            with wheel.scope(-1):
                await asyncio.sleep(1)

    run(main)
