"""A trace store whose records are also a live, growing list (the `stratum_records` fixture)."""

from __future__ import annotations

from stratum.trace import FlowRecord, MemorySink, TraceRecord

__all__ = ("LiveStore",)


class LiveStore(MemorySink):
    """An in-memory store that also appends every call record to `.live`, a plain list.

    `.live` is the same list object for the whole scope, so a test can hold it and see
    records arrive as calls finish.
    """

    def __init__(self) -> None:
        super().__init__(maxlen=1_000_000)
        self.live: list[TraceRecord] = []
        self.forward: MemorySink | None = None
        """A store set by a fixture around the test (e.g. `stratum.trace.capture()`): it sees
        every record too, so the plugin's per-test store never hides records from it."""

    def emit(self, record: TraceRecord | FlowRecord, /) -> None:
        """Keep `record`; call records also go to `.live`, and everything to `forward`."""
        super().emit(record)
        if isinstance(record, TraceRecord):
            self.live.append(record)
        if self.forward is not None:
            self.forward.emit(record)

    def clear(self) -> None:
        """Forget every record (`.live` is emptied in place)."""
        super().clear()
        self.live.clear()
