"""Judging one attempt's completion, shared by the attempt loop and the streaming loop.

`judge` turns a completion into a verdict: a refusal or a filtered output (errors to raise), an
output that does not parse or validate, one that fails an `ensure`, or the validated value.
`give_up` builds the error raised when no attempt is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratum._runtime.checks import run_ensure
from stratum._runtime.contracts import OutputError
from stratum.exceptions import ContentFilterError, ParseFailure, PostconditionFailed, RefusalError, StratumError

if TYPE_CHECKING:
    from stratum._runtime.model import Completion
    from stratum._runtime.spec import InferSpec
    from stratum.trace import AttemptRecord
    from stratum.trace._records import AttemptOutcome

__all__ = ("Verdict", "give_up", "judge")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one completion amounts to.

    `outcome` is the attempt record's outcome; `value` is set when it is `"ok"`; `error` is set
    for a refusal or a filtered output (raise it: retrying cannot help).
    """

    outcome: AttemptOutcome
    value: Any = None
    violations: tuple[str, ...] = ()
    error: StratumError | None = None


def judge(
    spec: InferSpec, bound: Mapping[str, Any], completion: Completion, *, max_tokens: int | None, provider: str, model: str
) -> Verdict:
    """Parse, validate and check `completion` against the declaration."""
    if completion.finish_reason == "refusal":
        refused = RefusalError(
            f"{spec.qualname}: the model refused: {completion.refusal or completion.text!r}; "
            "rephrase the intent or inputs, or handle RefusalError",
            refusal=completion.refusal or completion.text,
            provider=provider,
            model=model,
        )
        return Verdict("refusal", error=refused)
    if completion.finish_reason == "content_filter":
        filtered = ContentFilterError(
            f"{spec.qualname}: the provider's content filter withheld the output; "
            "change the inputs or handle ContentFilterError",
            provider=provider,
            model=model,
        )
        return Verdict("content_filter", error=filtered)
    try:
        value = spec.output.parse(completion.text)
    except OutputError as exc:
        found: tuple[str, ...] = tuple(exc.violations)
        if completion.finish_reason == "length":
            found = (
                f"the output was cut off at the output limit (max_tokens={max_tokens}) before it was "
                "complete; give a shorter answer",
                *found,
            )
            return Verdict("truncated", violations=found)
        return Verdict("parse_error", violations=found)
    found = tuple(v for check in spec.ensures if (v := run_ensure(check, value, bound)) is not None)
    if found:
        return Verdict("violation", value=value, violations=found)
    return Verdict("ok", value=value)


def give_up(
    spec: InferSpec, attempts: Sequence[AttemptRecord], last: Verdict, last_text: str
) -> ParseFailure | PostconditionFailed:
    """The error for a call whose every attempt failed to parse or to pass its `ensure`."""
    listed = "; ".join(last.violations)
    count = len(attempts)
    if last.outcome in ("parse_error", "truncated"):
        return ParseFailure(
            f"{spec.qualname}: the output did not match {spec.output.name} after {count} attempt(s): "
            f"{listed}. Inspect .retry_history, raise retries=, or simplify the contract",
            function=spec.qualname,
            raw_output=last_text,
            violations=last.violations,
            retry_history=attempts,
        )
    return PostconditionFailed(
        f"{spec.qualname}: ensure failed after {count} attempt(s): {listed}. "
        "Inspect .retry_history, raise retries=, or revisit the ensure",
        function=spec.qualname,
        violations=last.violations,
        retry_history=attempts,
    )
