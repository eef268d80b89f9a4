"""What a durable sink may write: inputs/outputs kept, omitted or hashed; API keys never.

Records' `error` strings come from exceptions whose messages are already key-free; the
scrubber here is the second line of defence and runs over every string a sink writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from stratum.exceptions import ConfigurationError

__all__ = ("REDACTED", "RedactMode", "Redaction", "as_redaction", "digest", "scrub")

RedactMode = Literal["none", "omit", "hash"]

REDACTED = "[REDACTED]"
"""What a key-like secret is replaced with."""

# Key shapes of the providers Stratum talks to, plus bearer/basic headers and `key=...` query
# parameters. Over-matching a long random-looking token is acceptable; leaking a key is not.
# Each pattern runs only when its lower-cased marker is in the text: one alternation over every
# shape cost ~100 us per record, which the writer thread would take from the traced calls.
_KEEP_PREFIX = r"(?P<keep>"
_SECRETS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("sk-",), re.compile(r"sk-(?:ant-[A-Za-z0-9_\-]{8,}|(?:proj-|svcacct-|or-v1-)?[A-Za-z0-9_\-]{16,})")),
    (("aiza",), re.compile(r"AIza[0-9A-Za-z_\-]{30,}")),
    (("gsk_",), re.compile(r"gsk_[A-Za-z0-9]{20,}")),
    (("xai-",), re.compile(r"xai-[A-Za-z0-9]{20,}")),
    (("bearer", "basic"), re.compile(_KEEP_PREFIX + r"(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}")),
    (("key=",), re.compile(_KEEP_PREFIX + r"(?i:api[_-]?key|x-goog-api-key|x-api-key|key)=)[A-Za-z0-9._\-]{8,}")),
)


def _replace(match: re.Match[str]) -> str:
    # Keep "Bearer " / "key=" so the message still says what was there.
    kept = match.groupdict().get("keep")
    return (kept or "") + REDACTED


def scrub(text: str) -> str:
    """`text` with anything shaped like an API key or bearer token replaced by `[REDACTED]`."""
    if len(text) < 8:
        return text
    lowered = text.lower()
    for markers, pattern in _SECRETS:
        if any(m in lowered for m in markers):
            text = pattern.sub(_replace, text)
    return text


def digest(value: Any) -> str:
    """A stable short hash of a JSON-ready value: equal inputs give equal digests across runs."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Redaction:
    """How a sink writes call inputs and outputs (raw model text counts as output).

    `"none"` keeps them, `"omit"` drops them, `"hash"` keeps a `sha256:` digest so equal values
    can still be matched across runs without storing them.
    """

    inputs: RedactMode = "none"
    outputs: RedactMode = "none"

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs"):
            mode = getattr(self, name)
            if mode not in ("none", "omit", "hash"):
                raise ConfigurationError(f"Redaction({name}={mode!r}) is not a mode; use 'none', 'omit' or 'hash'")

    def apply(self, mode: RedactMode, value: Any) -> Any:
        """`value` as the given mode writes it (None when omitted)."""
        if mode == "none" or value is None:
            return value
        if mode == "omit":
            return None
        return digest(value)


def as_redaction(redact: RedactMode | Redaction) -> Redaction:
    """Accept a single mode for both inputs and outputs, or a `Redaction`."""
    if isinstance(redact, Redaction):
        return redact
    return Redaction(inputs=redact, outputs=redact)
