"""Every error Stratum raises, under one root.

```
StratumError
 ├── StratumCompileError          a decorator or plan is misconfigured (raised at decoration time)
 ├── ConfigurationError           a runtime setting is missing or wrong (no model, no API key…)
 │    ├── UnknownPriceError       a `usd` budget meets a model with no known price
 │    └── UnsupportedInputError   a media input the provider (or the input type) cannot take
 ├── PreconditionFailed           a `given` check failed; no model was called
 ├── PostconditionFailed          `ensure` still failed after every attempt
 ├── ParseFailure                 the output never parsed or validated against the contract
 ├── BudgetExceeded               an envelope axis (ms, usd, tokens) cannot fit the next step
 ├── LedgerError                  a shared budget ledger (Redis) failed or cannot be reached
 ├── ConvergenceFailure           @refine ran out of iterations
 ├── ConsensusFailure             a quorum did not reach its threshold
 ├── ParallelValidationFailed     parallel(validate=...) rejected the results
 ├── HITLTimeoutError             await_human timed out with on_timeout="raise"
 ├── StabilityAssertionError      Probabilistic.assert_stable() below its threshold
 ├── ScriptExhaustedError         a ScriptedModel ran out of responses
 ├── NetworkBlockedError          a real provider request under block_network()
 ├── CassetteMissError            a request with no recorded match in a cassette
 │    └── StaleCassetteError      the match was recorded for another prompt or contract
 └── ProviderError                the provider failed (after its own fault retries)
      ├── ProviderHTTPError       an HTTP error status (.status_code, .body)
      │    ├── RateLimitError     429 (.retry_after)
      │    └── AuthenticationError 401/403
      ├── ProviderTimeout         the transport timed out or the connection failed
      ├── StreamInterruptedError  a stream broke after its first byte (.received, .usage)
      ├── RefusalError            the model refused to answer
      └── ContentFilterError      the provider filtered the output
```

Every message ends with what to do next. API keys never appear in any message: provider
errors are built from scrubbed bodies (see `stratum.providers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from stratum.trace import AttemptRecord

__all__ = (
    "AuthenticationError",
    "BudgetExceeded",
    "CassetteMissError",
    "ConfigurationError",
    "ConsensusFailure",
    "ContentFilterError",
    "ConvergenceFailure",
    "HITLTimeoutError",
    "LedgerError",
    "NetworkBlockedError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "RateLimitError",
    "RefusalError",
    "ScriptExhaustedError",
    "StabilityAssertionError",
    "StaleCassetteError",
    "StratumCompileError",
    "StratumError",
    "StreamInterruptedError",
    "UnknownPriceError",
    "UnsupportedInputError",
)

Axis = Literal["ms", "usd", "tokens"]


class StratumError(Exception):
    """Root of every error Stratum raises: `except StratumError` catches them all."""


class StratumCompileError(StratumError):
    """A decorator, contract or plan is misconfigured; raised when it is declared."""


class ConfigurationError(StratumError):
    """A runtime setting is missing or wrong (no model configured, no API key, bad value)."""


class UnknownPriceError(ConfigurationError):
    """A call under a `usd` budget uses a model whose price is unknown.

    Attributes:
        model: the model string (`"provider:model"`) with no price.
    """

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class UnsupportedInputError(ConfigurationError):
    """A media input (`Image`, `Document`, `Audio`) that cannot be sent as given.

    Raised when a file's media type does not fit the input type, or when the provider the call
    goes to cannot take that media type (or that way of passing it, e.g. a URL). No request is
    sent, and retrying cannot help: the message names the provider and the fix.

    Attributes:
        media_type: the input's media type (`"audio/wav"`...).
        provider: the wire dialect that cannot take it, or None for a construction error.
    """

    def __init__(self, message: str, *, media_type: str, provider: str | None = None) -> None:
        super().__init__(message)
        self.media_type = media_type
        self.provider = provider


class PreconditionFailed(StratumError):
    """A `given` check returned False; no model was called.

    Attributes:
        function: the qualified name of the `@infer` function.
        condition: the source text of the failed check.
    """

    def __init__(self, message: str, *, function: str, condition: str) -> None:
        super().__init__(message)
        self.function = function
        self.condition = condition


class _AttemptsError(StratumError):
    """Shared base for failures that carry every attempt."""

    def __init__(
        self,
        message: str,
        *,
        function: str,
        violations: Sequence[str],
        retry_history: Sequence[AttemptRecord],
    ) -> None:
        super().__init__(message)
        self.function = function
        self.violations: list[str] = list(violations)
        self.retry_history: list[AttemptRecord] = list(retry_history)


class PostconditionFailed(_AttemptsError):
    """`ensure` still failed after every attempt.

    Attributes:
        violations: the violation messages of the last attempt.
        retry_history: every attempt's `AttemptRecord` (raw output, violations, usage).
    """


class ParseFailure(_AttemptsError):
    """The model's output never parsed or validated against the declared contract.

    Attributes:
        raw_output: the last attempt's raw text.
        violations: what was wrong with it.
        retry_history: every attempt's `AttemptRecord`.
    """

    def __init__(
        self,
        message: str,
        *,
        function: str,
        raw_output: str,
        violations: Sequence[str],
        retry_history: Sequence[AttemptRecord],
    ) -> None:
        super().__init__(
            message, function=function, violations=violations, retry_history=retry_history
        )
        self.raw_output = raw_output


class BudgetExceeded(StratumError):
    """An envelope cannot fit the next step on one axis.

    Attributes:
        axis: `"ms"`, `"usd"` or `"tokens"`.
        limit: the envelope's limit on that axis (ms as float, USD as Decimal, tokens as int).
        spent: what was spent (or would be, with the step) on that axis.
        partial: for a stream cut by the budget or the deadline, the last partial result the
            consumer could have seen (None when nothing had arrived, and for calls that do not
            stream).
    """

    def __init__(
        self, message: str, *, axis: Axis, limit: Decimal | int | float, spent: Any, partial: Any = None
    ) -> None:
        super().__init__(message)
        self.axis: Axis = axis
        self.limit = limit
        self.spent = spent
        self.partial: Any = partial


class LedgerError(StratumError):
    """A shared budget ledger failed or cannot be reached; the call was not sent (or not settled)."""


class ConvergenceFailure(StratumError):
    """`@refine` reached `max_iterations` without `until` holding.

    Attributes:
        history: every iteration's result, oldest first.
    """

    def __init__(self, message: str, *, history: Sequence[Any]) -> None:
        super().__init__(message)
        self.history: list[Any] = list(history)


class ConsensusFailure(StratumError):
    """A quorum did not reach its agreement threshold.

    Attributes:
        outputs: every member's output (or error).
    """

    def __init__(self, message: str, *, outputs: Sequence[Any]) -> None:
        super().__init__(message)
        self.outputs: list[Any] = list(outputs)


class ParallelValidationFailed(StratumError):
    """`parallel(validate=...)` returned False for the collected results.

    Attributes:
        results: what was collected.
    """

    def __init__(self, message: str, *, results: Any) -> None:
        super().__init__(message)
        self.results = results


class HITLTimeoutError(StratumError):
    """`await_human` timed out with `on_timeout="raise"`.

    Attributes:
        review_id: the review that timed out.
    """

    def __init__(self, message: str, *, review_id: str) -> None:
        super().__init__(message)
        self.review_id = review_id


class StabilityAssertionError(StratumError):
    """`Probabilistic.assert_stable()` found sample agreement below the threshold.

    Attributes:
        agreement: the measured agreement, 0..1.
        threshold: the threshold asked for.
    """

    def __init__(self, message: str, *, agreement: float, threshold: float) -> None:
        super().__init__(message)
        self.agreement = agreement
        self.threshold = threshold


class ScriptExhaustedError(StratumError):
    """A `ScriptedModel` was called more times than it has responses."""


class NetworkBlockedError(StratumError):
    """A real provider request was made while the network is blocked."""


class CassetteMissError(StratumError):
    """A request had no recorded match in the cassette."""


class StaleCassetteError(CassetteMissError):
    """The cassette has this request recorded for another prompt or contract hash."""


class ProviderError(StratumError):
    """The provider failed, after its own fault retries.

    Attributes:
        provider: the provider name (`"openai"`, `"anthropic"`…).
        model: the model asked for.
    """

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error status.

    Attributes:
        status_code: the HTTP status.
        body: the response body (text, with anything key-like scrubbed).
        headers: the response headers, lower-cased names.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        provider: str = "",
        model: str = "",
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})


class RateLimitError(ProviderHTTPError):
    """The provider rate-limited the call (429) and retries ran out.

    Attributes:
        retry_after: seconds the provider asked to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        body: str = "",
        headers: dict[str, str] | None = None,
        provider: str = "",
        model: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            body=body,
            headers=headers,
            provider=provider,
            model=model,
        )
        self.retry_after = retry_after


class AuthenticationError(ProviderHTTPError):
    """The provider rejected the credentials (401) or the permission (403)."""


class ProviderTimeout(ProviderError):
    """The request timed out or the connection failed, after the fault retries."""


class StreamInterruptedError(ProviderError):
    """A streamed response broke after its first byte (connection lost, error event).

    Faults before the first byte are retried like any request; once content has arrived the
    stream cannot be resumed, so what arrived is handed back instead.

    Attributes:
        received: the output text that had arrived when the stream broke.
        usage: the usage the provider had reported by then, if any (`stratum.Usage`).
    """

    def __init__(self, message: str, *, received: str = "", usage: Any = None, provider: str = "", model: str = "") -> None:
        super().__init__(message, provider=provider, model=model)
        self.received = received
        self.usage: Any = usage


class RefusalError(ProviderError):
    """The model refused to produce the output.

    Attributes:
        refusal: the model's refusal text.
    """

    def __init__(self, message: str, *, refusal: str = "", provider: str = "", model: str = "") -> None:
        super().__init__(message, provider=provider, model=model)
        self.refusal = refusal


class ContentFilterError(ProviderError):
    """The provider withheld the output because of its content filter."""
