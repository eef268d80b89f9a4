"""Server-sent events framing: the bytes of an `text/event-stream` body, as they arrive, into
`(event, data)` pairs.

It follows the WHATWG event-stream rules as `httpx2.EventSource` applies them (lines end in
LF, CRLF or CR; a blank line ends an event; `event:` names it, `data:` lines are joined with
LF, `:` lines are comments; an event is dispatched when it set any field; an unfinished event
at the end of the body is dropped, even when its last line ends in a lone CR, which
`EventSource` dispatches), on bytes rather than decoded text: a provider sends one
small event per chunk, and skipping the text decoder, the line decoder and one object per
line is most of the client's CPU per event. The data is decoded as UTF-8 (a blank line never
falls inside a character, so an event is always whole).

An event larger than `max_event_bytes` raises `httpx2.SSEError` (a transport error) rather
than being held in memory.
"""

from __future__ import annotations

import httpx2

__all__ = ("SSEFrames",)

_DATA = b"data: "


class SSEFrames:
    """Splits an event stream into `(event, data)` pairs; `feed` each chunk as it arrives."""

    __slots__ = ("_cr", "_held", "_held_size", "_limit")

    def __init__(self, max_event_bytes: int) -> None:
        self._limit = max_event_bytes
        self._held: list[bytes] = []  # an event not finished yet, in the chunks it came in
        self._held_size = 0
        self._cr = False  # the last chunk ended in CR: its LF may start the next one

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """The events `chunk` completes, in order (an empty list when it completes none)."""
        if self._cr or b"\r" in chunk:
            chunk = self._lf_only(chunk)
        held = self._held
        if held:
            # only the new bytes (and the seam) can hold the end of the event held so far
            if chunk.find(b"\n\n") < 0 and not (chunk[:1] == b"\n" and held[-1][-1:] == b"\n"):
                return self._hold(chunk)
            held.append(chunk)
            chunk = b"".join(held)
            self._held = []
            self._held_size = 0
        events: list[tuple[str, str]] = []
        start = 0
        while True:
            end = chunk.find(b"\n\n", start)
            if end < 0:
                break
            if end - start > self._limit:
                self._too_big()
            block = chunk[start:end]
            start = end + 2
            if block[:6] == _DATA and b"\n" not in block:  # the usual event: one data line
                events.append(("message", block[6:].decode(errors="replace")))
            else:
                event = _event(block)
                if event is not None:
                    events.append(event)
        if start < len(chunk):
            self._hold(chunk[start:] if start else chunk)
        return events

    def end(self) -> list[tuple[str, str]]:
        """The body ended: the event a CR as its very last byte completes, if any."""
        if not self._cr:
            return []
        self._cr = False
        return self.feed(b"\n")

    def _hold(self, rest: bytes) -> list[tuple[str, str]]:
        self._held.append(rest)
        self._held_size += len(rest)
        if self._held_size > self._limit:
            self._too_big()
        return []

    def _lf_only(self, chunk: bytes) -> bytes:
        """`chunk` with CRLF and CR line ends as LF (a CR at its end waits for the next chunk)."""
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):
            self._cr = True
            chunk = chunk[:-1]
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _too_big(self) -> None:
        self._held = []
        self._held_size = 0
        raise httpx2.SSEError(f"Server-sent event exceeded the {self._limit} byte limit.")


def _event(block: bytes) -> tuple[str, str] | None:
    """The event of one block of lines (no blank line inside), None when it sets no field."""
    name = ""
    data: list[bytes] = []
    pending = False
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
            pending = True
        elif field == b"event":
            name = value.decode(errors="replace")
            pending = True
        elif field == b"id":
            pending = pending or b"\0" not in value
        elif field == b"retry":
            try:
                int(value)
            except ValueError:
                continue
            pending = True
    if not pending:
        return None
    return name or "message", b"\n".join(data).decode(errors="replace")
