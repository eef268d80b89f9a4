"""A background writer for durable sinks: calls only enqueue; one thread does the I/O.

`emit` is a `put_nowait` on a bounded queue, so a slow disk, a locked database or a dead
collector can never slow or break a call: when the queue is full the record is dropped and
counted. The thread is a daemon (it must never keep the interpreter alive) and every sink
registers a `weakref.finalize` that flushes and stops it at exit or when the sink is garbage
collected, so no module-level registry of sinks is needed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from typing import Any, Generic, Protocol, Self, TypeVar

from stratum._util.secrets import scrub
from stratum.exceptions import ConfigurationError
from stratum.trace._records import FlowRecord, TraceRecord

__all__ = ("DEFAULT_BATCH", "DEFAULT_QUEUE", "Backend", "BackgroundSink", "Worker")

log = logging.getLogger("stratum.trace")

DEFAULT_QUEUE = 10_000
"""Records a durable sink holds in memory before it starts dropping."""

DEFAULT_BATCH = 512
"""Records written per batch (one transaction, one file write, one HTTP request)."""

EXIT_TIMEOUT = 5.0
"""Seconds a sink may spend flushing at interpreter exit."""

ItemT = TypeVar("ItemT")


class Backend(Protocol[ItemT]):
    """The I/O side of a sink; every method runs on the worker thread only."""

    def write(self, items: list[ItemT], /) -> None:
        """Write a batch (raise to report that it was lost)."""
        ...

    def note_dropped(self, count: int, reason: str | None, /) -> None:
        """Record that `count` records were lost (a warning record, a log line…)."""
        ...

    def close(self) -> None:
        """Release files, connections, clients."""
        ...


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_STOP = _Marker("stop")
_NOTE = _Marker("note")


class _Clock:
    """Seconds left of one overall timeout (None: no limit), never negative."""

    __slots__ = ("_end",)

    def __init__(self, timeout: float | None) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def __call__(self) -> float | None:
        return None if self._end is None else max(self._end - time.monotonic(), 0.0)


class Worker(Generic[ItemT]):
    """A bounded queue and the thread that drains it into a `Backend`."""

    def __init__(self, backend: Backend[ItemT], *, name: str, capacity: int = DEFAULT_QUEUE, batch: int = DEFAULT_BATCH) -> None:
        if capacity < 1 or batch < 1:
            raise ConfigurationError(f"queue_size and batch_size must be at least 1, got {capacity} and {batch}; pass positive sizes")
        self._backend = backend
        self._queue: queue.Queue[ItemT | _Marker] = queue.Queue(capacity)
        self._batch = batch
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0
        self._reported = 0
        self.last_error: str | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # --- caller side -------------------------------------------------------------------------

    def put(self, item: ItemT) -> None:
        """Enqueue without ever blocking; count a drop when full or closed."""
        if self._closed:
            self._drop(1)
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(1)

    def _drop(self, count: int, error: str | None = None) -> None:
        with self._lock:
            self.dropped += count
            if error is not None:
                self.last_error = error

    def _wait_drained(self, timeout: float | None) -> bool:
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written (and any drop noted); False on timeout."""
        left = _Clock(timeout)
        if not self._thread.is_alive():
            return self._queue.unfinished_tasks == 0
        if not self._wait_drained(left()):
            return False
        if self.dropped > self._reported:
            try:
                self._queue.put(_NOTE, timeout=left())
            except queue.Full:
                return False
            return self._wait_drained(left())
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread and release the backend. Idempotent.

        `timeout` bounds the whole close (flush, stop and join together): at interpreter exit
        an unreachable collector costs at most `EXIT_TIMEOUT` seconds, not one per step.
        """
        if self._closed:
            return
        left = _Clock(timeout)
        self.flush(left())
        self._closed = True
        try:
            self._queue.put(_STOP, timeout=left())
        except queue.Full:
            pass  # the thread is stuck; it is a daemon and dies with the interpreter
        self._thread.join(left())

    # --- worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            batch: list[ItemT | _Marker] = [first]
            while len(batch) < self._batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items: list[ItemT] = [b for b in batch if not isinstance(b, _Marker)]
            stop = any(b is _STOP for b in batch)
            if items:
                try:
                    self._backend.write(items)
                except Exception as exc:  # noqa: BLE001 - a sink never breaks a call
                    self._drop(len(items), f"{type(exc).__name__}: {exc}")
                    log.warning("stratum trace sink %s lost %d record(s): %s", self._thread.name, len(items), scrub(str(exc)))
                else:
                    self.written += len(items)
            self._note_drops()
            for _ in batch:
                self._queue.task_done()
        try:
            self._backend.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("stratum trace sink %s failed to close: %s", self._thread.name, scrub(str(exc)))

    def _note_drops(self) -> None:
        with self._lock:
            fresh = self.dropped - self._reported
            reason = self.last_error
        if fresh <= 0:
            return
        try:
            self._backend.note_dropped(fresh, reason)
        except Exception:  # noqa: BLE001 - nowhere left to report; the counter still shows it
            return
        with self._lock:
            self._reported += fresh


def _close_at_exit(worker: Worker[Any]) -> None:
    worker.close(EXIT_TIMEOUT)


class BackgroundSink(Generic[ItemT]):
    """Base of the durable sinks: `emit` enqueues, a worker thread writes.

    Subclasses pass a `Backend` and may override `_prepare` to capture, on the calling side,
    what the worker needs besides the record (it runs inside the caller's context).
    """

    def __init__(self, backend: Backend[ItemT], *, name: str, queue_size: int, batch_size: int) -> None:
        self._worker: Worker[ItemT] = Worker(backend, name=name, capacity=queue_size, batch=batch_size)
        # The finalizer holds the worker, never the sink, so an unreferenced sink is collected
        # (and flushed); atexit=True flushes live sinks when the interpreter exits.
        self._finalizer = weakref.finalize(self, _close_at_exit, self._worker)

    def _prepare(self, record: TraceRecord | FlowRecord) -> ItemT:
        return record  # pyright: ignore[reportReturnType] - subclasses with other items override

    def emit(self, record: TraceRecord | FlowRecord, /) -> None:
        """Queue `record` for writing; never blocks, never raises (a full queue drops it)."""
        try:
            self._worker.put(self._prepare(record))
        except Exception:  # noqa: BLE001 - a sink never breaks a call
            self._worker._drop(1)  # pyright: ignore[reportPrivateUsage]

    def flush(self, timeout: float | None = None) -> None:
        """Block until every record emitted so far is written (or `timeout` seconds pass)."""
        self._worker.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the worker and release the file/connection/client. Idempotent."""
        self._worker.close(timeout)
        self._finalizer.detach()

    @property
    def dropped(self) -> int:
        """Records that never reached the store: queue full, sink closed, or a failed write."""
        return self._worker.dropped

    @property
    def written(self) -> int:
        """Records written so far."""
        return self._worker.written

    @property
    def last_error(self) -> str | None:
        """The last write failure, as `"ErrorClass: message"` (None when all went well)."""
        return self._worker.last_error

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
