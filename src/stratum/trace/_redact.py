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

__all__ = ("REDACTED", "RedactMode", "Redaction", "as_redaction", "digest", "scrub", "scrub_tree")

RedactMode = Literal["none", "omit", "hash"]

REDACTED = "[REDACTED]"
"""What a key-like secret is replaced with."""

# Key shapes of the providers Stratum talks to, plus bearer/basic headers and `key=...` query
# parameters. Over-matching a long random-looking token is acceptable; leaking a key is not.
_SECRET = re.compile(
    r"sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|sk-(?:proj-|svcacct-|or-v1-)?[A-Za-z0-9_\-]{16,}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|gsk_[A-Za-z0-9]{20,}"
    r"|xai-[A-Za-z0-9]{20,}"
    r"|(?P<scheme>(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}"
    r"|(?P<param>(?i:api[_-]?key|x-goog-api-key|x-api-key|key)=)[A-Za-z0-9._\-]{8,}"
)


def _replace(match: re.Match[str]) -> str:
    # Keep "Bearer " / "key=" so the message still says what was there.
    return (match.group("scheme") or match.group("param") or "") + REDACTED


def scrub(text: str) -> str:
    """`text` with anything shaped like an API key or bearer token replaced by `[REDACTED]`."""
    if len(text) < 8:
        return text
    return _SECRET.sub(_replace, text)


def scrub_tree(value: Any) -> Any:
    """Scrub every string (keys included) inside a JSON-ready value."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_tree(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list):
        return [scrub_tree(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


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
