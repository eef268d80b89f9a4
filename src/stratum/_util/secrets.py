"""One definition of what a secret looks like, used by errors, traces, cassettes and logs.

Two kinds of removal, applied together by `scrub`:
1. the exact values Stratum knows are secret (the provider's key, headers a cassette drops);
2. anything shaped like a credential: OpenAI/Anthropic/OpenRouter/Groq/xAI keys, Google API
   keys, bearer/basic tokens, and `key=`-style parameters. Over-matching a long random-looking
   token is acceptable; leaking a key is not.

`check_key` refuses a key that cannot be sent as an HTTP header (a trailing newline from
`$(cat key.txt)`, a non-ASCII character pasted from a web page) before any request is built,
with a message that shows no part of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from stratum.exceptions import ConfigurationError

__all__ = ("REDACTED", "SECRET_HEADERS", "SECRET_QUERY", "check_header", "check_key", "is_secret_header", "scrub")

REDACTED = "[REDACTED]"
"""What a secret is replaced with (cassettes pass their own marker)."""

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "set-cookie",
    }
)
"""Header names whose values are credentials (lower case)."""

SECRET_QUERY = frozenset({"key", "api_key", "api-key", "access_token"})
"""Query parameter names whose values are credentials (Gemini's `?key=`)."""

# Each pattern runs only when its lower-cased marker is in the text: one alternation over every
# shape cost ~100 us per trace record, taken from the traced calls by the writer thread.
_KEEP = r"(?P<keep>"
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # sk-... (OpenAI, incl. sk-proj-/sk-svcacct-), sk-ant-... (Anthropic), sk-or-v1-... (OpenRouter)
    (("sk-",), re.compile(r"sk-[A-Za-z0-9_\-]{12,}")),
    (("aiza",), re.compile(r"AIza[0-9A-Za-z_\-]{20,}")),
    (("gsk_",), re.compile(r"gsk_[A-Za-z0-9]{12,}")),
    (("xai-",), re.compile(r"xai-[A-Za-z0-9]{20,}")),
    (("bearer", "basic"), re.compile(_KEEP + r"(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}")),
    (("key=", "token="), re.compile(_KEEP + r"(?i:api[_-]?key|x-goog-api-key|x-api-key|access_token|key)=)[A-Za-z0-9._\-]{8,}")),
)
_MIN_SECRET = 8
"""Known secret values shorter than this are not searched for (too likely to be ordinary text)."""


def _keep_prefix(replacement: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        # keep "Bearer " / "key=" so the message still says what was there
        return (match.groupdict().get("keep") or "") + replacement

    return replace


def scrub(text: str, secrets: Iterable[str | None] = (), *, replacement: str = REDACTED) -> str:
    """`text` with every known secret value and every key-shaped string replaced."""
    for secret in sorted((s for s in secrets if s and len(s) >= _MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, replacement)
    if len(text) < 8:
        return text
    lowered = text.lower()
    for markers, pattern in _SHAPES:
        if any(m in lowered for m in markers):
            text = pattern.sub(_keep_prefix(replacement), text)
    return text


def is_secret_header(name: str) -> bool:
    """True for a header whose value is a credential."""
    return name.lower() in SECRET_HEADERS


def _problem(value: str) -> str | None:
    if value != value.strip():
        return "has leading or trailing whitespace (a newline from a file or `$(cat ...)`?)"
    for index, char in enumerate(value):
        if not char.isascii():
            return f"contains a non-ASCII character at position {index} (pasted from a web page?)"
        if not char.isprintable():
            return f"contains a control character at position {index}"
    return None


def check_key(key: str, *, provider: str, source: str) -> str:
    """Return `key` when it can be sent in an HTTP header; else raise, showing no part of it.

    Args:
        key: the API key.
        provider: the provider it is for, for the message.
        source: where it came from (`"api_key="` or the environment variable's name).
    """
    problem = _problem(key)
    if problem is None:
        return key
    raise ConfigurationError(
        f"the {provider} API key from {source} {problem}; it cannot be sent as an HTTP header. "
        f"Set {source} to the key alone (strip spaces and newlines)"
    )


def check_header(name: str, value: str, *, provider: str) -> None:
    """Raise when a header value cannot be sent (the value is never shown: it may be a secret)."""
    problem = _problem(value) if value else None
    if problem is not None:
        raise ConfigurationError(
            f"the {provider} header {name!r} {problem}; it cannot be sent. Pass the value alone"
        )
