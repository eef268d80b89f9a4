"""HTTP faults: scrubbing secrets, reading retry hints, and mapping failures to Stratum errors.

The same code serves `httpx2` and a user-injected httpx 0.x client: both libraries name their
exceptions identically, so transport errors are classified by class name along the MRO rather
than by identity (no import of httpx 0.x is needed when it is not installed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from stratum._runtime.model import Usage
from stratum._util.backoff import retry_after_seconds
from stratum._util.secrets import is_secret_header
from stratum._util.secrets import scrub as scrub_secrets
from stratum.exceptions import (
    AuthenticationError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimitError,
)

__all__ = (
    "NEVER_RETRY",
    "is_transport_error",
    "map_status",
    "map_transport",
    "retry_after_seconds",
    "safe_cause",
    "scrub",
    "server_error",
    "should_retry",
)

NEVER_RETRY = frozenset({400, 401, 403, 404, 422})
"""Statuses that mean the request itself is wrong: retrying cannot help (DESIGN §9)."""

_RETRY_STATUSES = frozenset({408, 409, 429})

_MAX_BODY = 4000


def scrub(text: str, secret: str | None = None) -> str:
    """Remove the provider's key and anything key-like from `text` (and cap its length)."""
    text = scrub_secrets(text, (secret,))
    if len(text) > _MAX_BODY:
        text = text[:_MAX_BODY] + "…"
    return text


def _safe_headers(headers: Mapping[str, str], secret: str | None) -> dict[str, str]:
    return {k.lower(): scrub(v, secret) for k, v in headers.items() if not is_secret_header(k)}


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an error status is a transient fault worth retrying."""
    if status in NEVER_RETRY:
        return False
    hint = headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status in _RETRY_STATUSES or status >= 500


def safe_cause(exc: BaseException, secret: str | None) -> BaseException | None:
    """`exc` when it is safe to chain (`raise ... from exc`), None when its text may hold a secret.

    A transport error can quote what was sent: httpx's `Illegal header value b'Bearer sk-...'`
    prints the key. A chained traceback shows the cause's message, so such a cause is dropped.
    """
    text = str(exc)
    if "header" in text.lower() or scrub_secrets(text, (secret,)) != text:
        return None
    return exc


def server_error(data: Mapping[str, Any], dialect: str) -> int | Literal[False] | None:
    """For a 2xx body carrying `{"error": ...}` instead of a reply: the HTTP status it names
    (`error.code` or `error.status` as 4xx/5xx; 500 when it gives only a message), False when it
    gives nothing usable, and None when the body is not an error.

    A body with a reply next to a null/empty `error` (OpenAI Responses) is not an error here.
    """
    error = data.get("error")
    if not error or dialect == "openai-responses":
        return None
    if isinstance(error, dict):
        fields = cast(dict[str, Any], error)
        for key in ("code", "status"):
            value = fields.get(key)
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if type(value) is int and 400 <= value < 600:
                return value
        return 500 if _message_of(fields) else False
    return 500 if isinstance(error, str) else False


def _message_of(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    return message if isinstance(message, str) else ""


def _error_message(body: str) -> str:
    """The human part of a JSON error body (OpenAI, Anthropic and Google shapes), if any."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    obj = cast(dict[str, Any], data)
    error: Any = obj.get("error")
    if isinstance(error, dict):
        return _message_of(cast(dict[str, Any], error))
    if isinstance(error, str):
        return error
    message = obj.get("message")
    return message if isinstance(message, str) else ""


def map_status(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    secret: str | None,
    retries: int,
    usage: Usage | None,
) -> ProviderHTTPError:
    """Build the Stratum error for an HTTP error response (body and headers scrubbed)."""
    clean_body = scrub(body, secret)
    clean_headers = _safe_headers(headers, secret)
    # The provider's own message often ends with a full stop; ours adds one after it.
    detail = (scrub(_error_message(body), secret) or clean_body[:300]).rstrip(" .")
    tried = f" after {retries} fault retr{'y' if retries == 1 else 'ies'}" if retries else ""
    where = f"{provider} ({model})" if model else provider
    common: dict[str, Any] = {
        "status_code": status,
        "body": clean_body,
        "headers": clean_headers,
        "provider": provider,
        "model": model,
    }
    error: ProviderHTTPError
    if status == 429:
        wait = retry_after_seconds(headers)
        hint = f" (the provider asked to wait {wait:g} s)" if wait is not None else ""
        error = RateLimitError(
            f"{where} rate-limited the call{tried}{hint}: {detail}. Slow down, lower concurrency, "
            "raise the provider's max_retries=, or check your quota",
            retry_after=wait,
            **common,
        )
    elif status in (401, 403) or (status == 400 and "API_KEY_INVALID" in body):
        # Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID
        error = AuthenticationError(
            f"{where} rejected the credentials (HTTP {status}): {detail}. Check the API key "
            "(and its permissions) for this provider",
            **common,
        )
    else:
        if status in NEVER_RETRY:
            nxt = "Fix the request (model name, parameters, schema); it was not retried"
        else:
            nxt = "The provider is failing; retry later or raise the provider's max_retries="
        error = ProviderHTTPError(f"{where} answered HTTP {status}{tried}: {detail}. {nxt}", **common)
    if usage is not None:
        error.usage = usage  # pyright: ignore[reportAttributeAccessIssue]
    return error


_TRANSPORT_ROOTS = ("TransportError",)
_TIMEOUTS = ("TimeoutException",)


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_transport_error(exc: BaseException) -> bool:
    """True for an `httpx2`/`httpx` transport failure (timeout, connect, read, protocol...)."""
    module = type(exc).__module__
    return module.startswith(("httpx", "httpcore")) and bool(_names(exc) & set(_TRANSPORT_ROOTS))


def map_transport(exc: BaseException, *, provider: str, model: str, secret: str | None, retries: int) -> ProviderError:
    """Build the Stratum error for a transport failure (timeouts, refused connections...)."""
    kind = type(exc).__name__
    timed_out = bool(_names(exc) & set(_TIMEOUTS))
    tried = f" after {retries} fault retr{'y' if retries == 1 else 'ies'}" if retries else ""
    what = "timed out" if timed_out else "failed to connect or lost the connection"
    where = f"{provider} ({model})" if model else provider
    detail = scrub(str(exc), secret)
    return ProviderTimeout(
        f"{where}: the request {what}{tried} ({kind}: {detail or 'no detail'}). Check the network "
        "and base_url, raise the time budget, or raise the provider's max_retries=",
        provider=provider,
        model=model,
    )
