"""Deadlines for many requests on one asyncio event loop, with one loop timer between them.

`asyncio.timeout()` arms and cancels a loop timer for every request (~8 µs of CPU each, and
every cancelled timer stays in the loop's heap until it would have fired). A request's deadline
is needed only when it passes, which a healthy call never lets happen: a `DeadlineWheel` keeps
the deadlines of one provider's requests in its own heap and keeps a single loop timer armed at
the earliest one. Entering a scope is a heap push (the loop timer is moved only when the new
deadline comes first); leaving it marks the entry done. When the timer fires, every expired
scope cancels its task, exactly as `asyncio.timeout` does: the scope's exit turns that
cancellation into `TimeoutError`, and a cancellation from outside still propagates.

Entries that finished stay in the heap until their time comes or until they make up most of
it, when it is rebuilt without them (as the event loop does with cancelled timers).
"""

from __future__ import annotations

import asyncio
import heapq
from types import TracebackType

__all__ = ("DeadlineScope", "DeadlineWheel")

_MIN_REBUILD = 64
"""The heap is rebuilt without finished entries only past this size (below it, it costs nothing)."""


class DeadlineWheel:
    """The deadlines in flight on one event loop, behind one loop timer."""

    __slots__ = ("_armed", "_count", "_done", "_handle", "_heap", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, DeadlineScope]] = []
        self._count = 0  # a tie-breaker: scopes themselves are not ordered
        self._done = 0  # finished entries still in the heap
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0

    def scope(self, seconds: float) -> DeadlineScope:
        """`with wheel.scope(seconds):` inside a task — `TimeoutError` when the block outlives it.

        A plain (not async) context manager: entering and leaving never wait."""
        return DeadlineScope(self, self._loop.time() + seconds)

    def _add(self, scope: DeadlineScope) -> None:
        self._count += 1
        heapq.heappush(self._heap, (scope.when, self._count, scope))
        if self._handle is None or scope.when < self._armed:
            self._arm(scope.when)

    def _finished(self) -> None:
        self._done += 1
        heap = self._heap
        if self._done > _MIN_REBUILD and self._done * 2 > len(heap):
            self._heap = [entry for entry in heap if entry[2].active]
            heapq.heapify(self._heap)
            self._done = 0
            if not self._heap and self._handle is not None:
                self._handle.cancel()
                self._handle = None

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        now = self._loop.time()
        while heap and heap[0][0] <= now:
            scope = heapq.heappop(heap)[2]
            if scope.active:
                scope.expire()
            else:
                self._done -= 1
        if heap:
            self._arm(heap[0][0])


class DeadlineScope:
    """One block under a deadline of a `DeadlineWheel` (the semantics of `asyncio.timeout`)."""

    __slots__ = ("_cancelling", "_task", "_wheel", "active", "expiring", "when")

    def __init__(self, wheel: DeadlineWheel, when: float) -> None:
        self._wheel = wheel
        self.when = when
        self.active = False
        self.expiring = False
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def expired(self) -> bool:
        """True when the deadline passed while the block ran (its task was cancelled for it)."""
        return self.expiring

    def expire(self) -> None:
        """The deadline passed: cancel the task (its exit raises `TimeoutError`)."""
        self.active = False
        self.expiring = True
        assert self._task is not None
        self._task.cancel()

    def __enter__(self) -> DeadlineScope:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline scope must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self.active = True
        self._wheel._add(self)  # pyright: ignore[reportPrivateUsage]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.active:
            self.active = False
            self._wheel._finished()  # pyright: ignore[reportPrivateUsage]
        elif self.expiring:
            assert self._task is not None
            # No other cancellation was asked for meanwhile: this one is ours to turn into a timeout.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
