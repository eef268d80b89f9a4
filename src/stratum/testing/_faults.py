"""Ready-made provider faults for scripted responses: `faults.rate_limit(retry_after=2)` and co.

A `Fault` in a `ScriptedModel` script behaves like the HTTP fault a real provider meets: the
retryable ones (429, 5xx, 529, timeouts) are retried by the model's own fault layer, taking the
next scripted response, up to `ScriptedModel.max_retries` times (3, like the built-in providers)
and honouring `retry_after` against the deadline; they do not consume `@infer(retries=)`. When
the fault retries run out, or for a non-retryable fault (401, 400), the same exception a
provider raises reaches the flow. Output faults (refusal, truncation, malformed JSON, content
filter) are ordinary scripted replies with the finish reason a provider reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from stratum.exceptions import (
    AuthenticationError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimitError,
)
from stratum.testing._reply import Reply, render_output

__all__ = ("Fault", "FaultKind", "faults")

FaultKind = Literal["rate_limit", "server_error", "timeout", "auth", "bad_request"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A provider fault to script. Build one with the `faults` helpers.

    Attributes:
        kind: which fault class.
        status_code: the HTTP status (None for a timeout).
        retry_after: seconds the provider asks to wait (rate limits), or None.
        retryable: whether a provider's fault layer retries it.
        body: the error body the provider sent.
    """

    kind: FaultKind
    status_code: int | None
    retry_after: float | None = None
    retryable: bool = True
    body: str = ""

    def error(self, *, provider: str, model: str) -> ProviderError:
        """The exception a provider raises for this fault once its retries are used up."""
        where = f"{provider}:{model}" if provider else model
        if self.kind == "rate_limit":
            headers = {"retry-after": f"{self.retry_after:g}"} if self.retry_after is not None else {}
            return RateLimitError(
                f"{where} rate-limited the call (HTTP 429) after its fault retries; slow down, "
                "raise the provider's max_retries, or check your rate-limit tier",
                status_code=self.status_code or 429,
                body=self.body,
                headers=headers,
                provider=provider,
                model=model,
                retry_after=self.retry_after,
            )
        if self.kind == "timeout":
            return ProviderTimeout(
                f"{where} did not answer in time after its fault retries; check the endpoint or "
                "raise Budget(ms=...)",
                provider=provider,
                model=model,
            )
        if self.kind == "auth":
            return AuthenticationError(
                f"{where} rejected the credentials (HTTP {self.status_code}); check the API key",
                status_code=self.status_code or 401,
                body=self.body,
                provider=provider,
                model=model,
            )
        next_step = (
            "the provider is failing; retry later or fall back to another model"
            if self.retryable
            else "fix the request (model name, parameters)"
        )
        return ProviderHTTPError(
            f"{where} answered HTTP {self.status_code}; {next_step}",
            status_code=self.status_code or 500,
            body=self.body,
            provider=provider,
            model=model,
        )


class _Faults:
    """Factories for every provider fault class (see the module docstring)."""

    __slots__ = ()

    def rate_limit(self, retry_after: float | None = 0.0) -> Fault:
        """HTTP 429 with a `retry-after` of `retry_after` seconds (retryable)."""
        body = json.dumps({"error": {"type": "rate_limit_error", "message": "Rate limit reached"}})
        return Fault(kind="rate_limit", status_code=429, retry_after=retry_after, body=body)

    def server_error(self, status: int = 500) -> Fault:
        """An HTTP 5xx (500, 502, 503…), retryable."""
        if not 500 <= status <= 599:
            raise ValueError(f"server_error takes a 5xx status, got {status}; use faults.bad_request()")
        body = json.dumps({"error": {"type": "api_error", "message": "Internal server error"}})
        return Fault(kind="server_error", status_code=status, body=body)

    def overloaded(self) -> Fault:
        """Anthropic's HTTP 529 "overloaded", retryable."""
        body = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return Fault(kind="server_error", status_code=529, body=body)

    def timeout(self) -> Fault:
        """The transport timed out (retryable); `ProviderTimeout` once retries run out."""
        return Fault(kind="timeout", status_code=None)

    def auth_error(self, status: int = 401) -> Fault:
        """HTTP 401/403: not retried, `AuthenticationError` at once."""
        return Fault(kind="auth", status_code=status, retryable=False, body='{"error": "invalid api key"}')

    def bad_request(self, status: int = 400, message: str = "Invalid request") -> Fault:
        """HTTP 400/404/422: not retried, `ProviderHTTPError` at once."""
        return Fault(
            kind="bad_request", status_code=status, retryable=False, body=json.dumps({"error": {"message": message}})
        )

    def refusal(self, text: str = "I can't help with that.") -> Reply:
        """The model refuses: finish reason `refusal`, raising `RefusalError` (not retried)."""
        return Reply("", finish_reason="refusal", refusal=text)

    def content_filter(self) -> Reply:
        """The provider's content filter withheld the output (`ContentFilterError`)."""
        return Reply("", finish_reason="content_filter")

    def truncated(self, output: Any, *, keep: float = 0.5) -> Reply:
        """`output` cut off at the output limit: finish reason `length`, unparsable JSON.

        The attempt fails as `truncated` and the runtime retries it (it consumes `retries`).
        """
        text = render_output(output)
        return Reply(text[: max(int(len(text) * keep), 1)], finish_reason="length")

    def malformed_json(self, text: str = '{"answer": "unterminated') -> str:
        """Raw text that is not valid JSON (a `parse_error` attempt; consumes `retries`)."""
        return text


faults = _Faults()
"""Ready-made provider faults for `ScriptedModel` scripts (an immutable namespace)."""
