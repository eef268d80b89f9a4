"""The streaming seam: what a provider yields while a response arrives.

A provider that can stream has, next to `complete`, a method
`stream(call) -> AsyncIterator[StreamEvent]`. It yields `TextDelta`s as output text arrives,
`UsageReport`s whenever the provider reports usage, and ends with the same `Completion` that
`complete` would have returned (its text is the whole output, its usage the final count).
Leaving the iteration early (closing the generator) cancels the request.

Faults before the first byte are retried inside `stream` exactly as in `complete`; a stream
that breaks after that raises `StreamInterruptedError` carrying what had arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stratum._runtime.model import CallSpec, Completion, Usage

__all__ = ("StreamEvent", "StreamingProvider", "TextDelta", "UsageReport")


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of output text, in arrival order (for structured outputs, a piece of the JSON)."""

    text: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The usage the provider has reported so far: it replaces any earlier report."""

    usage: Usage


StreamEvent = TextDelta | UsageReport | Completion
"""One event of a provider stream; the last one is always the `Completion`."""


@runtime_checkable
class StreamingProvider(Protocol):
    """A provider that can also stream a response (the built-ins and the test models do)."""

    name: str

    async def complete(self, call: CallSpec, /) -> Completion:
        """Run one attempt and return the normalized completion."""
        ...

    def stream(self, call: CallSpec, /) -> AsyncIterator[StreamEvent]:
        """Run one attempt, yielding deltas and usage as they arrive, then the `Completion`."""
        ...
