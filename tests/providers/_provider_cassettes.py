"""A small loader for the real recorded cassettes in `tests/fixtures/real_cassettes/`.

Two formats: stock vcrpy YAML (`body.string`, possibly `!!binary` gzip with its
`Content-Encoding` header kept) and pydantic-ai's serializer, which stores JSON bodies as a
`parsed_body` YAML mapping (re-dumped to JSON here, as its own deserializer does).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "real_cassettes"
"""Real recorded traffic, copied into the repository with its license notes (see INDEX.md there)."""


@dataclass(frozen=True)
class Interaction:
    uri: str
    request_body: dict[str, Any] | None
    status: int
    headers: dict[str, str]
    body: bytes
    """The response body as sent on the wire (still gzip-compressed when the header says so)."""

    @property
    def streaming(self) -> bool:
        kind = self.headers.get("content-type", "")
        return "event-stream" in kind or "streamGenerateContent" in self.uri or bool((self.request_body or {}).get("stream"))

    def text(self) -> str:
        raw = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        return raw.decode()


def _headers(raw: dict[str, list[str]] | None) -> dict[str, str]:
    return {k.lower(): v[0] if isinstance(v, list) else str(v) for k, v in (raw or {}).items()}


def _request_body(request: dict[str, Any]) -> dict[str, Any] | None:
    if "parsed_body" in request:
        return request["parsed_body"]
    body = request.get("body")
    if isinstance(body, bytes):
        body = body.decode()
    if isinstance(body, str) and body:
        return json.loads(body)
    return None


def load(path: Path) -> list[Interaction]:
    """Every interaction of one cassette file."""
    data = yaml.load(path.read_text(), Loader=yaml.SafeLoader)  # !!binary -> bytes
    assert data["version"] == 1
    out: list[Interaction] = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        headers = _headers(response.get("headers"))
        if "parsed_body" in response:
            body = json.dumps(response["parsed_body"]).encode()
            headers.pop("content-encoding", None)  # re-serialised: no longer compressed
        else:
            raw = response["body"]["string"]
            body = raw if isinstance(raw, bytes) else raw.encode()
        out.append(Interaction(request["uri"], _request_body(request), response["status"]["code"], headers, body))
    return out


def all_cassettes() -> list[Path]:
    return sorted(CASSETTES.rglob("*.yaml")) if CASSETTES.is_dir() else []
