"""What a durable sink may write: inputs/outputs kept, omitted or hashed; API keys never.

Records' `error` strings come from exceptions whose messages are already key-free; the
scrubber here is the second line of defence and runs over every string a sink writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from stratum._util.secrets import REDACTED
from stratum._util.secrets import scrub as scrub_secrets
from stratum.exceptions import ConfigurationError

__all__ = ("REDACTED", "RedactMode", "Redaction", "as_redaction", "digest", "scrub")

RedactMode = Literal["none", "omit", "hash"]


def scrub(text: str) -> str:
    """`text` with anything shaped like an API key or bearer token replaced by `[REDACTED]`."""
    return scrub_secrets(text)


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
