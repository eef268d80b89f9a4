"""Remove secrets from HTTP traffic before a cassette is written, and normalize for matching.

Three layers, because one forgotten place is enough to leak a key into git:
1. headers by name (auth, cookies, org/project ids) and query parameters by name (`?key=`) are
   dropped;
2. the *values* of what was dropped are then replaced wherever else they appear (bodies,
   other headers, the URL), e.g. a provider echoing the key back in a 401 body;
3. well-known key shapes (`sk-…`, `AIza…`, `gsk_…`, bearer tokens...) are replaced in bodies
   (the one definition in `stratum._util.secrets`, shared with errors and traces).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from stratum._util.secrets import SECRET_HEADERS, SECRET_QUERY
from stratum._util.secrets import scrub as scrub_secrets
from stratum.testing._media_bodies import hash_media

__all__ = (
    "DEFAULT_SCRUB_HEADERS",
    "DEFAULT_SCRUB_QUERY",
    "REDACTED",
    "Scrubber",
    "header_pairs",
    "normalize_body",
    "normalize_url",
    "pretty_body",
)

DEFAULT_SCRUB_HEADERS: tuple[str, ...] = (
    *sorted(SECRET_HEADERS),
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
)
"""Header names (case-insensitive) removed from recorded requests and responses."""

DEFAULT_SCRUB_QUERY: tuple[str, ...] = tuple(sorted(SECRET_QUERY))
"""Query parameter names removed from recorded URLs (Gemini's `?key=`)."""

REDACTED = "<scrubbed>"
"""What a secret found inside a body or another header is replaced with."""

_MIN_SECRET = 8
"""Shorter dropped values are not searched for elsewhere (too likely to be ordinary text)."""


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Which headers and query parameters are secrets."""

    headers: frozenset[str]
    query: frozenset[str]

    @classmethod
    def of(cls, headers: Iterable[str], query: Iterable[str]) -> Scrubber:
        """Build from name lists (case-insensitive)."""
        return cls(frozenset(h.lower() for h in headers), frozenset(q.lower() for q in query))

    def secrets_in(self, url: str, headers: Iterable[tuple[str, str]]) -> list[str]:
        """The secret values a request carries (longest first, so replacements don't nest)."""
        found: set[str] = set()
        for name, value in headers:
            if name.lower() in self.headers:
                found.add(value)
                scheme, _, token = value.partition(" ")
                if token and scheme.lower() in ("bearer", "basic", "token"):
                    found.add(token)
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
            if name.lower() in self.query:
                found.add(value)
        return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)

    def url(self, url: str, secrets: Sequence[str]) -> str:
        """`url` without secret query parameters, and without secret values anywhere else."""
        parts = urlsplit(url)
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in self.query]
        cleaned = urlunsplit(parts._replace(query=urlencode(kept)))
        return self.text(cleaned, secrets)

    def headers_of(self, headers: Iterable[tuple[str, str]], secrets: Sequence[str]) -> dict[str, list[str]]:
        """Headers as vcrpy stores them (name -> values), secret ones dropped."""
        out: dict[str, list[str]] = {}
        for name, value in headers:
            if name.lower() in self.headers:
                continue
            out.setdefault(name, []).append(self.text(value, secrets))
        return out

    def text(self, text: str, secrets: Sequence[str]) -> str:
        """Replace every secret value and well-known key shape in `text`."""
        return scrub_secrets(text, secrets, replacement=REDACTED)

    def body(self, body: bytes, secrets: Sequence[str]) -> bytes:
        """Scrub a body; binary bodies are only searched for the exact secret bytes."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            for secret in secrets:
                body = body.replace(secret.encode(), REDACTED.encode())
            return body
        return self.text(text, secrets).encode("utf-8")


def normalize_url(url: str, drop_query: frozenset[str]) -> str:
    """Scheme, host, port, path and sorted query (minus secret parameters), for matching."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    host = (parts.hostname or "").lower()
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in drop_query)
    return f"{scheme}://{host}:{port}{parts.path or '/'}?{urlencode(query)}"


def normalize_body(body: bytes | str | None) -> str:
    """JSON bodies canonicalized (key order and whitespace insensitive); others as text."""
    if body is None:
        return ""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw:
        return ""
    try:
        # inline media (images, PDFs, audio as base64) compare by their hash
        return json.dumps(hash_media(json.loads(raw)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def pretty_body(body: str) -> list[str]:
    """Lines for a readable diff: indented JSON when the body is JSON."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return body.splitlines() or [body]
    return json.dumps(parsed, sort_keys=True, indent=2, ensure_ascii=False).splitlines()


def header_pairs(headers: Mapping[str, Sequence[str] | str]) -> list[tuple[str, str]]:
    """vcrpy's `{name: [values]}` (or `{name: value}`) as pairs."""
    pairs: list[tuple[str, str]] = []
    for name, values in headers.items():
        if isinstance(values, str):
            pairs.append((name, values))
        else:
            pairs.extend((name, v) for v in values)
    return pairs
