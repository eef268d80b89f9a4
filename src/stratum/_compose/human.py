"""Human review: `await_human`, the `ReviewSink` protocol and a console sink (SPEC §6).

`await_human` emits a `PendingReview` to the configured sink (`configure(review_sink=...)`,
else a `ConsoleReviewSink`) and waits until someone calls `await review.resolve(decision)`,
or until the timeout. The review's id is added to the current flow run, so every trace record
made after it carries `review_id`. Waiting for a human never draws from the budget envelope.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

import anyio
import anyio.from_thread
import anyio.lowlevel
from pydantic import TypeAdapter, ValidationError

from stratum._runtime import context as _context
from stratum._runtime.config import current_settings
from stratum._runtime.recording import recording
from stratum.exceptions import HITLTimeoutError

__all__ = (
    "ConsoleReviewSink",
    "HumanDecision",
    "HumanReviewContext",
    "PendingReview",
    "ReviewSink",
    "await_human",
)

T = TypeVar("T")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class HumanReviewContext:
    """What the reviewer is asked, why, and what they need to see.

    Attributes:
        question: the question put to the reviewer.
        trigger: why review was requested (`"explicit"`, `"debate_disagreement"`, any string).
        artifacts: anything the reviewer needs (debate history, raw outputs...).
    """

    question: str
    trigger: str = "explicit"
    artifacts: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True, slots=True)
class HumanDecision(Generic[T]):
    """A typed decision with its provenance; `.value` is the `T` asked for."""

    value: T
    reviewer: str | None
    rationale: str | None
    decided_at: dt.datetime
    review_id: str


class PendingReview:
    """A review waiting for a decision. Sinks show it to a human and call `resolve`.

    Attributes:
        review_id: stable UUID of the review (also on the trace).
        context: the `HumanReviewContext`.
        options: the allowed values, when the caller listed them.
        expires_at: when `await_human` stops waiting (None: never).
        decision_type: the type a decision's value must have.
    """

    def __init__(
        self,
        review_id: str,
        context: HumanReviewContext,
        options: Sequence[Any] | None,
        expires_at: dt.datetime | None,
        decision_type: Any = object,
    ) -> None:
        self.review_id = review_id
        self.context = context
        self.options: list[Any] | None = None if options is None else list(options)
        self.expires_at = expires_at
        self.decision_type = decision_type
        self._decision: HumanDecision[Any] | None = None
        self._event = anyio.Event()

    @property
    def done(self) -> bool:
        """True once a decision was accepted (later ones are ignored)."""
        return self._decision is not None

    @property
    def decision(self) -> HumanDecision[Any] | None:
        """The accepted decision, if any."""
        return self._decision

    def validate(self, value: Any) -> Any:
        """`value` checked (and, for strings from a console, converted) against `decision_type`.

        Raises:
            TypeError: the value does not fit `decision_type`.
        """
        if self.decision_type is object or self.decision_type is Any:
            return value
        try:
            return TypeAdapter(self.decision_type).validate_python(value)
        except ValidationError as exc:
            raise TypeError(
                f"review {self.review_id}: decision value {value!r} is not a valid "
                f"{getattr(self.decision_type, '__name__', self.decision_type)}: "
                f"{exc.errors(include_url=False)[0]['msg']}; resolve with a value of the declared type"
            ) from None

    async def resolve(self, decision: HumanDecision[Any]) -> None:
        """Fulfil the review with `decision` (validated first); a late or second decision is ignored.

        Raises:
            TypeError: `decision.value` does not fit the declared `decision_type`.
            ValueError: `decision.review_id` names another review.
        """
        if decision.review_id != self.review_id:
            raise ValueError(
                f"decision for review {decision.review_id} was sent to review {self.review_id}; "
                "resolve each PendingReview with its own review_id"
            )
        value = self.validate(decision.value)
        if self._decision is not None:
            return
        self._decision = replace(decision, value=value)
        self._event.set()

    async def wait(self) -> HumanDecision[Any]:
        """Wait for the decision."""
        await self._event.wait()
        assert self._decision is not None
        return self._decision

    def __repr__(self) -> str:
        return f"PendingReview({self.review_id!r}, {self.context.question!r}, done={self.done})"


@runtime_checkable
class ReviewSink(Protocol):
    """Where pending reviews go: a console, a queue, a web UI, a chat message."""

    async def emit(self, review: PendingReview) -> None:
        """Show `review` to a human; someone later calls `await review.resolve(decision)`."""
        ...


class ConsoleReviewSink:
    """Ask on a terminal: print the question, read one line (an option index, or free text).

    The line is read in a daemon thread, so a review that times out never keeps the process
    alive. Caveat: that thread stays blocked on the stream until a line arrives, and takes it.
    """

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None, *, reviewer: str | None = None) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self.reviewer = reviewer

    def _print(self, text: str) -> None:
        out = self._stdout or sys.stdout
        out.write(text + "\n")
        out.flush()

    async def _read_line(self) -> str:
        stream = self._stdin or sys.stdin
        token = anyio.lowlevel.current_token()
        done = anyio.Event()
        box: list[str | BaseException] = []

        def reader() -> None:
            try:
                box.append(stream.readline())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting task
                box.append(exc)
            try:
                anyio.from_thread.run_sync(done.set, token=token)
            except Exception:  # noqa: BLE001 - the loop is gone (the review timed out): drop the line
                return

        threading.Thread(target=reader, name="stratum-review-input", daemon=True).start()
        await done.wait()
        got = box[0]
        if isinstance(got, BaseException):
            raise got
        if got == "":
            raise EOFError("the review input stream ended before a decision was read")
        return got.rstrip("\n")

    def _parse(self, raw: str, review: PendingReview) -> Any:
        text = raw.strip()
        if review.options:
            index = int(text)
            if not 0 <= index < len(review.options):
                raise IndexError(text)
            return review.options[index]
        return text

    async def emit(self, review: PendingReview) -> None:
        """Print the review and resolve it with the line read (asks again on invalid input)."""
        self._print(f"\n[review {review.review_id}] {review.context.question}")
        for i, option in enumerate(review.options or ()):
            self._print(f"  [{i}] {option}")
        while True:
            raw = await self._read_line()
            try:
                value = review.validate(self._parse(raw, review))
            except (ValueError, IndexError, TypeError):
                hint = f"an option number 0-{len(review.options) - 1}" if review.options else "a valid value"
                self._print(f"Invalid decision {raw!r}; enter {hint}.")
                continue
            await review.resolve(
                HumanDecision(value=value, reviewer=self.reviewer, rationale=None, decided_at=_now(), review_id=review.review_id)
            )
            return


def _seconds(timeout: dt.timedelta | float | None) -> float | None:
    if timeout is None:
        return None
    return timeout.total_seconds() if isinstance(timeout, dt.timedelta) else float(timeout)


async def await_human(
    context: HumanReviewContext,
    decision_type: type[T],
    options: Sequence[T] | None = None,
    timeout: dt.timedelta | float | None = None,
    on_timeout: T | Literal["raise"] = "raise",
) -> HumanDecision[T]:
    """Ask a human for a typed decision and wait for it.

    Example:
        ```python
        decision = await stratum.await_human(
            HumanReviewContext(question="Ship this reply?", artifacts={"draft": draft}),
            decision_type=bool, timeout=timedelta(minutes=30), on_timeout=False)
        if decision.value: ...
        ```

    Args:
        context: the question and what the reviewer needs to see.
        decision_type: the type of `HumanDecision.value`; decisions are validated against it.
        options: the allowed values, shown to the reviewer.
        timeout: wall-clock limit (a `timedelta` or seconds); never drawn from the budget.
        on_timeout: `"raise"` raises `HITLTimeoutError`; any other value is returned as a
            `HumanDecision(value=on_timeout, reviewer="auto", rationale="timeout")`.

    Raises:
        HITLTimeoutError: the timeout passed with `on_timeout="raise"`.
        TypeError: `on_timeout` does not fit `decision_type`.
    """
    review_id = str(uuid.uuid4())
    seconds = _seconds(timeout)
    expires_at = _now() + dt.timedelta(seconds=seconds) if seconds is not None else None
    review = PendingReview(review_id, context, options, expires_at, decision_type)
    fallback: Any = None if on_timeout == "raise" else review.validate(on_timeout)
    sink = current_settings().review_sink or ConsoleReviewSink()
    flow = _context.current_flow()
    if flow is not None:
        flow.review_ids.append(review_id)
    meta: dict[str, Any] = {"kind": "await_human", "review_id": review_id, "timed_out": False}
    bound = {"question": context.question, "trigger": context.trigger, "options": review.options}
    with recording("stratum.await_human", bound=bound, model="human", meta=meta) as rec:
        decision: HumanDecision[Any] | None = None
        sink_errors: list[Exception] = []
        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tg:

                async def run_sink() -> None:
                    try:
                        await sink.emit(review)
                    except Exception as exc:  # noqa: BLE001 - re-raised as itself below, not as a group
                        sink_errors.append(exc)
                        tg.cancel_scope.cancel()

                tg.start_soon(run_sink)
                decision = await review.wait()
                tg.cancel_scope.cancel()  # the sink may still be waiting on its own input
        if decision is None and sink_errors:
            raise sink_errors[0]
        if decision is None:
            if on_timeout == "raise":
                raise HITLTimeoutError(
                    f"review {review_id} ({context.question!r}) got no decision within {seconds:g} s; "
                    "raise timeout=, pass on_timeout=<fallback value>, or check the review sink",
                    review_id=review_id,
                )
            decision = HumanDecision(value=fallback, reviewer="auto", rationale="timeout", decided_at=_now(), review_id=review_id)
            rec.meta["timed_out"] = True
        rec.output = decision.value
        return cast("HumanDecision[T]", decision)
